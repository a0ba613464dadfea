"""The arrows point down: app/, web/ → flows/ → tasks/ → wiring/ → models/service →
models/db. Read from the source (every import statement, module level or inside a function),
so a late import cannot hide an arrow pointing up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "tasks": {"app", "web", "flows"},
    "flows": {"app", "web"},
    "wiring": {"app", "web", "flows", "tasks"},
    "models": {"app", "web", "flows", "tasks", "wiring"},
    "notifications": {"app", "web", "flows", "tasks", "wiring"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_arrow_points_up(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    upward = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
              for path in files}
    assert {path: names for path, names in upward.items() if names} == {}


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from app.service import FlowService\n", encoding="utf-8")
    assert "app" in imported_packages(module)
