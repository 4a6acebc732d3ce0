"""Django's PostgreSQL backend with a health check that costs no round trip when it
need not, and a cursor whose statements PostgreSQL prepares once.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` on a persistent connection before
the first query of every request: one more statement on every API call. A connection
that the server closed (restart, ``pg_terminate_backend``, idle timeout) has something
waiting on its socket — the server's FATAL message, then end of file — so an idle
connection with nothing to read is usable as it stands; only when something did arrive,
or the connection is not idle, is ``SELECT 1`` asked as before.

Django's cursors bind parameters on the client (the values are written into the SQL), so
PostgreSQL parses and plans every statement anew. :meth:`DatabaseWrapper.prepared_cursor`
binds them on the server instead, and psycopg prepares a statement the
``prepare_threshold``-th time the connection runs it (``DB_PREPARE_THRESHOLD``, 2 by
default; empty: never): the hot path's hand-written SQL (``core.db``) is planned once
per connection, not once per booking. Everything else keeps Django's client-side binding.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base, operations
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import pq


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        if isinstance(cursor, base.ServerBindingCursor):
            # Logged (DEBUG, CaptureQueriesContext) with its values, like Django's own.
            try:
                return self.compose_sql(sql, params)
            except base.Database.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)


class _ReusedCursor(base.ServerBindingCursor):
    """The connection's server-binding cursor, kept for its next statement (its adapters
    and loaders are set up once): closing it (a ``with`` block's end) only frees it."""

    in_use = False

    def close(self) -> None:
        self.in_use = False


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _reused: _ReusedCursor | None = None

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed:
            return False
        if conn.info.transaction_status == pq.TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([conn.fileno()], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return True
        return super().is_usable()

    def prepared_cursor(self):
        """Like ``cursor()`` (the same wrapper: transactions, query logging, execute
        wrappers), binding parameters on the server so that psycopg can prepare the
        statement (see the module's docstring)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        self.validate_thread_sharing()
        with self.wrap_database_errors:
            cursor = self._reused
            if cursor is None or cursor.connection is not self.connection:
                cursor = self._reused = self._binding_cursor(_ReusedCursor)
            elif cursor.in_use:  # still open around this one: a cursor of its own
                cursor = self._binding_cursor(base.ServerBindingCursor)
            cursor.in_use = True
            return self._prepare_cursor(cursor)

    def _binding_cursor(self, cls):
        cursor = cls(self.connection)
        loader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, pq.Format.TEXT)
        if self.timezone != loader.timezone:
            register_tzloader(self.timezone, cursor)
        return cursor
