"""Consent to share a trial's results with a partner university: the terms of every
agreement that covers the trial, stated before the SME agrees; grant and revoke. When an
agreement's terms changed after the SME consented, the page says so, shows the new terms
and asks for consent to them. Who may decide is the sharing service's rule
(``sharing.may_consent``); people without the right see the terms and no buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import DomainError, error_text
from organizations.models import Organization
from organizations.portal import not_found_as_404, sme_required

from .. import sharing
from ..errors import AGREEMENT_NOT_APPLICABLE
from ..forms import ConsentForm, StandingConsentForm
from ..models import Consent, DatasetRelease, SharingAgreement, StandingConsent, Trial
from ..packages import LICENSES
from ..selectors import trial_for
from ..terms import EMBARGO


@dataclass(frozen=True)
class Term:
    topic: str
    text: str
    link: str = ""


@dataclass(frozen=True)
class AgreementPanel:
    agreement: SharingAgreement
    terms: list[Term]
    consent: Consent | None  # the active one
    release: DatasetRelease | None
    standing: StandingConsent | None  # the SME's active standing consent to the agreement
    # The terms consented to, when the agreement's terms changed since (else empty).
    consented_terms: list[Term]
    standing_outdated: bool  # the standing consent is under an earlier version
    release_state: str  # the release's state in words, for the SME


def terms(agreement: SharingAgreement, trial: Trial, shown: dict | None = None) -> list[Term]:
    """What the SME agrees to, in plain words: the agreement's current terms, or ``shown``
    (the terms of one version, as stored)."""
    a = agreement
    t = shown or a.terms()
    embargo_days = t["embargo_days"]
    release_on = trial.booking.end + timedelta(days=embargo_days)
    when = formats.date_format(timezone.localtime(release_on), "DATE_FORMAT")
    licence_title, licence_url = LICENSES.get(t["license"], (t["license"], ""))
    university = (a.university if t["university"] == a.university_id
                  else Organization.objects.filter(pk=t["university"]).first())
    out = [
        Term(_("Recipient"), _("%(university)s, under an agreement with %(operator)s.")
             % {"university": university.name if university else "—",
                "operator": a.operator.name}),
        Term(_("What is shared"),
             _("Every measurement of this trial and its per-metric summary, with the "
               "equipment's name, category and hub.")),
        Term(_("Embargo"),
             ngettext("Released no earlier than %(days)d day after the trial ended "
                      "(%(date)s).",
                      "Released no earlier than %(days)d days after the trial ended "
                      "(%(date)s).", embargo_days) % {"days": embargo_days, "date": when}
             if embargo_days else _("No embargo: released as soon as you consent.")),
        Term(_("Anonymisation"),
             _("Your organisation's name and the trial plan are removed; the trial is named "
               "by a pseudonym.") if t["anonymize"] else
             _("Not anonymised: your organisation's name and the trial plan are included.")),
        Term(_("Timestamps"),
             _("Shifted: times are given as seconds from the trial's start, without dates.")
             if t["shift_timestamps"] else
             _("Not shifted: readings keep their calendar date and time.")),
        Term(_("Licence"), f"{licence_title} ({t['license']})", licence_url),
        Term(_("Revoking"),
             _("You can revoke your consent at any time. Data already delivered stays with "
               "the university; nothing more is sent.")),
    ]
    if shown is None and a.valid_until:
        out.append(Term(_("Agreement valid until"), formats.date_format(
            timezone.localtime(a.valid_until), "DATE_FORMAT")))
    return out


def release_state(release: DatasetRelease | None) -> str:
    """The release's state as the SME should read it: never 'pending' forever when
    delivery keeps failing."""
    if release is None:
        return ""
    status = DatasetRelease.Status
    if release.status == status.DELIVERED:
        return _("Delivered on %(date)s.") % {"date": formats.date_format(
            timezone.localtime(release.delivered_at), "DATE_FORMAT")}
    if release.status == status.FAILED:
        return _("Delivery failed: the university's system did not accept the data. The hub "
                 "operator and the platform team have been told and will retry.")
    if release.status == status.WITHDRAWN:
        return _("Withdrawn: nothing was sent.")
    if release.held in sharing.HELD_FOR_CONSENT:
        return _("Waiting for your consent to the agreement's new terms: nothing is sent "
                 "under terms you did not consent to.")
    if release.delayed:
        return _("Delivery delayed: the university's system has not accepted the data yet; "
                 "we keep trying.")
    if release.held == EMBARGO:
        return _("Pending: it goes out when the embargo ends.")
    return _("Pending.")


def panels(trial: Trial) -> list[AgreementPanel]:
    """The active agreements that cover ``trial`` (the sharing module decides what
    covers), each with its terms, the trial's active consent and release under it."""
    candidates = (sharing.active_agreements().filter(hub_id=trial.booking.equipment.hub_id)
                  .select_related("university", "operator").order_by("pk"))
    covering = [a for a in candidates if sharing.covers(a, trial)]
    if not covering:
        return []
    consents = {c.agreement_id: c for c in trial.consents.filter(revoked_at__isnull=True)
                .select_related("version")}
    releases = {r.agreement_id: r for r in trial.releases.all()}
    standing = {s.agreement_id: s for s in StandingConsent.objects.filter(
        organization_id=trial.booking.organization_id, agreement__in=covering,
        revoked_at__isnull=True).select_related("version")}
    out = []
    for a in covering:
        consent, stands = consents.get(a.pk), standing.get(a.pk)
        outdated = consent is not None and consent.version.number != a.version
        out.append(AgreementPanel(
            a, terms(a, trial), consent, releases.get(a.pk), stands,
            consented_terms=terms(a, trial, consent.version.terms) if outdated else [],
            standing_outdated=stands is not None and stands.version.number != a.version,
            release_state=release_state(releases.get(a.pk))))
    return out


