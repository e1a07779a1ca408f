"""The package's layering, checked from the source: no import cycles, I/O at the bottom.

Every ``import`` of a ``kaapana_executor`` module is read with ``ast`` (function-level and
``TYPE_CHECKING`` imports included: they are dependencies too) and folded to its package
(``kaapana_executor.k8s.gateway`` → ``k8s``; top-level modules stand for themselves).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "kaapana_executor"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).with_suffix("")
        yield ".".join(relative.parts), path


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("kaapana_executor.")}


def _unit(module: str) -> str:
    """The package a module belongs to (``k8s``), or the top-level module itself (``config``)."""
    first = module.split(".", maxsplit=1)[0]
    return first.removesuffix(".__init__")


def _existing(name: str) -> str | None:
    """The module an imported name refers to (``a.b.C`` → ``a.b``), if it is ours."""
    parts = name.split(".")[1:]
    while parts:
        candidate = PACKAGE.joinpath(*parts)
        if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in _modules():
        unit = _unit(module)
        edges = graph.setdefault(unit, set())
        for imported in _imports(path):
            target = _existing(imported)
            if target is not None and _unit(target) != unit:
                edges.add(_unit(target))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in ``graph`` (as a path), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_import_cycle_between_packages() -> None:
    cycle = _cycle(package_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_check_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


#: What each layer may import (besides the leaf modules errors, paths, quantity, datadir).
LEAVES = {"errors", "paths", "quantity", "datadir", "__init__"}
ALLOWED = {
    "k8s": set(),
    "models": set(),
    "contract": {"models", "k8s"},
    "resources": {"models", "contract"},
    "images": {"k8s", "models", "contract", "config"},
    "ledger": {"k8s"},
    "launch": {"k8s", "models", "contract", "resources", "config"},
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_below_them(layer: str) -> None:
    used = package_graph()[layer] - LEAVES
    assert used <= ALLOWED[layer], f"{layer} imports {sorted(used - ALLOWED[layer])}"


def test_only_the_gateway_builds_a_core_api_client() -> None:
    users = [
        path.relative_to(REPO).as_posix()
        for _, path in _modules()
        if "CoreV1Api(" in path.read_text()
    ]
    assert users == ["kaapana_executor/k8s/gateway.py"]


def test_examples_never_import_tests() -> None:
    offenders = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "examples").rglob("*.py")
        if any(name == "tests" or name.startswith("tests.") for name in _all_imports(path))
    ]
    assert offenders == []


def _all_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found
