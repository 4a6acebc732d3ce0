"""Template filters of money pages: a line's quantity as the reader reads it."""

from django import template

from pricing.views import quantity_text

register = template.Library()


@register.filter
def quantity_with_unit(line) -> str:
    """``{{ line|quantity_with_unit }}``: "2.5 h", "3 piece" (a quote line or a row)."""
    return quantity_text(line.quantity, line.unit)
