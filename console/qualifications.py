"""The operator's queue of qualification requests: SME members ask to be qualified on
equipment of the operator's hubs; the operator grants (with an expiry, through
``equipment.services.grant_qualification_request``) or refuses with a reason. The
requester is e-mailed either way by the service."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound, ValidationFailed, error_text
from core.forms import add_errors
from equipment import services
from equipment.models import QualificationRequest

from .access import operator_required

PAGE = 20
DEFAULT_VALIDITY = timedelta(days=365)


class GrantForm(forms.Form):
    expires = forms.DateField(
        label=gettext_lazy("Valid until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("The last day (hub time). Empty: no expiry."),
        # The grant runs to the next midnight: the last date has none (OverflowError).
        validators=[MaxValueValidator(date.max - timedelta(days=1))],
    )
    reason = forms.CharField(
        label=gettext_lazy("Remark (optional)"),
        required=False,
        max_length=2000,
        widget=forms.TextInput(),
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=2000,
        widget=forms.TextInput(),
        help_text=gettext_lazy("The requester reads it in the e-mail."),
        error_messages={
            "required": gettext_lazy(
                "Say why the qualification is refused: the reason is e-mailed to the requester."
            )
        },
    )


def _end_of_day(day, tz_name: str) -> datetime:
    """The end of ``day`` in the hub's zone (the next midnight)."""
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz_name))


def _queue(request, *, forms_for: dict | None = None, status: int = 200):
    pending = services.qualification_requests_for_operator(request.organization)
    decided = request.GET.get("show") == "decided"
    items = (
        pending.exclude(status=QualificationRequest.Status.REQUESTED).order_by("-decided_at", "-pk")
        if decided
        else pending.filter(status=QualificationRequest.Status.REQUESTED).order_by("created", "pk")
    )
    page = Paginator(items, PAGE).get_page(request.GET.get("page"))
    rows = []
    for item in page.object_list:
        grant, refuse = (forms_for or {}).get(item.pk, (None, None))
        # "Valid until" is a day at the machine's hub: a year from its today.
        today = timezone.localdate(timezone=ZoneInfo(item.equipment.hub.timezone))
        rows.append(
            {
                "item": item,
                "grant_form": grant
                or GrantForm(initial={"expires": today + DEFAULT_VALIDITY}, prefix=f"g{item.pk}"),
                "refuse_form": refuse or RefuseForm(prefix=f"r{item.pk}"),
            }
        )
    return render(
        request,
        "console/qualifications/queue.html",
        {"page": page, "rows": rows, "decided": decided, "section": "console"},
        status=status,
    )


def _request_or_404(request, pk: int) -> QualificationRequest:
    item = services.qualification_requests_for_operator(request.organization).filter(pk=pk).first()
    if item is None:
        raise Http404("No such qualification request.")
    return item


@operator_required
def queue(request):
    return _queue(request)


@operator_required
@require_POST
def grant(request, pk: int):
    item = _request_or_404(request, pk)
    form = GrantForm(request.POST, prefix=f"g{pk}")
    if form.is_valid():
        day = form.cleaned_data["expires"]
        expires = _end_of_day(day, item.equipment.hub.timezone) if day else None
        try:
            services.grant_qualification_request(
                request_id=item.pk,
                organization=request.organization,
                expires=expires,
                by_user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except NotFound:
            raise Http404("No such qualification request.") from None
        except ValidationFailed as exc:
            add_errors(form, exc)
        except DomainError as exc:  # decided meanwhile: said at the top of the queue
            messages.error(request, error_text(exc))
            return redirect("console:qualifications")
        else:
            messages.success(
                request,
                _("%(email)s is qualified on %(equipment)s; they are being told.")
                % {"email": item.user.email, "equipment": item.equipment.name},
            )
            return redirect("console:qualifications")
    return _queue(request, forms_for={pk: (form, None)}, status=400)


@operator_required
@require_POST
def refuse(request, pk: int):
    item = _request_or_404(request, pk)
    form = RefuseForm(request.POST, prefix=f"r{pk}")
    if form.is_valid():
        try:
            services.refuse_qualification_request(
                request_id=item.pk,
                organization=request.organization,
                reason=form.cleaned_data["reason"],
                by_user=request.user,
            )
        except NotFound:
            raise Http404("No such qualification request.") from None
        except ValidationFailed as exc:
            add_errors(form, exc)
        except DomainError as exc:  # decided meanwhile: said at the top of the queue
            messages.error(request, error_text(exc))
            return redirect("console:qualifications")
        else:
            messages.success(
                request,
                _("The request of %(email)s is refused; they are being told why.")
                % {"email": item.user.email},
            )
            return redirect("console:qualifications")
    return _queue(request, forms_for={pk: (None, form)}, status=400)
