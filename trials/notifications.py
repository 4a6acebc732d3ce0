"""Notifications about trials: results ready (SME e-mail, operator webhook
``trial.collected``), data released to a university (SME e-mail, operator webhook
``dataset.released``), an agreement's terms changed (SME admins' e-mail) and a release
whose delivery failed for good (operator and staff e-mail). Queued in the transaction that
records the change."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.notifications import sme_recipients
from core import events, outbox
from core.notify import audiences, bilingual, line, link, page_url, subject_line
from organizations.selectors import admin_recipients, operator_recipients, staff_recipients

from . import packages
from .models import AgreementVersion, DatasetRelease, SharingAgreement, Trial

# The event types trials announce to operators' webhook endpoints.
TRIAL_COLLECTED = events.register(
    "trial.collected", gettext_lazy("A trial's results were collected from the equipment."))
DATASET_RELEASED = events.register(
    "dataset.released",
    gettext_lazy("A trial's data package was delivered to a university under an agreement."))


def _email_sme(trial: Trial, event_type: str, key: str, render) -> None:
    subject, body = bilingual(render)
    for address in sme_recipients(trial.booking):
        outbox.queue_email(event_type=event_type, dedupe_key=key, to=address,
                           subject=subject, body=body)


def trial_collected(trial: Trial) -> None:
    booking = trial.booking
    key = f"trial-collected:{trial.pk}"

    def render() -> tuple[str, str]:
        metrics = ", ".join(sorted(trial.summary)) or "—"
        return (subject_line(_("Trial results ready"), booking.equipment.name),
                "\n".join([_("The results of your trial have been collected."), "",
                           line(_("Trial"), f"#{trial.pk}"),
                           line(_("Equipment"), booking.equipment.name),
                           line(_("Measurements"), trial.measurement_count),
                           line(_("Metrics"), metrics),
                           *link(page_url("trials:detail", trial.pk))]))

    _email_sme(trial, TRIAL_COLLECTED, key, render)
    outbox.queue_webhooks(
        organization_id=booking.equipment.hub.operator_id, event_type=TRIAL_COLLECTED,
        dedupe_key=key,
        data={"trial": trial.pk, "booking": booking.pk, "equipment": booking.equipment_id,
              "measurements": trial.measurement_count, "summary": trial.summary})


def dataset_released(release: DatasetRelease) -> None:
    trial, agreement, agreed = release.trial, release.agreement, packages.terms_of(release)
    recipient = release.recipient  # the university consented to, not the agreement's now
    key = f"dataset-released:{release.pk}"

    def render() -> tuple[str, str]:
        return (subject_line(_("Trial data released"), recipient.name),
                "\n".join([
                    _("Data of your trial was released under the sharing agreement you "
                      "consented to."), "",
                    line(_("Trial"), f"#{trial.pk}"),
                    line(_("University"), recipient.name),
                    line(_("Anonymised"), _('yes') if agreed["anonymize"] else _('no')),
                    line(_("Licence"), agreed["license"]),
                    f"sha256: {release.sha256}",
                    *link(page_url("trials:detail", trial.pk))]))

    _email_sme(trial, DATASET_RELEASED, key, render)
    outbox.queue_webhooks(
        organization_id=agreement.operator_id, event_type=DATASET_RELEASED, dedupe_key=key,
        data={"release": release.pk, "trial": trial.pk, "agreement": agreement.pk,
              "university": recipient.slug, "sha256": release.sha256,
              "rows": release.row_count})


def agreement_terms_changed(*, agreement: SharingAgreement, version: AgreementVersion,
                            organization_id: int) -> None:
    """An SME that consented under an earlier version is asked to consent to the new terms
    (nothing more is released under terms it did not consent to)."""
    key = f"agreement-terms:{agreement.pk}:v{version.number}:{organization_id}"
    shown = version.terms

    def render() -> tuple[str, str]:
        return (subject_line(_("The terms of a data-sharing agreement changed"),
                             agreement.university.name),
                "\n".join([
                    _("The hub operator changed the terms of a data-sharing agreement you "
                      "consented to. Nothing of your trials is released under the new terms "
                      "until you consent to them; open the trial's page in the portal to "
                      "read them and decide."), "",
                    line(_("Agreement"), str(agreement)),
                    line(_("University"), agreement.university.name),
                    line(_("Version"), version.number),
                    line(_("Anonymised"), _("yes") if shown["anonymize"] else _("no")),
                    line(_("Timestamps shifted"),
                         _("yes") if shown["shift_timestamps"] else _("no")),
                    line(_("Embargo (days)"), shown["embargo_days"]),
                    line(_("Licence"), shown["license"]),
                    *link(page_url("trials:list"))]))

    subject, body = bilingual(render)
    for address in admin_recipients(organization_id):
        outbox.queue_email(event_type="agreement.terms_changed", dedupe_key=key, to=address,
                           subject=subject, body=body)


def release_failed(release: DatasetRelease, *, error: str, attempts: int,
                   at: datetime) -> None:
    """After the last delivery attempt (``at``): the hub operator's admins and operators,
    and platform staff, are told once (per run of attempts: a staff retry that fails again
    tells again)."""
    agreement, recipient = release.agreement, release.recipient
    key = f"release-failed:{release.pk}:{at:%Y%m%d%H%M%S%f}"

    def render(url: str) -> tuple[str, str]:
        return (subject_line(_("Dataset delivery failed"), recipient.name),
                "\n".join([
                    _("A dataset release could not be delivered to the university's endpoint "
                      "after the last attempt. Platform staff can retry it in the admin "
                      "console once the endpoint works."), "",
                    line(_("Release"), f"#{release.pk}"),
                    line(_("Trial"), f"#{release.trial_id}"),
                    line(_("University"), recipient.name),
                    line(_("Attempts"), attempts),
                    line(_("Last error"), error),
                    *link(url)]))

    for addresses, url in audiences(
            (operator_recipients(agreement.operator_id),
             page_url("console:trial", release.trial_id)),
            (staff_recipients(), page_url("admin:trials_datasetrelease_change", release.pk))):
        subject, body = bilingual(lambda url=url: render(url))
        for address in addresses:
            outbox.queue_email(event_type="dataset.delivery_failed", dedupe_key=key,
                               to=address, subject=subject, body=body)
