"""Forms of the console's setup pages. They parse input into what the services take; the
rules are the services' (and the models' ``clean``, which the services run): a refusal
comes back as ``ValidationFailed`` and is shown at its field (``core.forms.add_errors``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core import events
from core.errors import ValidationFailed, Violation
from core.forms import JSONDocumentField
from equipment.models import Category, Equipment
from organizations.models import Organization, OrganizationAPIKey

SECRET = "result_source_secret"
CONFIG = "result_source_config"


def translated_fields() -> list[str]:
    """Per-language copies of the name and description, where the catalogue has them
    (django-modeltranslation: ``name_en``, ``name_zh_hans`` …); none otherwise."""
    names = {f.name for f in Equipment._meta.get_fields()}
    return [
        f"{base}_{code.replace('-', '_')}"
        for base in ("name", "description")
        for code, _label in settings.LANGUAGES
        if f"{base}_{code.replace('-', '_')}" in names
    ]


# The English name is required, the other languages' texts are optional (empty: the
# English text is shown).
REQUIRED_TEXT = f"name_{settings.LANGUAGE_CODE.replace('-', '_')}"
TEXT_FIELDS = translated_fields() or ["name", "description"]
TEXT_LABELS = {
    "name_en": _("Name (English)"),
    "name_zh_hans": _("Name (Chinese)"),
    "description_en": _("Description (English)"),
    "description_zh_hans": _("Description (Chinese)"),
}
POLICY_FIELDS = [
    "slot_granularity",
    "min_duration",
    "max_duration",
    "lead_time",
    "booking_horizon",
    "changeover_buffer",
    "approval_required",
    "qualification_required",
    "max_open_bookings_per_sme",
]
SOURCE_FIELDS = ["result_source_kind", "result_source_url", SECRET, CONFIG]
# Equipment fields the console edits (the hub, slug and category stay as they are).
EQUIPMENT_FIELDS = [*TEXT_FIELDS, "status", "hourly_rate", *POLICY_FIELDS, *SOURCE_FIELDS]


class EquipmentForm(forms.ModelForm):
    """Parses the edit page. The model's rules run once, in ``update_equipment`` (its
    ``full_clean``), so this form does not validate the instance itself. The stored secret
    is never put into the page: an empty secret field keeps it."""

    result_source_secret = forms.CharField(
        label=_("Secret or password"),
        required=False,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "The HTTP gateway's bearer secret, or the OPC UA or MQTT password. Leave "
            "empty to keep the stored one; it is never shown."
        ),
    )
    clear_secret = forms.BooleanField(label=_("Remove the stored secret"), required=False)

    class Meta:
        model = Equipment
        fields = EQUIPMENT_FIELDS
        labels = {
            "name": pgettext_lazy("equipment", "Name"),
            "description": _("Description"),
            "status": _("Status"),
            "hourly_rate": _("Hourly rate (CNY)"),
            "slot_granularity": _("Slot granularity (minutes)"),
            "min_duration": _("Shortest booking (minutes)"),
            "max_duration": _("Longest booking (minutes)"),
            "lead_time": _("Lead time (minutes)"),
            "booking_horizon": _("Booking horizon (days)"),
            "changeover_buffer": _("Changeover buffer (minutes)"),
            "approval_required": _("Bookings wait for approval"),
            "qualification_required": _("Only qualified people may run trials"),
            "max_open_bookings_per_sme": _("Open bookings per SME, at most"),
            "result_source_kind": _("Kind of source"),
            "result_source_url": _("Address (URL)"),
            CONFIG: _("Other settings (JSON)"),
        }
        widgets = {CONFIG: forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}
        field_classes = {CONFIG: JSONDocumentField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in TEXT_FIELDS:
            field = self.fields[name]
            if name not in ("name", "description"):
                field.label = TEXT_LABELS.get(name, field.label)
            field.required = name in ("name", REQUIRED_TEXT)
            if name.startswith("description"):
                field.widget = forms.Textarea(attrs={"rows": 3})
        self.fields[CONFIG].required = False
        self.fields[SECRET].initial = ""
        self.initial[SECRET] = ""

    def _post_clean(self):
        """No model validation here: the service validates (once, under its lock)."""

    def has_secret(self) -> bool:
        return bool(self.instance.result_source_secret)

    def service_data(self) -> dict:
        """The changed model fields for ``update_equipment``. The secret follows the API's
        rule: a new one replaces it; switching to another kind of source drops it (it was
        not meant for that source)."""
        names = [n for n in self.changed_data if n not in (SECRET, "clear_secret")]
        data = {name: self.cleaned_data[name] for name in names}
        for name in TEXT_FIELDS:  # an empty translation is stored as none (NULL)
            if (
                name in data
                and not data[name]
                and not self.fields[name].required
                and Equipment._meta.get_field(name).null
            ):
                data[name] = None
        if data.get(CONFIG) is None and CONFIG in data:
            data[CONFIG] = {}
        secret = self.cleaned_data.get(SECRET) or ""
        kind = self.cleaned_data.get("result_source_kind")
        if secret:
            data[SECRET] = secret
        elif self.cleaned_data.get("clear_secret") or (
            kind and kind != self.instance.result_source_kind
        ):
            data[SECRET] = ""
        return data

    def wants_status_change(self) -> bool:
        return "status" in self.changed_data

    def repost(self) -> list[tuple[str, str]]:
        """The submitted values again, for the confirmation page's form."""
        return [
            (name, value)
            for name, values in self.data.lists()
            if name != "csrfmiddlewaretoken"
            for value in values
        ]


