"""The PostgreSQL backend's health check (core.backends.postgresql): a live idle
connection passes without a round trip; one the server closed is found out and replaced
before the request's first query. Against the real PostgreSQL."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _server_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() /* health-probe */")
        return cursor.fetchone()[0]


@pytest.fixture
def admin():
    """A second connection, to watch and terminate the app's one."""
    params = connection.get_connection_params()
    with psycopg.connect(autocommit=True, **{k: params[k] for k in (
            "dbname", "user", "password", "host", "port") if params.get(k)}) as conn:
        yield conn


def _last_statement(admin, pid: int) -> str:
    return admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s",
                         [pid]).fetchone()[0]


def _run_health_check() -> None:
    saved = connection.health_check_enabled
    connection.health_check_enabled, connection.health_check_done = True, False
    try:
        connection.close_if_health_check_failed()
    finally:
        connection.health_check_enabled = saved


def test_idle_live_connection_passes_without_asking_the_server(admin):
    pid = _server_pid()
    assert connection.is_usable() is True
    _run_health_check()
    assert "health-probe" in _last_statement(admin, pid)  # no SELECT 1 was sent
    assert _server_pid() == pid  # the same connection, kept


def test_connection_closed_by_the_server_is_replaced(admin):
    pid = _server_pid()
    assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True
    deadline = time.monotonic() + 10
    while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                        [pid]).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connection.is_usable() is False
    _run_health_check()
    assert connection.connection is None  # closed; the next query connects afresh
    assert _server_pid() != pid