def rights(request, trial: Trial) -> dict:
    """What the acting person may decide on for this trial (the template shows buttons
    accordingly): a member consents only to a trial of their own, and only where the
    organisation allows it; revoking and standing consent are the administrator's."""
    return {
        "may_consent": sharing.may_consent(organization=request.organization,
                                           user=request.user, trial=trial),
        "may_revoke": sharing.may_revoke(organization=request.organization,
                                         user=request.user),
        "may_consent_standing": sharing.may_consent(organization=request.organization,
                                                    user=request.user, standing=True),
    }


def _back(trial_id: int):
    return redirect(reverse("trials:detail", args=[trial_id]) + "#sharing")


def _trial(request, pk: int) -> Trial:
    with not_found_as_404():
        return trial_for(request.organization, pk)


def _agreed(request, form_class) -> dict | None:
    """The form's data, or None with its errors as a message."""
    form = form_class(request.POST)
    if form.is_valid():
        return form.cleaned_data
    messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return None


def _outcome(request, trial: Trial, action, success: str):
    """Run ``action`` (a sharing service call returning a consent or standing consent);
    say its refusal or ``success`` as a message; back to the trial's sharing section."""
    try:
        decided = action()
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, success % {"university": decided.agreement.university.name})
    return _back(trial.pk)


@sme_required
@require_POST
def grant(request, pk: int):
    trial = _trial(request, pk)
    if (data := _agreed(request, ConsentForm)) is None:
        return _back(trial.pk)
    return _outcome(request, trial, lambda: sharing.grant_consent(
        trial=trial, agreement_id=data["agreement"], organization=request.organization,
        by_user=request.user),
        _("You consented to sharing this trial's results with %(university)s."))


@sme_required
@require_POST
def revoke(request, pk: int, consent_id: int):
    trial = _trial(request, pk)
    consent = (trial.consents.select_related("agreement__university")
               .filter(pk=consent_id).first())
    if consent is None:
        raise Http404("No such consent.")
    return _outcome(request, trial, lambda: sharing.revoke_consent(
        consent=consent, organization=request.organization,
        by_user=request.user),
        _("Consent revoked: nothing more of this trial goes to %(university)s."))


@sme_required
@require_POST
def grant_standing(request, pk: int):
    """Standing consent to an agreement that covers this trial: every covered trial of the
    SME without a decision of its own is shared from the next release run on."""
    trial = _trial(request, pk)
    if (data := _agreed(request, StandingConsentForm)) is None:
        return _back(trial.pk)
    agreement = next((p.agreement for p in panels(trial)
                      if p.agreement.pk == data["agreement"]), None)
    if agreement is None:
        messages.error(request, AGREEMENT_NOT_APPLICABLE.text())
        return _back(trial.pk)
    return _outcome(request, trial, lambda: sharing.set_standing_consent(
        organization=request.organization, agreement_id=agreement.pk,
        by_user=request.user),
        _("Standing consent given: the results of every trial of yours that this agreement "
          "covers will be shared with %(university)s, starting with the next release run."))


@sme_required
@require_POST
def revoke_standing(request, pk: int, agreement_id: int):
    trial = _trial(request, pk)
    agreement = SharingAgreement.objects.select_related("university").filter(
        pk=agreement_id).first()
    if agreement is None:
        raise Http404("No such standing consent.")
    try:
        stopped = sharing.revoke_standing_consent(organization=request.organization,
                                                  agreement_id=agreement_id,
                                                  by_user=request.user)
    except DomainError as exc:
        messages.error(request, error_text(exc))
        return _back(trial.pk)
    if not stopped:
        raise Http404("No such standing consent.")
    messages.success(request, _("Standing consent stopped: no more trials are shared with "
                                "%(university)s automatically. Consents already given stay "
                                "until you revoke them trial by trial.")
                     % {"university": agreement.university.name})
    return _back(trial.pk)
