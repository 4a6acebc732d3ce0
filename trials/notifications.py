"""Notifications about trials: results ready (SME e-mail, operator webhook
``trial.collected``) and data released to a university (SME e-mail, operator webhook
``dataset.released``). Queued in the transaction that records the change."""

from __future__ import annotations

from django.utils.translation import gettext as _

from bookings.notifications import sme_recipients
from core import outbox
from core.notify import bilingual

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
        return (f"[Testbed] {_('Trial results ready')}: {booking.equipment.name}",
                "\n".join([_("The results of your trial have been collected."), "",
                           f"{_('Trial')}: #{trial.pk}",
                           f"{_('Equipment')}: {booking.equipment.name}",
                           f"{_('Measurements')}: {trial.measurement_count}",
                           f"{_('Metrics')}: {metrics}"]))

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
        return (f"[Testbed] {_('Trial data released')}: {agreement.university.name}",
                "\n".join([
                    _("Data of your trial was released under the sharing agreement you "
                      "consented to."), "",
                    f"{_('Trial')}: #{trial.pk}",
                    f"{_('University')}: {agreement.university.name}",
                    f"{_('Anonymised')}: {_('yes') if agreement.anonymize else _('no')}",
                    f"{_('Licence')}: {agreement.license}",
                    f"sha256: {release.sha256}"]))

    _email_sme(trial, "dataset.released", key, render)
    outbox.queue_webhooks(
        organization_id=agreement.operator_id, event_type="dataset.released", dedupe_key=key,
        data={"release": release.pk, "trial": trial.pk, "agreement": agreement.pk,
              "university": agreement.university.slug, "sha256": release.sha256,
              "rows": release.row_count})
