"""Notifications about trials: results ready (SME e-mail, operator webhook
``trial.collected``) and data released to a university (SME e-mail, operator webhook
``dataset.released``). Queued in the transaction that records the change."""

from __future__ import annotations

from django.utils.translation import gettext as _

from bookings.notifications import sme_recipients
from core import outbox
from core.notify import bilingual, line, subject_line

from .models import DatasetRelease, Trial


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
                           line(_("Metrics"), metrics)]))

    _email_sme(trial, "trial.collected", key, render)
    outbox.queue_webhooks(
        organization_id=booking.equipment.hub.operator_id, event_type="trial.collected",
        dedupe_key=key,
        data={"trial": trial.pk, "booking": booking.pk, "equipment": booking.equipment_id,
              "measurements": trial.measurement_count, "summary": trial.summary})


def dataset_released(release: DatasetRelease) -> None:
    trial, agreement = release.trial, release.agreement
    key = f"dataset-released:{release.pk}"

    def render() -> tuple[str, str]:
        return (subject_line(_("Trial data released"), agreement.university.name),
                "\n".join([
                    _("Data of your trial was released under the sharing agreement you "
                      "consented to."), "",
                    line(_("Trial"), f"#{trial.pk}"),
                    line(_("University"), agreement.university.name),
                    line(_("Anonymised"), _('yes') if agreement.anonymize else _('no')),
                    line(_("Licence"), agreement.license),
                    f"sha256: {release.sha256}"]))

    _email_sme(trial, "dataset.released", key, render)
    outbox.queue_webhooks(
        organization_id=agreement.operator_id, event_type="dataset.released", dedupe_key=key,
        data={"release": release.pk, "trial": trial.pk, "agreement": agreement.pk,
              "university": agreement.university.slug, "sha256": release.sha256,
              "rows": release.row_count})
