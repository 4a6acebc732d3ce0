"""Portal forms for finding and booking equipment. They parse input only: every booking
rule is the service's (``services.create_booking``), whose refusals are shown next to the
fields they concern, in the reader's language (by their stable codes)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import DomainError, Violation
from core.serializers import AwareDateTimeField
from equipment.models import Capability, Category, Equipment, Hub
from equipment.wording import duration

from . import policy
from .selectors import MAX_AVAILABILITY_RANGE

LOCAL_INPUT = "%Y-%m-%dT%H:%M"
LOCAL_FORMATS = [LOCAL_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class LocalDateTimeInput(forms.DateTimeInput):
    """``<input type=datetime-local>``: a wall-clock time, read in the active time zone
    (the view activates the hub's)."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=LOCAL_INPUT)


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time of the hub (``datetime-local``) between 1970 and 2999, as every
    time the API takes: year 9999 or 0001 is a form error, not an overflow further on."""

    default_error_messages = {
        "out_of_range": gettext_lazy("Give a date between 1970 and 2999."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", LOCAL_FORMATS)
        kwargs.setdefault("widget", LocalDateTimeInput())
        super().__init__(**kwargs)

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        try:
            in_range = AwareDateTimeField.EARLIEST <= result < AwareDateTimeField.LATEST
        except (OverflowError, ValueError):
            in_range = False
        if not in_range:
            raise forms.ValidationError(self.error_messages["out_of_range"],
                                        code="out_of_range")
        return result


class CatalogSearchForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={
                            "type": "search",
                            "placeholder": gettext_lazy("Machine, process, hub…")}))
    category = forms.ModelChoiceField(label=gettext_lazy("Category"), required=False,
                                      queryset=Category.objects.all(), to_field_name="slug",
                                      empty_label=gettext_lazy("All categories"))
    capability = forms.ModelChoiceField(label=gettext_lazy("Capability"), required=False,
                                        queryset=Capability.objects.all(), to_field_name="slug",
                                        empty_label=gettext_lazy("Any capability"))
    hub = forms.ModelChoiceField(label=gettext_lazy("Hub"), required=False,
                                 queryset=Hub.objects.all(), to_field_name="slug",
                                 empty_label=gettext_lazy("All hubs"))
    free_from = LocalDateTimeField(label=gettext_lazy("Free from"), required=False)
    free_until = LocalDateTimeField(label=gettext_lazy("until"), required=False)

    def clean(self):
        data = super().clean()
        start, end = data.get("free_from"), data.get("free_until")
        if bool(start) != bool(end) and not self.errors:
            field = "free_until" if start else "free_from"
            self.add_error(field, _("Give both ends of the period to look for free time."))
        elif start and end:
            if end <= start:
                self.add_error("free_until", _("The end of the period must be after its start."))
            elif end - start > MAX_AVAILABILITY_RANGE:
                self.add_error("free_until", _("Look at most %(days)d days ahead at a time.")
                               % {"days": MAX_AVAILABILITY_RANGE.days})
        return data

    @property
    def window(self):
        if not self.is_valid():
            return None
        start, end = self.cleaned_data.get("free_from"), self.cleaned_data.get("free_until")
        return (start, end) if start and end else None


class BookingForm(forms.Form):
    start = LocalDateTimeField(label=gettext_lazy("Start"))
    end = LocalDateTimeField(label=gettext_lazy("End"))
    purpose = forms.CharField(
        label=gettext_lazy("Purpose (trial plan)"), max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("What you will test, with which parts and materials. The hub "
                               "operator reads this."))
    trial_lead = forms.ChoiceField(
        label=gettext_lazy("Trial lead"), required=False,
        help_text=gettext_lazy("The member of your organisation who runs the trial."))

    def __init__(self, *args, equipment: Equipment, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.equipment = equipment
        step = str(equipment.slot_granularity * 60)
        for name in ("start", "end"):
            self.fields[name].widget.attrs.update({"step": step})
        self.fields["trial_lead"].choices = [
            (m.user.email, m.user.get_full_name() or m.user.email) for m in members]

    def add_violations(self, violations: list[Violation]) -> None:
        for violation in violations:
            field = violation.field if violation.field in self.fields else None
            self.add_error(field, booking_error_text(violation.code, violation.message,
                                                     self.equipment))


class CancelForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (optional)"), required=False,
                             max_length=2000, widget=forms.TextInput())


def booking_error_text(code: str, default: str, equipment: Equipment | None = None) -> str:
    """A booking refusal (policy violation or domain error code) in the reader's language;
    the service's own message for a code the portal does not know."""
    e = equipment
    if e is not None:
        text = _equipment_text(code, e)
        if text is not None:
            return text
    fixed = FIXED_MESSAGES.get(code)
    return str(fixed) if fixed is not None else default


def _equipment_text(code: str, e: Equipment) -> str | None:
    """Refusals whose wording names the equipment's own limits."""
    if code == policy.MISALIGNED:
        return _("Bookings start and end on %(step)s steps in the hub's time zone (%(tz)s).") % {
            "step": duration(e.slot_granularity), "tz": e.hub.timezone}
    if code == policy.TOO_SHORT:
        return _("A booking lasts at least %(d)s.") % {"d": duration(e.min_duration)}
    if code == policy.TOO_LONG:
        return _("A booking lasts at most %(d)s.") % {"d": duration(e.max_duration)}
    if code == policy.LEAD_TIME:
        if e.lead_time:
            return _("Book at least %(d)s before the start.") % {"d": duration(e.lead_time)}
        return _("The start is in the past.")
    if code == policy.TOO_FAR_AHEAD:
        return _("Bookings open %(days)d days ahead at most.") % {"days": e.booking_horizon}
    if code == policy.EQUIPMENT_UNAVAILABLE:
        return _("This equipment is %(status)s and cannot be booked.") % {
            "status": e.get_status_display().lower()}
    if code == "changeover_buffer":
        return _("The equipment needs %(d)s of changeover between bookings; this period is "
                 "too close to another booking.") % {"d": duration(e.changeover_buffer)}
    if code == policy.OPEN_BOOKINGS_LIMIT and e.max_open_bookings_per_sme is not None:
        return _("Your organisation already holds the most open bookings allowed on this "
                 "equipment (%(limit)d).") % {"limit": e.max_open_bookings_per_sme}
    return None


FIXED_MESSAGES = {
    policy.ORGANIZATION_UNVERIFIED: gettext_lazy(
        "Your organisation has not been verified yet. Platform staff check new organisations "
        "before they can book; you can browse and plan in the meantime."),
    policy.OUTSIDE_OPENING_HOURS: gettext_lazy(
        "The hub is closed during part of this period; see its opening hours."),
    policy.MAINTENANCE: gettext_lazy(
        "The equipment is under maintenance during part of this period."),
    policy.QUALIFICATION_REQUIRED: gettext_lazy(
        "The trial lead holds no valid qualification for this equipment."),
    policy.TRIAL_LEAD_REQUIRED: gettext_lazy(
        "This equipment needs a qualified trial lead: choose who runs the trial."),
    "slot_taken": gettext_lazy("This slot is already taken. Pick another free slot."),
    "end_before_start": gettext_lazy("The end must be after the start."),
    "purpose_required": gettext_lazy("Describe the trial plan (purpose)."),
    "trial_lead_unknown": gettext_lazy("The trial lead must be a member of your organisation."),
    "naive_datetime": gettext_lazy("Give a complete date and time."),
    "equipment_not_found": gettext_lazy("No such equipment."),
    "not_sme": gettext_lazy("Only SMEs book equipment."),
    "busy": gettext_lazy("The equipment is busy with other bookings; try again in a moment."),
    "cancel_too_late": gettext_lazy(
        "The booking has started; ask the hub operator to cancel it."),
    "illegal_transition": gettext_lazy("This booking cannot be cancelled in its current state."),
    "not_allowed": gettext_lazy("You may not do this."),
    "booking_not_found": gettext_lazy("No such booking."),
}


def domain_error_text(exc: DomainError, equipment: Equipment | None = None) -> str:
    return booking_error_text(exc.code, exc.message, equipment)
