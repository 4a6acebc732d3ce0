"""Migration operations that keep a live database writable while they run.

A plain ``AddIndex`` takes a lock that blocks every write to the table until the index is
built: seconds to minutes on bookings, booking events, outbox messages or measurements at
a city platform's scale. On PostgreSQL these build or drop the index ``CONCURRENTLY``
(writes go on; the migration must declare ``atomic = False``, and a build that fails
leaves an INVALID index to drop before migrating again); elsewhere (SQLite, the demo)
they are the plain operations. ``tests/test_migrations.py`` holds every index added to a
large table since to them."""

from __future__ import annotations

from django.contrib.postgres import operations as postgres
from django.db.migrations import AddIndex, AlterField, RemoveIndex
from django.db.models import Index


class _ConcurrentlyOnPostgreSQL:
    """On PostgreSQL the concurrent operation (next in the MRO); elsewhere ``plain``'s."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_forwards(self, app_label, schema_editor, from_state,
                                            to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return self.plain.database_backwards(self, app_label, schema_editor, from_state,
                                             to_state)


class AddIndexConcurrently(_ConcurrentlyOnPostgreSQL, postgres.AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, ``AddIndex`` elsewhere."""

    plain = AddIndex


class RemoveIndexConcurrently(_ConcurrentlyOnPostgreSQL, postgres.RemoveIndexConcurrently):
    """``DROP INDEX CONCURRENTLY`` on PostgreSQL, ``RemoveIndex`` elsewhere."""

    plain = RemoveIndex


class DropFieldIndexConcurrently(AlterField):
    """A field's own index dropped (``db_index`` True → False; a foreign key whose index
    a composite index leading with it makes redundant), and only that: the state change
    is ``AlterField``'s, the schema change one DROP INDEX of the index Django made for
    the field (``CONCURRENTLY`` on PostgreSQL; elsewhere plain, never ``AlterField``'s
    table rebuild) and, unapplied, its CREATE INDEX. Not folded into other operations by
    squashing, which would lose the concurrent drop."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        names = schema_editor._constraint_names(
            model, [field.column], index=True, type_=Index.suffix,
            exclude={index.name for index in model._meta.indexes})
        for name in names:
            schema_editor.execute(schema_editor._delete_index_sql(
                model, name, **self._concurrently(schema_editor)))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        schema_editor.execute(schema_editor._create_index_sql(
            model, fields=[field], **self._concurrently(schema_editor)))

    @staticmethod
    def _concurrently(schema_editor) -> dict:
        return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}

    def reduce(self, operation, app_label):
        return False
