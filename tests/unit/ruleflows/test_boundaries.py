"""ruleflows is a pure library: it imports neither the app nor any web, database or queue package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "ruleflows"
FORBIDDEN = {"app", "litestar", "sqlalchemy", "sqlmodel", "arq", "redis", "alembic", "httpx"}


@pytest.mark.parametrize("source", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_the_engine_imports_nothing_from_the_app_or_infrastructure(source: Path) -> None:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_json_logic_is_called_only_by_the_wrapper() -> None:
    users = [p.name for p in PACKAGE.rglob("*.py") if "json_logic" in p.read_text(encoding="utf-8")]
    assert users == ["logic.py"]
    assert "json_logic.jsonLogic" not in (PACKAGE / "logic.py").read_text(encoding="utf-8")
