"""Portal pages for booking: the catalog search (with free time), an equipment's week,
the booking form, the SME's bookings with their history, cancellation and .ics export.

Views parse, make one service or selector call and render; the rules are the booking
service's, its refusals shown in plain words next to the fields they concern."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import DomainError, NotFound, ValidationFailed, error_text, valid_id
from core.files import file_response
from core.forms import LOCAL_INPUT, add_errors, parse_local
from equipment import selectors as catalog_selectors
from equipment import services as equipment_services
from equipment import wording
from equipment.models import Equipment
from organizations.portal import (
    member_required,
    not_found_as_404,
    organization_of,
    sme_required,
)
from organizations.selectors import members_of
from pricing import selectors as pricing_selectors
from pricing import services as pricing
from pricing.money import ZERO, hours_between
from pricing.views import charges_context, line_rows, usable_grants

from .. import policy, services
from ..errors import QUALIFICATION_REQUIRED
from ..feeds.ics import booking_ics
from ..forms import (
    AttachmentForm,
    BookingForm,
    CancelForm,
    PeriodForm,
    QualificationRequestForm,
)
from ..models import Booking, BookingAttachment
from ..reports.selectors import usage
from ..search import encode_cursor
from ..selectors import booking_for, bookings_visible_to, free_intervals, own_active_between
from .finder import CURSOR_PARAM, RANK_PARAM, FreeSearchForm, free_cards, free_page
from .week import DAYS, MAX_WEEKS, WEEK_CHOICES, build_week, free_range, week_bounds

CATALOG_PAGE = 24
BOOKINGS_PAGE = 20


def catalog(request):  # public: anonymous visitors browse the catalogue too
    request.organization = organization_of(request)  # None for anonymous visitors
    form = FreeSearchForm(request.GET or None)
    equipment = catalog_selectors.equipment_list().exclude(status=Equipment.Status.RETIRED)
    data = {}
    if form.is_bound:
        form.is_valid()  # errors are shown; the filters that are valid still apply
        data = form.cleaned_data
    if data.get("q"):
        equipment = catalog_selectors.search_equipment(equipment, data["q"])
    for field in ("category", "hub"):
        if data.get(field):
            equipment = equipment.filter(**{field: data[field]})
    if data.get("capability"):
        equipment = equipment.filter(capabilities=data["capability"]).distinct()
    context = {"form": form, "window": form.window, "query": _query_without_page(request)}
    if form.window:
        free = free_page(equipment, form, cursor=request.GET.get(CURSOR_PARAM),
                         organization=request.organization)
        params = request.GET.copy()
        params.pop(CURSOR_PARAM, None)
        params.pop(RANK_PARAM, None)
        first = _rank(request.GET.get(RANK_PARAM)) if CURSOR_PARAM in request.GET else 1
        last = first + len(free.matches) - 1
        context |= {"free": free, "cards": free_cards(free), "shown": (first, last),
                    "can_book": _can_book(request.organization),
                    "next_page": _with_cursor(params, free.next_after, rank=last + 1),
                    # Past the first page: a link back to it (the cursor only goes forward).
                    "first_page": params.urlencode() if CURSOR_PARAM in request.GET else None}
    else:
        context["page"] = Paginator(equipment, CATALOG_PAGE).get_page(request.GET.get("page"))
    return render(request, "bookings/catalog.html", context)


def _can_book(organization) -> bool:
    """May the viewer open the booking form (anonymous visitors: it asks them to log in)?
    Flagship firms and universities do not book."""
    return organization is None or organization.kind not in (
        organization.Kind.FLAGSHIP, organization.Kind.UNIVERSITY)


def _rank(value: str | None) -> int:
    """The position of a free-time page's first result (``?n=``, carried by the "more" link
    for the heading's "showing 25–48"); 1 when missing or not a number."""
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


def _with_cursor(params, after: int | None, *, rank: int) -> str | None:
    """The catalog's query for the free-time page after ``after`` (None: no such page),
    whose first result is the ``rank``-th."""
    if after is None:
        return None
    params = params.copy()
    params[CURSOR_PARAM] = encode_cursor(after)
    params[RANK_PARAM] = str(rank)
    return params.urlencode()


