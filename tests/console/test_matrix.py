"""The console's permission matrix: every console route × every seat (anonymous, SME,
university, the operator's member and admin, another flagship firm).

Rows live beside the pages they cover, in ``tests/console/rows_*.py`` (each a ``ROWS``
list of :class:`Row`); a console route without a row fails
``test_every_console_route_has_a_row``. Each cell runs in a savepoint that is rolled
back, so every seat sees the same world. Expected statuses: 2xx/3xx allowed (a POST that
succeeds redirects), 302 to the login page for anonymous visitors, 403 for seats the page
is not for (SME, university; the member on admin-only pages), 404 for another operator's
object (never 403 for what one cannot see)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .conftest import SEATS

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@dataclass(frozen=True)
class Row:
    """One route and method. ``args(world)`` gives the URL's arguments from the pytest
    fixtures named in ``uses``; ``data(world)`` the POST body; ``expect`` a status per
    seat (``SEATS``), where the operator's seats see their own hub's object."""

    name: str
    method: str
    expect: dict[str, int]
    uses: tuple[str, ...] = ()
    args: Callable[[dict[str, Any]], list] = lambda world: []
    data: Callable[[dict[str, Any]], dict] = lambda world: {}
    other: dict[str, int] = field(default_factory=dict)  # the other operator's object


def seats(anonymous=302, sme=403, university=403, member=200, admin=200, other_flagship=200):
    """The usual shape: operators in, everyone else out (anonymous to the login page)."""
    return {
        "anonymous": anonymous,
        "sme": sme,
        "university": university,
        "member": member,
        "admin": admin,
        "other_flagship": other_flagship,
    }


def _rows() -> list[Row]:
    import tests.console as package

    rows: list[Row] = []
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("rows_"):
            rows += importlib.import_module(f"tests.console.{module.name}").ROWS
    return rows


def _console_routes() -> set[str]:
    names: set[str] = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace == "console":
            stack = [entry]
            while stack:
                resolver = stack.pop()
                for pattern in resolver.url_patterns:
                    if isinstance(pattern, URLResolver):
                        stack.append(pattern)
                    elif isinstance(pattern, URLPattern) and pattern.name:
                        names.add(f"console:{pattern.name}")
    return names


def test_every_console_route_has_a_row():
    covered = {row.name for row in _rows()}
    assert _console_routes() - covered == set(), "console routes without a matrix row"
    assert covered - _console_routes() == set(), "rows for routes that went away"


def test_every_row_names_every_seat():
    for row in _rows():
        assert set(row.expect) == set(SEATS), row.name


@pytest.mark.parametrize("row", _rows(), ids=lambda row: f"{row.method} {row.name}")
def test_matrix(row: Row, request, seats):
    world = {name: request.getfixturevalue(name) for name in row.uses}
    url = reverse(row.name, args=row.args(world))
    for seat in SEATS:
        with transaction.atomic():
            client = seats[seat]
            send = client.get if row.method == "GET" else client.post
            response = send(url, row.data(world)) if row.method == "POST" else send(url)
            transaction.set_rollback(True)
        assert response.status_code == row.expect[seat], (seat, url, response.status_code)
        if row.expect[seat] == 302 and seat == "anonymous":
            assert response["Location"].startswith(LOGIN), (seat, url)
