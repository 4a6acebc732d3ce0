"""Guards of "what blocks a slot" and of the hand-written SQL around it: the plain-SQL
paths stay what the ORM and the database constraint say they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.db.models.signals import post_save, pre_save

from bookings.models import NO_OVERLAP_CONSTRAINT, Booking

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = ("core", "organizations", "equipment", "bookings", "trials", "testbed")


def _app_sources(app_dirs=APP_DIRS):
    for app_dir in app_dirs:
        for path in sorted((ROOT / app_dir).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, path.read_text(encoding="utf-8")


def _models_inserted_with_plain_sql() -> set:
    """Every model the apps hand to ``core.db.insert`` (which skips pre/post_save)."""
    names = {name for _path, text in _app_sources()
             for name in re.findall(r"\bdb\.insert\(\s*(\w+)\(", text)}
    by_name = {model.__name__: model for model in apps.get_models()}
    assert names, "no core.db.insert call found: the pattern above is out of date"
    assert names <= set(by_name), names - set(by_name)
    return {by_name[name] for name in names}


def test_no_save_receiver_on_models_inserted_with_plain_sql():
    """``core.db.insert`` skips ``pre_save``/``post_save``: a receiver attached to one of
    these models would silently never run for rows the services insert."""
    models = _models_inserted_with_plain_sql()
    assert {"Booking", "BookingEvent"} <= {m.__name__ for m in models}
    for model in models:
        assert not post_save.has_listeners(model), model
        assert not pre_save.has_listeners(model), model


@pytest.mark.parametrize("app_dir", APP_DIRS)
def test_no_hand_typed_table_name_in_app_code(app_dir):
    """App SQL takes table names from the models' metadata (``core.db.table``), never typed
    out: a table name appears in no app module (migrations aside)."""
    tables = {model._meta.db_table for model in apps.get_models()
              if model._meta.app_label in APP_DIRS}
    found = [(path.relative_to(ROOT).as_posix(), table)
             for path, text in _app_sources((app_dir,))
             for table in tables if re.search(rf"\b{re.escape(table)}\b", text)]
    assert found == []


@pytest.mark.django_db
@pytest.mark.postgres
def test_exclusion_constraint_blocks_exactly_the_active_statuses():
    """The database's referee and the service's read agree on what blocks a slot: the
    exclusion constraint covers exactly ``Booking.ACTIVE``, on one equipment, over
    [start, blocked_until)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c "
                       "WHERE c.conname = %s AND c.conrelid = %s::regclass",
                       [NO_OVERLAP_CONSTRAINT, Booking._meta.db_table])
        (definition,) = cursor.fetchone()
    using, _, predicate = definition.partition(" WHERE ")
    assert set(re.findall(r"'(\w+)'::", predicate)) == set(Booking.ACTIVE), definition
    assert re.search(r"\bstatus\b", predicate), definition
    assert "equipment_id WITH =" in using, definition
    assert re.search(r"tstzrange\(start, blocked_until, '\[\)'::text\) WITH &&", using), definition