def source_violations(exc: ValidationFailed) -> list[Violation]:
    """The source configuration's errors come by key (``result_source_config.topic``, as
    the API names them): here each goes to the configuration field, naming its key."""
    out = []
    for v in exc.violations:
        if v.field.startswith(f"{CONFIG}."):
            key = v.field.removeprefix(f"{CONFIG}.")
            out.append(Violation(v.code, CONFIG, f"{key}: {v.message}"))
        else:
            out.append(v)
    return out


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class AgreementForm(forms.Form):
    """A sharing agreement's terms and delivery. Times are the hub's wall-clock times."""

    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    university = forms.ModelChoiceField(
        label=_("University"), queryset=Organization.objects.none(), to_field_name="slug"
    )
    hub = forms.ModelChoiceField(label=_("Hub"), queryset=None, to_field_name="slug")
    categories = forms.ModelMultipleChoiceField(
        label=_("Equipment categories"),
        queryset=Category.objects.order_by("name"),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Trials on equipment of these categories at the hub are covered."),
    )
    anonymize = forms.BooleanField(
        label=_("Anonymise: drop the SME's identity and the trial plan"),
        required=False,
        initial=True,
    )
    shift_timestamps = forms.BooleanField(
        label=_("Give times as seconds from the trial's start"), required=False
    )
    embargo_days = forms.IntegerField(
        label=_("Embargo (days after the trial)"), min_value=0, max_value=3650, initial=30
    )
    license = forms.CharField(
        label=_("Data licence (SPDX identifier)"), max_length=64, initial="CC-BY-4.0"
    )
    endpoint_url = forms.URLField(
        label=_("Delivery endpoint"),
        max_length=200,
        assume_scheme="https",
        help_text=_("The university's HTTPS address where releases are delivered (signed)."),
    )
    valid_from = forms.DateTimeField(
        label=_("Valid from"), widget=DateTimeLocal(), input_formats=["%Y-%m-%dT%H:%M"]
    )
    valid_until = forms.DateTimeField(
        label=_("Valid until (optional)"),
        required=False,
        widget=DateTimeLocal(),
        input_formats=["%Y-%m-%dT%H:%M"],
    )

    def __init__(self, *args, hubs, universities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hub"].queryset = hubs
        self.fields["university"].queryset = universities

    @classmethod
    def initial_for(cls, agreement) -> dict:
        tz = ZoneInfo(agreement.hub.timezone)
        return {
            "title": agreement.title,
            "university": agreement.university.slug,
            "hub": agreement.hub.slug,
            "categories": [c.slug for c in agreement.categories.all()],
            "anonymize": agreement.anonymize,
            "shift_timestamps": agreement.shift_timestamps,
            "embargo_days": agreement.embargo_days,
            "license": agreement.license,
            "endpoint_url": agreement.endpoint_url,
            "valid_from": timezone.localtime(agreement.valid_from, tz).replace(tzinfo=None),
            "valid_until": timezone.localtime(agreement.valid_until, tz).replace(tzinfo=None)
            if agreement.valid_until
            else None,
        }

    def clean(self):
        data = super().clean()
        hub = data.get("hub")
        if hub is not None:  # the wall-clock times are the hub's
            tz = ZoneInfo(hub.timezone)
            for name in ("valid_from", "valid_until"):
                value = data.get(name)
                if value is not None and not 1 < value.year < 9999:  # no UTC for it
                    self.add_error(name, self.fields[name].error_messages["invalid"])
                elif value is not None:
                    data[name] = timezone.make_aware(value.replace(tzinfo=None), tz)
        return data

    def create_kwargs(self) -> dict:
        d = self.cleaned_data
        return {
            "university": d["university"].slug,
            "hub": d["hub"].slug,
            "categories": [c.slug for c in d["categories"]],
            "endpoint_url": d["endpoint_url"],
            "valid_from": d["valid_from"],
            "valid_until": d["valid_until"],
            "anonymize": d["anonymize"],
            "shift_timestamps": d["shift_timestamps"],
            "embargo_days": d["embargo_days"],
            "license": d["license"],
            "title": d["title"],
        }

    def update_kwargs(self) -> dict:
        kwargs = self.create_kwargs()
        categories = kwargs.pop("categories")
        university, hub = kwargs.pop("university"), kwargs.pop("hub")
        return {"data": kwargs, "categories": categories, "university": university, "hub": hub}


class WebhookForm(forms.Form):
    url = forms.URLField(label=_("Endpoint URL"), max_length=200, assume_scheme="https")
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Each event is delivered as a signed POST (Standard Webhooks)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = events.event_types()
        groups = sorted(
            {
                name.split(".")[0]
                for name in known
                if sum(n.startswith(name.split(".")[0] + ".") for n in known) > 1
            }
        )
        self.fields["event_types"].choices = [
            *(
                (f"{group}.*", _("%(group)s.* — every event of this kind") % {"group": group})
                for group in groups
            ),
            *((name, f"{name} — {description}") for name, description in known.items()),
        ]


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Key name"),
        max_length=OrganizationAPIKey._meta.get_field("name").max_length,
        help_text=_("What uses it, e.g. “MES line 3”."),
    )


