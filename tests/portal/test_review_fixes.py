"""Regressions found in the review of issue 15's SME pages: bad input is a clear answer,
never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "2026-13", "x"])
def test_statements_of_a_month_out_of_range_show_every_month(client_sme, month):
    """The first and the last month Python has cannot be turned into hub-time periods:
    the statements page ignores such a filter and lists every month."""
    response = client_sme.get(reverse("billing:statements"), {"month": month})
    assert response.status_code == 200
    assert response.context["month"] is None


def test_a_qualification_valid_until_the_end_of_a_day_says_when_it_ends(
    client_sme, admin_user, sme, equipment, operator
):
    """Granted "until 1 December" ends at the next midnight in hub time: the SME's list
    showed only that midnight's date (2 December), a day longer than granted."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from django.utils import formats

    from equipment import services as equipment_services

    item = equipment_services.request_qualification(
        user=admin_user, organization=sme, equipment_id=equipment.pk
    )
    ends = datetime.combine(
        timezone.localdate().replace(year=timezone.localdate().year + 1, month=12, day=2),
        time(),
        ZoneInfo(equipment.hub.timezone),
    )
    equipment_services.grant_qualification_request(
        request_id=item.pk, organization=operator, expires=ends
    )
    page = client_sme.get(reverse("bookings:qualifications")).content.decode()
    assert f"{formats.date_format(ends.date(), 'DATE_FORMAT')} 00:00" in page

