"""The operator's data-sharing agreements with universities: list, create, change (a
change of terms makes a new version), revoke; each with the consents given under it.
Writes through ``trials.sharing`` services."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, error_text, valid_id
from core.forms import add_errors
from equipment.selectors import hubs_operated_by
from organizations.selectors import universities
from trials import sharing
from trials.sharing.selectors import agreement_consents

from ..access import operator_required
from ..forms_setup import AgreementForm

SECRET_SESSION_KEY = "console_agreement_secret"


def _agreement(request, pk: int):
    key = valid_id(pk)
    found = (
        sharing.agreements_visible_to(request.organization).filter(pk=key).first() if key else None
    )
    if found is None:
        raise Http404(_("No such agreement."))
    return found


def _form(request, data=None, **kwargs) -> AgreementForm:
    return AgreementForm(
        data,
        hubs=hubs_operated_by(request.organization).order_by("name"),
        universities=universities(),
        **kwargs,
    )


@operator_required
def agreement_list(request):
    return render(
        request,
        "console/setup/agreement_list.html",
        {
            "agreements": sharing.agreements_visible_to(request.organization).order_by(
                "-created", "-pk"
            ),
        },
    )


@operator_required
def agreement_create(request):
    if request.method != "POST":
        return render(request, "console/setup/agreement_form.html", {"form": _form(request)})
    form = _form(request, request.POST)
    if form.is_valid():
        try:
            agreement = sharing.create_agreement(
                operator=request.organization, **form.create_kwargs()
            )
        except DomainError as exc:
            add_errors(form, exc)
        else:
            # Shown once, on the next page (and then forgotten).
            request.session[SECRET_SESSION_KEY] = [agreement.pk, agreement.signing_secret]
            messages.success(request, _("The agreement is in force."))
            return redirect("console:agreement", pk=agreement.pk)
    return render(request, "console/setup/agreement_form.html", {"form": form}, status=400)


def _detail(request, agreement, form, status=200):
    secret = None
    held = request.session.pop(SECRET_SESSION_KEY, None)
    if held and held[0] == agreement.pk:
        secret = held[1]
    return render(
        request,
        "console/setup/agreement_detail.html",
        {
            "agreement": agreement,
            "form": form,
            "secret": secret,
            "versions": agreement.versions.order_by("-number"),
            "consents": agreement_consents(agreement),
        },
        status=status,
    )


@operator_required
def agreement_detail(request, pk: int):
    """The agreement, its consents, and (POST) a change through ``update_agreement``."""
    agreement = _agreement(request, pk)
    if request.method != "POST":
        return _detail(
            request, agreement, _form(request, initial=AgreementForm.initial_for(agreement))
        )
    form = _form(request, request.POST)
    if form.is_valid():
        before = agreement.version
        try:
            saved = sharing.update_agreement(
                agreement=agreement, by=request.organization, **form.update_kwargs()
            )
        except DomainError as exc:
            add_errors(form, exc)
        else:
            if saved.version != before:
                messages.success(
                    request,
                    _(
                        "Saved as version %(version)d of the terms. SMEs that consented to an "
                        "earlier version are asked to consent again."
                    )
                    % {"version": saved.version},
                )
            else:
                messages.success(request, _("The agreement is saved."))
            return redirect("console:agreement", pk=saved.pk)
    return _detail(request, agreement, form, status=400)


@operator_required
@require_POST
def agreement_revoke(request, pk: int):
    agreement = _agreement(request, pk)
    try:
        sharing.revoke_agreement(agreement=agreement, by=request.organization)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request, _("The agreement is revoked; releases not yet delivered are withdrawn.")
        )
    return redirect("console:agreement", pk=agreement.pk)
