"""The domain packages form layers: no package imports, at module or function level, one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[3] / "app" / "domain"


def imported_domains(path: Path) -> set[str]:
    """The other domain packages a module imports, wherever in the module the import is."""
    own = path.relative_to(DOMAIN).parts[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "app.domain":
                names = [f"app.domain.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["app", "domain"] and len(parts) > 2 and parts[2] != own:
                found.add(parts[2])
    return found


def domain_graph() -> dict[str, set[str]]:
    """Each domain package and the domain packages its modules import."""
    graph: dict[str, set[str]] = {}
    for path in sorted(DOMAIN.rglob("*.py")):
        if len(path.relative_to(DOMAIN).parts) < 2:
            continue  # app/domain/__init__.py belongs to no domain
        graph.setdefault(path.relative_to(DOMAIN).parts[0], set()).update(imported_domains(path))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as the packages along it (the first repeated at the end), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(graph.get(start, ()))))]
        if start in done:
            continue
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                path.append(child)
                on_path.add(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_a_cycle_is_found_and_named():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_domain_package_imports_one_that_imports_it_back():
    cycle = find_cycle(domain_graph())
    assert cycle is None, "domain packages import each other in a cycle: " + " -> ".join(cycle or [])