def _query_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _equipment_or_404(pk: int, *, capabilities: bool = True) -> Equipment:
    """``capabilities=False``: without the second query that loads them (pages that do not
    show them)."""
    equipment_list = catalog_selectors.equipment_list()
    if not capabilities:
        equipment_list = equipment_list.prefetch_related(None)
    equipment = equipment_list.filter(pk=pk).first()
    if equipment is None:
        raise Http404("No such equipment.")
    return equipment


def _first_day(value: str | None, today: date, last: date) -> date:
    """The first of the days asked for: today at the earliest, and no later than the last
    day that can be booked."""
    try:
        asked = date.fromisoformat(value) if value else today
    except ValueError:
        asked = today
    return min(max(asked, today), last)


def _weeks(value: str | None) -> int:
    """How many weeks to show at once (``?weeks=``): 1 to ``MAX_WEEKS``; one when the value
    is not a number, like a ``from`` that is not a date."""
    try:
        return min(max(int(value or 1), 1), MAX_WEEKS)
    except ValueError:
        return 1


def calendar(request, pk: int):  # public: booking a slot needs an account (``book``)
    request.organization = organization_of(request)  # None for anonymous visitors
    equipment = _equipment_or_404(pk, capabilities=False)
    tz = ZoneInfo(equipment.hub.timezone)
    now = timezone.now()
    today = now.astimezone(tz).date()
    last = (now + timedelta(days=equipment.booking_horizon)).astimezone(tz).date()
    first = _first_day(request.GET.get("from"), today, last)
    weeks = _weeks(request.GET.get("weeks"))
    start, end = week_bounds(first, tz, weeks)
    read_start, read_end = free_range(equipment, start, end)  # one query for all the weeks
    free = free_intervals(equipment=equipment, start=read_start, end=read_end,
                          organization=request.organization, now=now)
    organization = request.organization
    can_book = _can_book(organization)
    week = build_week(equipment=equipment, first_day=first, free=free, now=now, weeks=weeks,
                      own=own_active_between(organization, equipment=equipment, start=start,
                                              end=end),
                      book_url=reverse("bookings:book", args=[equipment.pk]) if can_book
                      else None,
                      booking_url=reverse("bookings:detail", args=[0]).replace("/0/", "/{}/"))
    shown = timedelta(days=DAYS * weeks)
    # Next: the days right after these, while they start by the last bookable day (never
    # overlapping these, never wholly past the horizon).
    context = {"equipment": equipment, "hub": equipment.hub, "week": week, "weeks": weeks,
               "week_choices": WEEK_CHOICES,
               "previous": max(first - shown, today) if first > today else None,
               "next": first + shown if first + shown <= last else None}
    return _render_part(request, "bookings/_week.html", "bookings/calendar.html", context)


def _render_part(request, part: str, page: str, context: dict):
    """The part an htmx request swaps in, or the whole page (a normal visit, or htmx
    restoring history)."""
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, part if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@sme_required
def book(request, pk: int):
    equipment = _equipment_or_404(pk)
    tz = ZoneInfo(equipment.hub.timezone)
    members = list(members_of(organization=request.organization))
    grants = usable_grants(request.organization)
    with timezone.override(tz):  # the form reads and shows wall-clock times of the hub
        initial = {"start": parse_local(request.GET.get("start")),
                   "end": parse_local(request.GET.get("end")),
                   "trial_lead": request.user.email,
                   "voucher_grant": request.GET.get("voucher_grant", ""),
                   "if_voucher_short": request.GET.get("if_voucher_short") or "sme_pays",
                   "quote": valid_id(request.GET.get("quote"))}
        data = request.POST if request.method == "POST" else None
        form = BookingForm(data, initial=initial, equipment=equipment, members=members,
                           grants=grants)
        refused_codes: set[str] = set()
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                booking = services.create_booking(
                    equipment_id=equipment.pk, organization=request.organization,
                    start=d["start"], end=d["end"], purpose=d["purpose"], by_user=request.user,
                    trial_lead_email=d["trial_lead"] or None, grant_id=form.grant_id,
                    shortfall=form.shortfall, quote_id=d.get("quote"))
            except DomainError as exc:  # broken rules, slot taken (409), busy, not an SME
                add_errors(form, exc)
                refused_codes = {v.code for v in getattr(exc, "violations", ())}
            else:
                messages.success(request, _(
                    "Booking requested: the hub operator will confirm it.")
                    if booking.status == Booking.Status.REQUESTED else _("Booking confirmed."))
                return redirect("bookings:detail", pk=booking.pk)
        return _render_part(request, "bookings/_booking_form.html", "bookings/book.html", {
            "equipment": equipment, "hub": equipment.hub, "form": form,
            "rules": wording.rules(equipment),
            "quote": _quote(equipment, form, request.organization),
            "qualification_refused": QUALIFICATION_REQUIRED in refused_codes})


