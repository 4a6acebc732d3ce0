"""The operator's moves on one booking: approve, reject (with a reason), check in,
complete, no-show. Each parses the form, makes one service call and goes back to the page
it was sent from. A refusal is shown in the service's own words; a second submit of a move
already made (a double tap, a second tablet) says so and changes nothing."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings import services
from bookings.models import Booking
from core.errors import DomainError, NotFound, error_text

from ..access import operator_required
from ..forms_floor import ApproveForm, FloorActionForm, RejectForm
from .common import back_to, operator_booking
from .pages import render_booking

S = Booking.Status


def _act(request, pk: int, *, service: Callable, form_class, to: str, form_name: str, done: str):
    booking = operator_booking(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        # Refused at its field (a rejection without a reason): nothing is changed.
        return render_booking(request, booking, **{form_name: form})
    label = booking.get_status_display()
    if booking.status == to:
        messages.info(
            request,
            _("Booking #%(id)s is already %(status)s; nothing changed.")
            % {"id": booking.pk, "status": label.lower()},
        )
    else:
        try:
            service(
                booking_id=booking.pk,
                organization=request.organization,
                reason=form.cleaned_data["reason"],
                by_user=request.user,
            )
        except NotFound:
            raise Http404("No such booking.") from None
        except DomainError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, done % {"id": booking.pk})
    return redirect(back_to(request, reverse("console:booking", args=[booking.pk])))


@operator_required
@require_POST
def approve(request, pk: int):
    return _act(
        request,
        pk,
        service=services.approve_booking,
        form_class=ApproveForm,
        to=S.CONFIRMED,
        form_name="approve_form",
        done=_("Booking #%(id)s is approved; the SME is being told."),
    )


@operator_required
@require_POST
def reject(request, pk: int):
    return _act(
        request,
        pk,
        service=services.reject_booking,
        form_class=RejectForm,
        to=S.REJECTED,
        form_name="reject_form",
        done=_("Booking #%(id)s is rejected; the SME is being told why."),
    )


@operator_required
@require_POST
def check_in(request, pk: int):
    return _act(
        request,
        pk,
        service=services.check_in_booking,
        form_class=FloorActionForm,
        to=S.CHECKED_IN,
        form_name="action_form",
        done=_("Booking #%(id)s is checked in."),
    )


@operator_required
@require_POST
def complete(request, pk: int):
    return _act(
        request,
        pk,
        service=services.complete_booking,
        form_class=FloorActionForm,
        to=S.COMPLETED,
        form_name="action_form",
        done=_("Booking #%(id)s is completed; its results are being collected."),
    )


@operator_required
@require_POST
def no_show(request, pk: int):
    return _act(
        request,
        pk,
        service=services.mark_no_show_by_operator,
        form_class=FloorActionForm,
        to=S.NO_SHOW,
        form_name="action_form",
        done=_("Booking #%(id)s is marked as a no-show; the rest of its slot is free again."),
    )
