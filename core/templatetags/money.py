"""``{{ amount|yuan }}``: an amount of CNY as every page, e-mail and PDF shows it —
two decimals with the reader's grouping, the sign before the symbol ("-¥300.00", a
credit), never after it ("¥-300.00")."""

from decimal import Decimal, InvalidOperation

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def yuan(value) -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{floatformat(abs(amount), '2g')}"