@sme_required
def my_bookings(request):
    past = request.GET.get("when") == "past"
    now = timezone.now()
    bookings = bookings_visible_to(request.organization)
    # Upcoming: what is still to come and still on (active); everything else — ended, or
    # cancelled, rejected or a no-show whenever it was — is under "Past and cancelled".
    upcoming = Q(end__gt=now, status__in=Booking.ACTIVE)
    bookings = (bookings.exclude(upcoming).order_by("-start", "-pk") if past
                else bookings.filter(upcoming).order_by("start", "pk"))
    page = Paginator(bookings, BOOKINGS_PAGE).get_page(request.GET.get("page"))
    return render(request, "bookings/my_bookings.html", {
        "page": page, "past": past, "query": _query_without_page(request)})


def _own_booking(request, pk: int) -> Booking:
    with not_found_as_404():
        return booking_for(request.organization, pk)


def _history(booking: Booking) -> list[dict]:
    """The booking's status changes, each with who made it: a colleague by e-mail, the hub
    operator by organisation, or the system."""
    labels = dict(Booking.Status.choices)
    rows = []
    for event in booking.events.select_related("actor_user", "actor_organization"):
        if event.actor_organization_id == booking.organization_id and event.actor_user:
            by = event.actor_user.email
        elif event.actor_organization_id == booking.organization_id:
            by = booking.organization.name
        elif event.actor_organization is not None:
            by = _("%(name)s (hub operator)") % {"name": event.actor_organization.name}
        else:
            by = _("Testbed (automatic)")
        rows.append({"event": event, "from": labels.get(event.from_status, ""),
                     "to": labels.get(event.to_status, event.to_status), "by": by})
    return rows


def _detail_context(booking: Booking, *, reschedule_form=None, attachment_form=None) -> dict:
    tz = ZoneInfo(booking.equipment.hub.timezone)
    if reschedule_form is None:
        with timezone.override(tz):
            reschedule_form = PeriodForm(initial={
                "start": booking.start.astimezone(tz).replace(tzinfo=None),
                "end": booking.end.astimezone(tz).replace(tzinfo=None)},
                equipment=booking.equipment)
    return {
        "booking": booking, "history": _history(booking), "hub": booking.equipment.hub,
        "cancellable": (booking.status, Booking.Status.CANCELLED) in services.TRANSITIONS,
        "reschedulable": _reschedulable(booking), "reschedule_form": reschedule_form,
        "attachments": booking.attachments.all(),
        "attachable": booking.status in services.ATTACHABLE,
        "attachment_form": attachment_form or AttachmentForm(),
        "attachment_max": services.attachment_limits()[0],
        "cancel_form": CancelForm(), "usage": usage(booking),
        "charges": charges_context(booking.quote, booking.status) if booking.quote else None,
        "service_requests": list(booking.service_requests.all())}


def _reschedulable(booking: Booking) -> bool:
    """Whether to offer the move (the service decides)."""
    return (booking.status in services.RESCHEDULABLE and timezone.now() < booking.start
            and not (booking.status == Booking.Status.CONFIRMED
                     and booking.equipment.approval_required))


@sme_required
def booking_detail(request, pk: int):
    booking = _own_booking(request, pk)
    return render(request, "bookings/booking_detail.html", _detail_context(booking))


