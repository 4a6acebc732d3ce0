"""DESIGN.md, "Layout": apps never import the ``testbed`` package (it wires everything;
they use ``django.conf.settings`` and ``celery``'s current app)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "organizations", "equipment", "bookings", "trials", "console")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", APPS)
def test_apps_do_not_import_the_project_package(app):
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / app).rglob("*.py"))
        if any(name == "testbed" or name.startswith("testbed.") for name in _imports(path))
    ]
    assert offenders == []
