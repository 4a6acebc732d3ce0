"""core.db.cursor on PostgreSQL: the hot path's statements bind their parameters on the
server and are prepared once per connection (``DB_PREPARE_THRESHOLD``), one psycopg
cursor is kept for them, and query logs still show the values. Elsewhere it is Django's
cursor."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.services import create_booking
from core import db
from equipment.services import lock_equipment
from tests.fixtures.world import local
from tests.test_settings import PG_URL, PROJECT

pytestmark = pytest.mark.django_db


def _prepared() -> list[str]:
    with connection.cursor() as cursor:  # Django's own: never prepared, so not listed
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
def test_the_booking_path_is_prepared_once_per_connection(equipment, sme):
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 2
    for hour in range(9, 13):  # the same statements, four times
        create_booking(equipment_id=equipment.pk, organization=sme, start=local(3, hour),
                       end=local(3, hour) + timedelta(hours=1), purpose="prepared")
    statements = _prepared()
    lock = [s for s in statements if 'FOR UPDATE OF e' in s]
    batch = [s for s in statements if s.startswith("WITH t0 AS (INSERT INTO")]
    assert len(lock) == 1 and len(batch) == 1, statements  # one plan each, reused
    assert "$1" in lock[0]  # the values are parameters, not written into the SQL
    assert any('"bookings_booking" b' in s for s in statements)  # what is around the slot


@pytest.mark.postgres
def test_query_logs_show_the_values(equipment):
    with CaptureQueriesContext(connection) as queries:
        lock_equipment(equipment.pk)
    assert f'= {equipment.pk}' in queries[0]["sql"] and "$1" not in queries[0]["sql"]


@pytest.mark.postgres
def test_one_cursor_is_kept_and_a_nested_one_gets_its_own(equipment):
    with db.cursor() as outer:
        outer.execute("SELECT %s UNION ALL SELECT %s", [1, 2])
        with db.cursor() as inner:  # while the outer one still has rows to give
            inner.execute("SELECT %s", [3])
            assert inner.fetchall() == [(3,)]
        assert outer.fetchall() == [(1,), (2,)]
    with db.cursor() as first:
        kept = first.cursor
    with db.cursor() as second:
        assert second.cursor is kept
        second.execute("SELECT %s", ["again"])
        assert second.fetchone() == ("again",)


def test_elsewhere_it_is_djangos_cursor():
    if connection.vendor == "postgresql":
        pytest.skip("the PostgreSQL cursor is tested above")
    with db.cursor() as cursor:
        cursor.execute("SELECT %s", [5])
        assert cursor.fetchone() == (5,)


def test_prepare_threshold_follows_the_environment():
    probe = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'testbed.settings'; "
             "django.setup(); from django.conf import settings; "
             "print(settings.DATABASES['default']['OPTIONS'].get('prepare_threshold'))")
    seen = []
    for value in ("", "5"):
        result = subprocess.run(
            [sys.executable, "-c", probe], cwd=PROJECT, capture_output=True, text=True,
            timeout=60, env={"PATH": "/usr/bin:/bin", "DATABASE_URL": PG_URL,
                             "SECRET_KEY": "x-test", "DB_PREPARE_THRESHOLD": value})
        assert result.returncode == 0, result.stderr
        seen.append(result.stdout.strip())
    assert seen == ["None", "5"]
