"""The booking policy and opening hours in plain, translated words, for the portal.

Only wording: the rules themselves are enforced by ``bookings.policy``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import get_language, ngettext, pgettext_lazy
from django.utils.translation import gettext as _

from .hours import WEEKDAYS, parse_clock
from .models import Equipment, Hub


def duration(minutes: int) -> str:
    """120 → "2 h", 90 → "1 h 30 min", 45 → "45 min" (translated)."""
    hours, mins = divmod(int(minutes), 60)
    if hours and mins:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": mins}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": mins}


def weekday_names() -> dict[str, str]:
    return {"mon": _("Monday"), "tue": _("Tuesday"), "wed": _("Wednesday"),
            "thu": _("Thursday"), "fri": _("Friday"), "sat": _("Saturday"),
            "sun": _("Sunday")}


@dataclass(frozen=True)
class DayHours:
    day: str
    name: str
    periods: list[str]  # "08:00–18:00", "22:00–06:00 (next day)"; empty: closed


def opening_hours(hub: Hub) -> list[DayHours]:
    names = weekday_names()
    out = []
    for day in WEEKDAYS:
        periods = []
        for start, end in hub.opening_hours.get(day, []):
            (sh, sm), (eh, em) = parse_clock(start), parse_clock(end)
            if eh * 60 + em <= sh * 60 + sm:
                periods.append(_("%(start)s–%(end)s (next day)") % {"start": start, "end": end})
            else:
                periods.append(f"{start}–{end}")
        out.append(DayHours(day, names[day], periods))
    return out


# The zones the demo and the hubs use; any other zone falls back to its city name.
ZONE_NAMES = {
    "Asia/Shanghai": pgettext_lazy("time zone", "China Standard Time"),
    "UTC": pgettext_lazy("time zone", "Coordinated Universal Time"),
}


def utc_offset(zone, at: datetime | None = None) -> str:
    """ "UTC+08:00" for ``zone`` at ``at`` (now by default), daylight saving included."""
    minutes = int((at or timezone.now()).astimezone(zone).utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def zone_label(zone, *, at: datetime | None = None, bracketed: bool = False) -> str:
    """The zone in words with its offset at ``at`` (now by default); an unknown zone name
    shows as given. ``bracketed`` is for a label that sits in brackets already: the offset
    follows a comma ("China Standard Time, UTC+08:00") so that brackets never nest."""
    key = str(getattr(zone, "key", zone) or "")
    try:
        info = zone if isinstance(zone, ZoneInfo) else ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return key
    name = ZONE_NAMES.get(key)
    name = str(name) if name else key.rsplit("/", 1)[-1].replace("_", " ")
    offset = utc_offset(info, at)
    chinese = (get_language() or "").lower().startswith("zh")
    if bracketed:
        return f"{name}，{offset}" if chinese else f"{name}, {offset}"
    return f"{name}（{offset}）" if chinese else f"{name} ({offset})"


def rules(equipment: Equipment) -> list[tuple[str, str]]:
    """(topic, sentence) for every rule of the equipment's booking policy."""
    e = equipment
    out = [
        (_("Time steps"),
         _("Bookings start and end on %(step)s steps, in the hub's time zone (%(tz)s).")
         % {"step": duration(e.slot_granularity),
            "tz": zone_label(e.hub.timezone, bracketed=True)}),
        (_("Duration"),
         _("A booking lasts at least %(min)s and at most %(max)s.")
         % {"min": duration(e.min_duration), "max": duration(e.max_duration)}),
        (_("Lead time"),
         _("Book at least %(lead)s before the start.") % {"lead": duration(e.lead_time)}
         if e.lead_time else _("You can book up to the start time.")),
        (_("How far ahead"),
         ngettext("Bookings open %(days)s day ahead.", "Bookings open %(days)s days ahead.",
                  e.booking_horizon) % {"days": number_format(e.booking_horizon)}),
        (_("Changeover"),
         _("%(buffer)s are kept free after each booking for changeover and set-up.")
         % {"buffer": duration(e.changeover_buffer)}
         if e.changeover_buffer else _("No changeover time is needed between bookings.")),
        (_("Approval"),
         _("The hub operator approves each booking; until then it is “requested”.")
         if e.approval_required else _("Bookings are confirmed at once.")),
        (_("Qualification"),
         _("The trial lead must hold a qualification for this equipment, granted by the hub "
           "operator.")
         if e.qualification_required else _("No qualification is needed.")),
    ]
    if e.max_open_bookings_per_sme is not None:
        out.append((_("Open bookings"),
                    ngettext("Your organisation may hold %(n)s open booking on it at a time.",
                             "Your organisation may hold %(n)s open bookings on it at a time.",
                             e.max_open_bookings_per_sme)
                    % {"n": number_format(e.max_open_bookings_per_sme)}))
    return out


def specs_of(equipment: Equipment) -> dict:
    """The specs object. Specs are validated as one since equipment 0006; a row stored
    before that as a list or a scalar reads as none, rather than breaking the page."""
    return equipment.specs if isinstance(equipment.specs, dict) else {}


def spec_rows(equipment: Equipment) -> list[tuple[str, str]]:
    """The specs JSON as (label, value) rows: "travel_mm" → "Travel mm", lists joined."""
    rows = []
    for key, value in specs_of(equipment).items():
        label = str(key).replace("_", " ").strip().capitalize()
        if isinstance(value, list | tuple):
            text = " × ".join(str(v) for v in value) if all(
                isinstance(v, int | float) for v in value) else ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = _("yes") if value else _("no")
        elif isinstance(value, int | float):
            text = number_format(value, force_grouping=True)
        else:
            text = str(value)
        rows.append((label, text))
    return rows
