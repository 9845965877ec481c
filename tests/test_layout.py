"""The package's shape, checked: no import cycle, modules and functions of a readable size (issue 15's rules).

The direction of imports between layers is import-linter's contract in pyproject.toml (run by ``make lint``); this
file checks what a layers contract cannot see: cycles inside one package, and size.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the dev extra: pip install -e '.[dev]')")

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sparksweep"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS_ALLOWED: dict[str, str] = {
    "sweep/_api.py:optimize": "the public front door: a docstring for 18 keyword arguments, a body of 30 lines",
}
"""``module:function`` -> why it may be longer (issue 15 excepts the families' space tables only)."""


def _cycles(graph: object, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.find_modules_directly_imported_by(node) & modules:  # type: ignore[attr-defined]
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_in_the_package() -> None:
    graph = grimp.build_graph("sparksweep")  # imports for type checking count: they tie modules together too
    modules = {m for m in graph.modules if m.startswith("sparksweep.")}
    # A package's __init__ re-exporting its modules is not a cycle unless a module imports its own package back.
    cycles = _cycles(graph, modules)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_over_the_size_limit() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    over = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by concept): {over}"


def test_no_function_over_the_size_limit() -> None:
    over = {}
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                key = f"{path.relative_to(PACKAGE)}:{node.name}"
                if length > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS_ALLOWED:
                    over[key] = length
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines: {over}"
