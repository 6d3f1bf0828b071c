"""The floors hold: what each package may import (docs/architecture.md), and no import circle."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "matt"

# Direct imports each floor may make, besides itself (docs/architecture.md).
ALLOWED = {
    "core": {"errors"},
    "formats": {"errors", "core", "models"},  # models: formats.weights only (below)
    "runtime": {"errors", "core", "formats"},
    # models: core's numpy helpers, and the sha256 helper (stdlib only) for published weights
    "models": {"errors", "core", "formats.checksums"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> set[str]:
    """Every matt module ``path`` imports, at module level or inside a function."""
    deps = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps |= {_resolve(alias.name) for alias in node.names if alias.name.startswith("matt")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("matt"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                deps.add(full if full in MODULES else _resolve(node.module))
    return {dep for dep in deps if dep}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in GRAPH[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            visit(name)
    return components


def test_no_import_circle_anywhere_in_matt():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_circle(monkeypatch):
    monkeypatch.setitem(GRAPH, "matt.core", GRAPH["matt.core"] | {"matt.formats"})
    monkeypatch.setitem(GRAPH, "matt.formats", GRAPH["matt.formats"] | {"matt.core"})
    assert any({"matt.core", "matt.formats"} <= set(cycle) for cycle in _cycles())


def _floor(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


@pytest.mark.parametrize("floor", sorted(ALLOWED))
def test_a_floor_imports_only_the_floors_below_it(floor):
    wrong = []
    for module, deps in GRAPH.items():
        if _floor(module) != floor:
            continue
        for dep in deps:
            below = dep.removeprefix("matt.")
            if _floor(dep) != floor and not any(below == a or below.startswith(f"{a}.")
                                                for a in ALLOWED[floor]):
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_only_the_weights_format_reads_models():
    readers = {m for m, deps in GRAPH.items() if _floor(m) == "formats" and
               any(d.startswith("matt.models") for d in deps)}
    assert readers == {"matt.formats.weights"}


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import matt.bundle, matt.formats, matt.serve.handler, matt.serve.options
    import matt.serve.repository
    from matt.runtime import Pipeline, available_backends
    from matt.runtime.backends import backend_names

    with Pipeline.load(sys.argv[1], backend="onnxruntime", seed=0) as pipe:
        pipe.predict(np.zeros((2, *pipe.input_shape), np.float32))
    available_backends(), backend_names()
    stages = ("matt.training", "matt.export", "matt.defense", "matt.models", "torch")
    print(sorted({m for m in sys.modules for s in stages if m == s or m.startswith(s + ".")}))
""")


def test_the_onnxruntime_path_imports_no_stage_and_no_torch(rgb_bundle):
    result = subprocess.run([sys.executable, "-c", CHILD, str(rgb_bundle[1].root)],
                            capture_output=True, text=True, timeout=120,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
