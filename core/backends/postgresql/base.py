"""Django's PostgreSQL backend with a health check that costs no round trip when it
need not.

With ``CONN_HEALTH_CHECKS`` Django runs ``SELECT 1`` on a persistent connection before
the first query of every request: one more statement on every API call. A connection
that the server closed (restart, ``pg_terminate_backend``, idle timeout) has something
waiting on its socket — the server's FATAL message, then end of file — so an idle
connection with nothing to read is usable as it stands; only when something did arrive,
or the connection is not idle, is ``SELECT 1`` asked as before.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
