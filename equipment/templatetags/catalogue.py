"""Catalogue words in the reader's language, for templates: ``{% load catalogue %}``.

``{{ row.metric|metric_label }}`` names a metric ("cycle_time" → "Cycle time" / "节拍时间")
from the dictionary (``equipment.Metric``); a metric not in it shows as stored."""

from django import template

from equipment import selectors

register = template.Library()


@register.filter
def metric_label(key) -> str:
    found = selectors.term("metric", str(key))
    return found[0] if found else str(key)