@sme_required
def cancel(request, pk: int):
    """GET: the confirmation step, stating the late-cancellation fee if one applies; POST:
    cancel."""
    booking = _own_booking(request, pk)

    def confirmation(form: CancelForm, status: int = 200):
        now = timezone.now()
        return render(request, "bookings/cancel.html", {
            "booking": booking, "hub": booking.equipment.hub, "form": form,
            "cancellable": (booking.status, Booking.Status.CANCELLED) in services.TRANSITIONS
            and now < booking.start,
            "fee": policy.late_cancellation_fee(price=booking.price, start=booking.start,
                                                now=now),
            "late_hours": policy.late_cancellation_hours()}, status=status)

    if request.method != "POST":
        return confirmation(CancelForm())
    form = CancelForm(request.POST)
    if not form.is_valid():  # the reason as given is refused: nothing is cancelled
        return confirmation(form, status=400)
    try:
        services.cancel_booking(booking_id=booking.pk, organization=request.organization,
                                reason=form.cleaned_data["reason"], by_user=request.user)
    except NotFound:
        raise Http404("No such booking.") from None
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, _("Booking #%(id)s is cancelled.") % {"id": booking.pk})
    return redirect("bookings:detail", pk=booking.pk)


@sme_required
@require_POST
def reschedule(request, pk: int):
    """Move the booking to the period the form gives (hub wall-clock times); a refusal is
    shown at its field on the booking page, nothing changed."""
    booking = _own_booking(request, pk)
    tz = ZoneInfo(booking.equipment.hub.timezone)
    with timezone.override(tz):
        form = PeriodForm(request.POST, equipment=booking.equipment)
        if form.is_valid():
            try:
                services.reschedule_booking(
                    booking_id=booking.pk, organization=request.organization,
                    start=form.cleaned_data["start"], end=form.cleaned_data["end"],
                    by_user=request.user)
            except NotFound:
                raise Http404("No such booking.") from None
            except DomainError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Booking #%(id)s is moved to the new period.")
                                 % {"id": booking.pk})
                return redirect("bookings:detail", pk=booking.pk)
        return render(request, "bookings/booking_detail.html",
                      _detail_context(booking, reschedule_form=form), status=400)


@sme_required
@require_POST
def attach(request, pk: int):
    booking = _own_booking(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment = services.attach_file(booking_id=booking.pk,
                                              organization=request.organization,
                                              upload=form.cleaned_data["file"],
                                              by_user=request.user)
        except NotFound:
            raise Http404("No such booking.") from None
        except DomainError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("%(name)s is attached.") % {"name": attachment.name})
            return redirect("bookings:detail", pk=booking.pk)
    return render(request, "bookings/booking_detail.html",
                  _detail_context(booking, attachment_form=form), status=400)


@member_required
def attachment_file(request, pk: int, attachment_pk: int):
    """An attachment, for the booking's SME and the hub's operator (anyone else: 404), as a
    download only: never rendered by the browser, whatever its bytes."""
    attachment = (BookingAttachment.objects.visible_to(request.organization)
                  .filter(pk=attachment_pk, booking_id=pk).first())
    if attachment is None:
        raise Http404("No such attachment.")
    return file_response(attachment.file, filename=attachment.name,
                         content_type="application/octet-stream", missing="No such attachment.")


@sme_required
def price(request, pk: int):
    """The booking form's price preview (htmx): the lines the booking service will store
    for the chosen period (the hub's rate card, or the estimate it comes from), split with
    the chosen voucher grant — pricing's own functions, nothing reckoned here."""
    equipment = _equipment_or_404(pk)
    with timezone.override(ZoneInfo(equipment.hub.timezone)):
        form = PeriodForm(request.GET, equipment=equipment)
        quote = _quote(equipment, form, request.organization, money=request.GET)
    return render(request, "bookings/_price.html", {"equipment": equipment, "quote": quote})


def _quote(equipment: Equipment, form, organization, money=None) -> dict | None:
    """The price preview of the period the form holds (bound or initial): lines with their
    voucher and own shares, totals, hours; None when it holds no valid period. Whatever
    else is wrong with the form (a purpose missing, a rule broken, the slot taken), the
    preview stays while its start and end parse. ``money``: the voucher grant, shortfall
    and estimate chosen (else the form's)."""
    if form.is_bound:
        form.is_valid()  # the errors are the form's to show; the period may still parse
        start, end = _parsed(form, "start"), _parsed(form, "end")
    else:
        tz = ZoneInfo(equipment.hub.timezone)
        start, end = (form.initial.get(k) for k in ("start", "end"))
        start = start.replace(tzinfo=tz) if start else None
        end = end.replace(tzinfo=tz) if end else None
    if not start or not end or end <= start:
        return None
    if money is None:
        money = form.data if form.is_bound else form.initial
    tz = ZoneInfo(equipment.hub.timezone)
    # "Get a quote" keeps the period chosen (hub wall-clock times, as the forms take them).
    period_query = urlencode({"start": start.astimezone(tz).strftime(LOCAL_INPUT),
                              "end": end.astimezone(tz).strftime(LOCAL_INPUT)})
    try:
        preview = _preview(equipment, organization, start, end,
                           grant_id=valid_id(money.get("voucher_grant")),
                           quote_id=valid_id(money.get("quote")))
    except ValidationFailed as exc:  # an item no longer on the card: no preview
        preview = {"refusal": error_text(exc)}
    preview["period_query"] = period_query
    return preview