# Days a report may cover (the SME's statements allow the same years): the first and last
# dates Python has cannot be turned into hub-time periods (OverflowError).
REPORT_DAYS = [MinValueValidator(date(2000, 1, 1)), MaxValueValidator(date(2999, 12, 31))]


class ReportForm(forms.Form):
    """The period of the utilisation report and the month of the billing report; this
    month when the page is first opened."""

    start = forms.DateField(
        label=_("From"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        validators=REPORT_DAYS,
    )
    end = forms.DateField(
        label=_("To (inclusive)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        validators=REPORT_DAYS,
    )
    month = forms.DateField(
        label=_("Billing month"),
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text=_("YYYY-MM, in each hub's time zone."),
        validators=REPORT_DAYS,
    )

    @classmethod
    def for_query(cls, query) -> ReportForm:
        if not any(name in query for name in ("start", "end", "month")):
            today = timezone.localdate()
            first = today.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            query = {
                "start": f"{first:%Y-%m-%d}",
                "end": f"{last:%Y-%m-%d}",
                "month": f"{first:%Y-%m}",
            }
        return cls(query)

    def period(self) -> tuple[datetime, datetime]:
        """The chosen days as [midnight, midnight after the last day) in the site's zone."""

        def midnight(day: date) -> datetime:
            return timezone.make_aware(datetime.combine(day, time()))

        return (
            midnight(self.cleaned_data["start"]),
            midnight(self.cleaned_data["end"] + timedelta(days=1)),
        )
