"""The arrows point down: app/, web/ → flows/ → tasks/ → models/runtime/ → models/service →
models/db, notifications/ → models/domain. Read from the source (every import statement, module
level or inside a function), so a late import cannot hide an arrow pointing up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ABOVE_MODELS = {"app", "web", "flows", "tasks"}
# package folder → the modules (by dotted prefix) it must never import
FORBIDDEN = {
    "tasks": {"app", "web", "flows"},
    "flows": {"app", "web"},
    "models/runtime": ABOVE_MODELS,
    "models/service": ABOVE_MODELS | {"models.runtime"},
    "models/db": ABOVE_MODELS | {"models.runtime", "models.service"},
    # the pure domain: no framework, no infrastructure of the project's own
    "models/domain": ABOVE_MODELS | {"models.runtime", "models.service", "models.db",
                                     "notifications", "sqlalchemy", "prefect", "aiosmtplib",
                                     "fastapi"},
    "notifications": ABOVE_MODELS | {"models.runtime", "models.service", "models.db"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def forbidden_in(names: set[str], forbidden: set[str]) -> list[str]:
    return sorted(name for name in names
                  if any(name == bad or name.startswith(bad + ".") for bad in forbidden))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_arrow_points_up(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    upward = {str(path.relative_to(ROOT)): forbidden_in(imported_packages(path), FORBIDDEN[package])
              for path in files}
    assert {path: names for path, names in upward.items() if names} == {}


def test_the_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from app.service import FlowService\n", encoding="utf-8")
    assert forbidden_in(imported_packages(module), {"app"}) == ["app.service"]
