"""Catalogue words in the reader's language, for templates: ``{% load catalogue %}``.

``{{ row.metric|metric_label }}`` names a metric ("cycle_time" → "Cycle time" / "节拍时间")
from the dictionary (``equipment.Metric``); a metric not in it shows as stored.

``{{ hub.timezone|tz_label }}`` names a time zone for people, with its UTC offset at the
moment of reading: "China Standard Time (UTC+08:00)" / "中国标准时间（UTC+08:00）". A zone
not named below shows as its IANA city ("Europe/Berlin" → "Berlin (UTC+01:00)")."""

from django import template

from equipment import selectors
from equipment.wording import zone_label

register = template.Library()

@register.filter
def metric_label(key) -> str:
    found = selectors.term("metric", str(key))
    return found[0] if found else str(key)


@register.filter
def tz_label(zone, form: str = "") -> str:
    """``{{ hub.timezone|tz_label }}``; ``|tz_label:"bracketed"`` inside "(...)"."""
    return zone_label(zone, bracketed=form == "bracketed")
