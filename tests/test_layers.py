"""The import structure of freqlens: layers in one order, no upward import and no cycle (function-level imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom to top. A module may import its own top-level package and any package of a lower layer, nothing else.
LAYERS: list[set[str]] = [
    {"errors"},
    {"freqlens"},  # the package's __init__: version and FreqlensError
    {"provenance", "plotting", "stats", "slurm", "weights"},
    {"fourier", "contract", "callables", "radii", "checks"},
    {"data", "views", "verdicts"},
    {"models", "attacks"},
    {"checkpoint"},
    {"sources"},
    {"spectral_layers"},
    {"theory"},
    {"analyses", "train"},
    {"runs", "executors"},
    {"trained"},
    {"experiments"},
    {"report"},
    {"runner"},
    {"audit"},
    {"commands"},
    {"cli"},
    {"__main__"},
]
LAYER = {package: i for i, packages in enumerate(LAYERS) for package in packages}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "freqlens").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The freqlens modules ``name`` imports anywhere in its file (top level, functions, TYPE_CHECKING blocks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "freqlens"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "freqlens":
                continue
            for alias in node.names:  # ``from freqlens import runs`` imports the module freqlens.runs
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_package_has_a_layer() -> None:
    assert {_top(m) for m in _graph()} == set(LAYER)


def test_no_upward_or_sideways_import() -> None:
    bad = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _top(target) != _top(module) and LAYER[_top(target)] >= LAYER[_top(module)]
    ]
    assert bad == []


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize(
    ("source", "planted"),
    [
        ("freqlens/runs.py", "from freqlens.experiments.base import Cell\n"),  # upward
        ("freqlens/fourier.py", "def f():\n    from freqlens import views\n"),  # upward, inside a function
    ],
)
def test_the_checks_catch_a_planted_upward_import(source: str, planted: str, monkeypatch, tmp_path: Path) -> None:
    copy = tmp_path / "src"
    for path in (SRC / "freqlens").rglob("*.py"):
        target = copy / path.relative_to(SRC)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text() + (planted if path.relative_to(SRC).as_posix() == source else ""))
    monkeypatch.setattr(__import__(__name__), "SRC", copy)
    with pytest.raises(AssertionError):
        test_no_upward_or_sideways_import()
    if source == "freqlens/fourier.py":  # views imports fourier: planting fourier -> views also closes a cycle
        with pytest.raises(AssertionError):
            test_no_import_cycle()