def _parsed(form, name: str):
    """The form's ``name`` field as its field parses it (None: missing or not a time)."""
    value = form.cleaned_data.get(name) if hasattr(form, "cleaned_data") else None
    if value is None:
        try:
            value = form.fields[name].clean(form[name].data)
        except ValidationError:
            value = None
    return value


def _preview(equipment: Equipment, organization, start, end, *, grant_id, quote_id) -> dict:
    """What ``create_booking`` would price: an estimate's lines while it is honoured,
    else the rate card's; split with the grant when it may be used here (else the
    reason it may not)."""
    origin = None
    if quote_id:
        origin = pricing_selectors.quotes_visible_to(organization).filter(pk=quote_id).first()
    if origin is not None and pricing.honoured_estimate(
            origin, equipment=equipment, organization=organization, start=start, end=end,
            now=timezone.now()):
        lines = [pricing.LineDraft.of(line) for line in origin.lines.all()]
    else:
        origin = None
        lines = pricing.quote_lines(hub=equipment.hub, organization=organization,
                                    periods=[(equipment, start, end)])
    share = room = None
    refusal = ""
    if grant_id:
        grant = pricing_selectors.grants_visible_to(organization).filter(pk=grant_id).first()
        problem = (pricing.grant_refusal(grant, organization=organization, hub=equipment.hub,
                                         equipment=[equipment], start=start)
                   if grant is not None else None)
        if grant is None or problem is not None:
            refusal = problem.message if problem else ""
        else:
            share = grant.programme.subsidy_share
            room = pricing.voucher_room(grant, organization=organization, hub=equipment.hub,
                                        start=start)
    voucher_total, wanted = pricing.apply_split(lines, share=share, room=room)
    total = sum((line.amount for line in lines), ZERO)
    return {"rows": line_rows(lines), "price": total, "total": total,
            "voucher_total": voucher_total, "sme_total": total - voucher_total,
            "short": wanted - voucher_total, "refusal": refusal, "from_quote": origin,
            "hours": hours_between(start, end)}


@sme_required
def request_qualification(request, pk: int):
    """Ask the hub operator for a qualification on this equipment (or its category)."""
    equipment = _equipment_or_404(pk)
    form = QualificationRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            equipment_services.request_qualification(
                user=request.user, organization=request.organization,
                equipment_id=equipment.pk, note=form.cleaned_data["note"],
                whole_category=form.cleaned_data["whole_category"])
        except DomainError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _(
                "Your request is sent to the operator of %(hub)s; we e-mail you the answer.")
                % {"hub": equipment.hub.name})
            return redirect("bookings:qualifications")
    return render(request, "bookings/qualification_request.html", {
        "equipment": equipment, "hub": equipment.hub, "form": form,
        "next": _safe_next(request)}, status=400 if form.errors else 200)


def _safe_next(request) -> str:
    target = request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                         require_https=request.is_secure())
    return target if ok else ""


@sme_required
def qualifications(request):
    """The person's own qualification requests and their answers."""
    return render(request, "bookings/qualifications.html", {
        "requests": equipment_services.qualification_requests_of(request.user)})


@sme_required
def booking_calendar_file(request, pk: int):
    booking = _own_booking(request, pk)
    url = request.build_absolute_uri(reverse("bookings:detail", args=[booking.pk]))
    body = booking_ics(booking, url=url, sequence=max(0, booking.events.count() - 1),
                       now=timezone.now())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="booking-{booking.pk}.ics"'
    return response
