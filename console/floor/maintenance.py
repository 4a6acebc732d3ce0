"""Maintenance windows of the operator's equipment: the list, planning one in two steps
(the first POST previews the bookings the window will cancel — the very query the service
cancels by — and a POST with ``confirm`` saves it through the service) and removing one."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.errors import DomainError, error_text
from core.forms import add_errors
from equipment import services
from equipment.errors import MAINTENANCE_ALREADY_PLANNED
from equipment.models import Equipment
from equipment.selectors import (
    bookings_cancelled_by_unavailability,
    equipment_operated_by,
    maintenance_windows_for_operator,
)

from ..access import operator_required
from ..forms_floor import MaintenanceForm

CONFIRM, EDIT = "confirm", "edit"
LIST_LIMIT = 200


def _initial_equipment(request, equipment):
    try:
        return equipment.filter(pk=int(request.GET.get("equipment", ""))).first()
    except ValueError:
        return None


def _list_page(request, form, equipment, status: int = 200):
    windows = (
        maintenance_windows_for_operator(request.organization)
        .filter(end__gt=timezone.now())
        .order_by("equipment__hub__name", "equipment__name", "start", "pk")
    )
    return render(
        request,
        "console/floor/maintenance.html",
        {
            "form": form,
            "windows": windows[:LIST_LIMIT],
            "has_equipment": equipment.exists(),
        },
        status=status,
    )


@operator_required
def maintenance(request):
    organization = request.organization
    equipment = (
        equipment_operated_by(organization)
        .exclude(status=Equipment.Status.RETIRED)
        .order_by("hub__name", "name", "pk")
    )
    if request.method != "POST":
        form = MaintenanceForm(
            equipment=equipment, initial={"equipment": _initial_equipment(request, equipment)}
        )
        return _list_page(request, form, equipment)
    form = MaintenanceForm(request.POST, equipment=equipment)
    if not form.is_valid() or EDIT in request.POST:
        return _list_page(request, form, equipment)
    d = form.cleaned_data
    try:
        if CONFIRM not in request.POST:
            cancelled = bookings_cancelled_by_unavailability(
                equipment=d["equipment"], start=d["start"], end=d["end"], maintenance=True
            )
            repost = [
                (name, value)
                for name, value in request.POST.items()
                if name not in ("csrfmiddlewaretoken", CONFIRM, EDIT)
            ]
            return render(
                request,
                "console/floor/maintenance_confirm.html",
                {
                    "form": form,
                    "window": d,
                    "hub": d["equipment"].hub,
                    "bookings": cancelled,
                    "repost": repost,
                },
            )
        window = services.create_maintenance_window(
            equipment=d["equipment"],
            by=organization,
            by_user=request.user,
            start=d["start"],
            end=d["end"],
            reason=d["reason"],
        )
    except DomainError as exc:  # over a trial in progress, invalid period, busy
        if exc.code == MAINTENANCE_ALREADY_PLANNED:  # a double submit: the first planned it
            messages.info(request, exc.message)
            return redirect("console:maintenance")
        add_errors(form, exc)
        return _list_page(request, form, equipment)
    messages.success(
        request, _("Maintenance window planned for %(name)s.") % {"name": d["equipment"].name}
    )
    if window.cancelled_bookings:
        messages.warning(
            request,
            ngettext(
                "Cancelled booking %(ids)s; its SME is being told.",
                "Cancelled bookings %(ids)s; their SMEs are being told.",
                len(window.cancelled_bookings),
            )
            % {"ids": ", ".join(f"#{pk}" for pk in window.cancelled_bookings)},
        )
    return redirect("console:maintenance")


@operator_required
@require_POST
def maintenance_delete(request, pk: int):
    window = maintenance_windows_for_operator(request.organization).filter(pk=pk).first()
    if window is None:
        raise Http404("No such maintenance window.")
    try:
        services.delete_maintenance_window(window=window, by=request.organization)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(
            request,
            _("Maintenance window removed: %(name)s is bookable again in that period.")
            % {"name": window.equipment.name},
        )
    return redirect("console:maintenance")
