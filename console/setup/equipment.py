"""Equipment of the operator's hubs: the list, the edit page (through
``equipment.services.update_equipment``) with a preview of the bookings a status change
cancels, and "test connection" of the saved result source."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import DomainError, ValidationFailed, error_text, valid_id
from core.forms import add_errors
from equipment import selectors, services
from trials.selectors import check_result_source

from ..access import operator_required
from ..forms_setup import (
    POLICY_FIELDS,
    SOURCE_FIELDS,
    TEXT_FIELDS,
    EquipmentForm,
    source_violations,
)

CONFIRM = "confirm_cancellations"


def _equipment(request, pk: int):
    """The operator's equipment; anyone else's (or none) is a 404."""
    key = valid_id(pk)
    found = (
        selectors.equipment_operated_by(request.organization).filter(pk=key).first()
        if key
        else None
    )
    if found is None:
        raise Http404(_("No such equipment."))
    return found


@operator_required
def equipment_list(request):
    return render(
        request,
        "console/setup/equipment_list.html",
        {
            "equipment": selectors.equipment_operated_by(request.organization).order_by(
                "hub__name", "name", "pk"
            ),
        },
    )


def _page(request, equipment, form, *, check=None, check_error="", status=200):
    has_secret = bool(equipment.result_source_secret)
    source = [form[n] for n in SOURCE_FIELDS] + ([form["clear_secret"]] if has_secret else [])
    sections = [
        (_("General"), [form[n] for n in (*TEXT_FIELDS, "status", "hourly_rate")]),
        (_("Booking policy"), [form[n] for n in POLICY_FIELDS]),
        (_("Result source"), source),
    ]
    return render(
        request,
        "console/setup/equipment_edit.html",
        {
            "equipment": equipment,
            "form": form,
            "sections": sections,
            "has_secret": has_secret,
            "check": check,
            "check_error": check_error,
        },
        status=status,
    )


@operator_required
def equipment_edit(request, pk: int):
    """GET: the form. POST: save through the service; a status change that would cancel
    bookings first shows them (the service's own query) and saves only when confirmed."""
    equipment = _equipment(request, pk)
    if request.method != "POST":
        return _page(request, equipment, EquipmentForm(instance=equipment))
    form = EquipmentForm(request.POST, instance=equipment)
    if not form.is_valid():
        return _page(request, equipment, form, status=400)
    if form.wants_status_change() and CONFIRM not in request.POST:
        bookings = selectors.bookings_cancelled_by_status(
            equipment=equipment, new_status=form.cleaned_data["status"]
        )
        if bookings:
            return render(
                request,
                "console/setup/equipment_confirm.html",
                {
                    "equipment": equipment,
                    "bookings": bookings,
                    "repost": form.repost(),
                    "confirm_name": CONFIRM,
                    "new_status": dict(form.fields["status"].choices)[form.cleaned_data["status"]],
                },
            )
    data = form.service_data()
    if not data:
        messages.info(request, _("Nothing changed."))
        return redirect("console:equipment-edit", pk=equipment.pk)
    try:
        saved = services.update_equipment(
            equipment=equipment, by=request.organization, by_user=request.user, data=data
        )
    except ValidationFailed as exc:
        add_errors(form, source_violations(exc))
        return _page(request, equipment, form, status=400)
    except DomainError as exc:
        add_errors(form, exc)
        return _page(request, equipment, form, status=400)
    messages.success(request, _("%(name)s is saved.") % {"name": saved.name})
    if saved.cancelled_bookings:
        messages.warning(
            request,
            ngettext(
                "Cancelled booking %(ids)s; its SME is being told.",
                "Cancelled bookings %(ids)s; their SMEs are being told.",
                len(saved.cancelled_bookings),
            )
            % {"ids": ", ".join(f"#{pk}" for pk in saved.cancelled_bookings)},
        )
    return redirect("console:equipment-edit", pk=saved.pk)


@operator_required
@require_POST
def equipment_test(request, pk: int):
    """ "Test connection": connect with the saved settings, read a sample, say what came
    back. Changes nothing."""
    equipment = _equipment(request, pk)
    try:
        check = check_result_source(equipment)
    except DomainError as exc:
        return _page(request, equipment, EquipmentForm(instance=equipment),
                     check_error=error_text(exc))
    return _page(request, equipment, EquipmentForm(instance=equipment), check=check)
