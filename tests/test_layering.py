"""DESIGN.md, "Layout": apps never import the ``testbed`` package (it wires everything;
they use ``django.conf.settings`` and ``celery``'s current app), and dependencies point one
way: a lower app never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# DESIGN.md's dependency order: an app imports only the apps before it.
APPS = ("core", "organizations", "equipment", "pricing", "bookings", "trials", "billing",
        "console")


def _imports(path: Path, *, runtime: bool = False) -> set[str]:
    """The modules ``path`` imports; ``runtime``: leaving out those under
    ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if runtime:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                node.body = []
    names = set()
    for node in ast.walk(tree):
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


@pytest.mark.parametrize("app", APPS)
def test_a_lower_app_never_imports_a_higher_one(app):
    higher = APPS[APPS.index(app) + 1:]
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
        for name in _imports(path, runtime=True)
        if name.split(".")[0] in higher
    )
    assert offenders == []
