"""Who holds which equipment: PostgreSQL session advisory locks on a connection of the
collector's own.

A collector holds an equipment while it holds ``pg_try_advisory_lock(CLASS, id)`` on its
lease connection. When the collector dies — killed, crashed, its machine gone — the
server ends the session and every lock goes with it, so another collector's next pass
takes the equipment over. Nothing else is needed: no lease table, no expiry clocks. If
the lease connection itself is lost, this collector must stop every driver at once (the
locks are gone and someone else may take them), then connect again.

On SQLite (the embedded demo) there is one collector: leases are granted in-process.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

CLASS = 0x7E57  # the advisory-lock class of "equipment held by a collector"


class LeaseLost(Exception):
    """The lease connection is gone, and every lease with it."""


def _conninfo() -> dict:
    s = settings.DATABASES["default"]
    info = {"dbname": s["NAME"], "user": s.get("USER") or None,
            "password": s.get("PASSWORD") or None, "host": s.get("HOST") or None,
            "port": s.get("PORT") or None, "application_name": "testbed-collector",
            "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
            "keepalives_interval": 5, "keepalives_count": 3}
    # libpq options of the deployment's DATABASE_URL (sslmode, sslrootcert …), not Django's.
    options = {k: v for k, v in (s.get("OPTIONS") or {}).items() if k not in DJANGO_ONLY}
    return {k: v for k, v in {**info, **options}.items() if v is not None}


DJANGO_ONLY = frozenset({"isolation_level", "server_side_binding", "pool", "assume_role",
                         "cursor_factory", "context"})


class Leases:
    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self._conn: psycopg.Connection | None = None
        self.held: set[int] = set()

    def _cursor(self):
        if not self.postgres:
            return None
        if self._conn is None or self._conn.closed:
            if self.held:  # a new session holds nothing: the old one's locks are gone
                raise LeaseLost
            self._conn = psycopg.connect(autocommit=True, **_conninfo())
        return self._conn.cursor()

    def try_acquire(self, equipment_id: int) -> bool:
        if equipment_id in self.held:
            return True
        if self.postgres:
            try:
                with self._cursor() as cur:
                    cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (CLASS, equipment_id))
                    if not cur.fetchone()[0]:
                        return False
            except psycopg.Error as exc:
                self._lost(exc)
        self.held.add(equipment_id)
        return True

    def release(self, equipment_id: int) -> None:
        if equipment_id not in self.held:
            return
        self.held.discard(equipment_id)
        if self.postgres:
            try:
                with self._cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s)", (CLASS, equipment_id))
            except (psycopg.Error, LeaseLost) as exc:
                self._lost(exc)

    def check(self) -> None:
        """Raise LeaseLost if the lease connection (and so every lease) is gone."""
        if not self.postgres or self._conn is None:
            return
        try:
            with self._cursor() as cur:
                cur.execute("SELECT 1")
        except psycopg.Error as exc:
            self._lost(exc)

    def _lost(self, exc: Exception) -> None:
        logger.error("Collector lease connection lost (%s): every equipment is released", exc)
        self.held.clear()
        self.close()
        raise LeaseLost from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
        self.held.clear()
