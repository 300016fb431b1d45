"""The layout's rules, checked on the source tree (docs/dev/architecture.md).

Every module, class and function stays small enough to hold in one's head, and
imports flow one way: a layer may use the layers below it, never those above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dicomio"

MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 100

#: Layer of each top-level name in the package, lowest first. A module may
#: import its own layer and the ones below; the adapters sit side by side at
#: the top, and the CLI above them (it launches napari and dask runs).
LAYERS: dict[str, int] = {
    "errors": 0, "tsyntax": 0, "samples": 0,
    "sources": 1,
    "dataset": 2,
    "pixels": 3,
    "backends": 4,
    "values": 5,
    "image": 6,
    "series": 7,
    "encode": 8,
    "imageio_plugin": 9, "_imageio_hook": 9, "_napari": 9, "dask": 9,
    "cli": 10, "__main__": 10,
}
#: Codec backends know no file: they see bytes and a pixel description only.
BACKENDS_MAY_USE = {"errors", "tsyntax", "pixels", "backends"}
#: Third-party packages that only one adapter may import.
ADAPTER_ONLY = {
    "imageio": "imageio_plugin",
    "napari": "_napari", "qtpy": "_napari", "PyQt5": "_napari", "PyQt6": "_napari",
    "PySide6": "_napari", "superqt": "_napari", "magicgui": "_napari",
    "vispy": "_napari", "npe2": "_napari",
}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every import in the module (functions included), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if node.module is None or mod == "dicomio":
                found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, mod))
    return found


def _top_level_imports(path: Path) -> set[str]:
    """Internal modules imported when this module is imported (not lazily)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lazy |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lazy |= {n.lineno for n in ast.walk(node) if hasattr(n, "lineno")}
    return {m for line, m in _imports(path) if line not in lazy and m.startswith("dicomio.")}


def _lines(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Full length of a class or function: decorators, signature, docstring and body."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return (node.end_lineno or node.lineno) - start + 1


MODULES = _modules()
IDS = [str(p.relative_to(SRC)) for p in MODULES]


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_sizes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n") + 1
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines > {MAX_MODULE_LINES}"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = _lines(node)
            assert size <= MAX_CLASS_LINES, f"class {node.name}: {size} lines"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = _lines(node)
            assert size <= MAX_FUNCTION_LINES, f"def {node.name}: {size} lines"


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_imports_flow_down(path: Path) -> None:
    me = _name(path)
    mine = _layer(me)
    if mine == "__init__":  # the public API re-exports from every layer
        return
    assert mine in LAYERS, f"new top-level name {mine!r}: give it a layer in LAYERS"
    for line, target in _imports(path):
        root = target.split(".")[0]
        if root in ADAPTER_ONLY:
            assert mine == ADAPTER_ONLY[root], f"{me}:{line} imports {root}"
        if root != "dicomio" or target == "dicomio":
            continue
        theirs = _layer(target)
        if theirs == "__version__" or theirs == "__init__":
            continue
        assert theirs in LAYERS, f"{me}:{line} imports unknown {target}"
        assert LAYERS[theirs] <= LAYERS[mine], (
            f"{me}:{line} imports {target}: layer {mine!r} may not use {theirs!r}")
        if mine == "backends":
            assert theirs in BACKENDS_MAY_USE, f"{me}:{line}: a backend imports {target}"


def test_no_import_cycles() -> None:
    names = {_name(p): p for p in MODULES}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        deps = set()
        for target in _top_level_imports(path):
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                deps.add(target)
        graph[name] = deps
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_every_layer_is_documented() -> None:
    doc = (SRC.parents[1] / "docs" / "dev" / "architecture.md").read_text()
    for layer in LAYERS:
        if layer not in ("errors", "tsyntax", "samples", "__main__"):
            name = f"{layer}/" if (SRC / layer).is_dir() else f"{layer}.py"
            assert name in doc, f"docs/dev/architecture.md does not describe {name}"
