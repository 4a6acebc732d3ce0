"""Migrations keep a live database writable: an index added to or dropped from a large
table after it was created is built CONCURRENTLY on PostgreSQL
(``core.migration_operations``), and the models match the migrations."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db.migrations import AddIndex, CreateModel, RemoveIndex
from django.db.migrations.loader import MigrationLoader

from core.migration_operations import AddIndexConcurrently, RemoveIndexConcurrently

# Tables that grow without bound (a city platform: millions of rows).
LARGE = {("bookings", "booking"), ("bookings", "bookingevent"), ("core", "outboxmessage"),
         ("core", "deliverylog"), ("trials", "measurement")}
# Written before the rule and left as it is (it ran where it ran): it adds columns with
# their index in one atomic migration.
BEFORE_THE_RULE = {("core", "0003_outbox_ordering")}


def _index_operations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if not migration.__module__.startswith(("bookings.", "core.", "trials.")):
            continue
        created = {op.name_lower for op in migration.operations if isinstance(op, CreateModel)}
        for op in migration.operations:
            if isinstance(op, AddIndex | RemoveIndex) and op.model_name_lower not in created:
                yield app, name, migration, op


def test_indexes_on_large_tables_are_built_concurrently():
    seen = []
    for app, name, migration, op in _index_operations():
        if (app, op.model_name_lower) not in LARGE or (app, name) in BEFORE_THE_RULE:
            continue
        seen.append((app, name))
        assert isinstance(op, AddIndexConcurrently | RemoveIndexConcurrently), (
            f"{app}.{name}: {type(op).__name__} on {op.model_name_lower} locks the table; "
            "use core.migration_operations")
        assert migration.atomic is False, f"{app}.{name}: CONCURRENTLY needs atomic = False"
    assert ("bookings", "0008_cursor_indexes") in seen  # the check looked at something
    assert ("bookings", "0011_event_feed_indexes") in seen
    assert ("bookings", "0013_booking_operator_index") in seen
    assert ("core", "0006_outbox_endpoint_cursor_index") in seen


@pytest.mark.postgres
def test_postgresql_gets_create_index_concurrently(transactional_db):
    out = io.StringIO()
    call_command("sqlmigrate", "bookings", "0008", stdout=out)
    sql = out.getvalue()
    assert sql.count("CREATE INDEX CONCURRENTLY") == 2
    assert "DROP INDEX CONCURRENTLY" in sql and "BEGIN;" not in sql
    # The new indexes come first: the old one is dropped after its replacement exists.
    assert sql.index("CREATE INDEX CONCURRENTLY") < sql.index("DROP INDEX CONCURRENTLY")


def test_the_models_match_the_migrations(db):
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_bookings_keep_no_index_a_composite_makes_redundant(db):
    """Each booking foreign key a list filters on is the leading column of a composite
    index, and has no index of its own (bookings 0013 dropped them: one DROP INDEX each,
    no table rebuild)."""
    from django.db import connection

    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "bookings_booking")
    indexed = {tuple(c["columns"]) for c in found.values() if c["index"]}
    assert {("equipment_id", "start"), ("organization_id", "start", "id"),
            ("operator_id", "start", "id")} <= indexed
    assert not {("equipment_id",), ("organization_id",), ("operator_id",)} & indexed


def test_a_concurrent_index_drop_is_never_squashed_into_a_plain_alter_field():
    from django.db import models
    from django.db.migrations import AlterField

    from core.migration_operations import DropFieldIndexConcurrently

    field = models.IntegerField(db_index=False)
    drop = DropFieldIndexConcurrently(model_name="booking", name="price", field=field)
    assert drop.reduce(AlterField(model_name="booking", name="price", field=field),
                       "bookings") is False


@pytest.mark.postgres
def test_postgresql_drops_and_rebuilds_a_fields_index_concurrently(transactional_db):
    out = io.StringIO()
    call_command("sqlmigrate", "bookings", "0013", "--backwards", stdout=out)
    assert out.getvalue().count("CREATE INDEX CONCURRENTLY") == 2
