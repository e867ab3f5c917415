"""The house rules of ../shared/STYLE.md, checked on the sources: layers only import downwards,
no library module imports the CLI, no import cycles, small functions and files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vsseg_core", "vsseg_ros")
LAYERS = {
    1: ("labels", "errors", "machine", "package_files", "staging", "image_io", "image_encoding"),
    2: ("metrics", "data", "flow", "visualize", "synth"),
    3: ("model", "bundle"),
    4: ("runtime",),
    5: ("temporal",),
    6: ("bags", "train", "export", "importers", "engine_check", "frame_info"),
    7: ("cli", "__main__"),
}
"""vsseg_core's first-level modules and packages by layer; vsseg_ros is layer 8."""
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
MAX_FUNCTION_LINES = 50
MAX_FILE_LINES = 400
LONG_FUNCTIONS: dict[str, str] = {}
"""'path:function' -> the one-line reason it is longer than MAX_FUNCTION_LINES."""


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of PACKAGES."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file (functions included)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                         for alias in node.names)
    return {name for name in names if name in MODULES}


GRAPH = {module: _imports(path) for module, path in MODULES.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "vsseg_ros":
        return 8
    if len(parts) == 1:  # vsseg_core/__init__.py: the version only
        return 0
    return LAYER_OF[parts[1]]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if m.startswith("vsseg_core.")
                      and m.split(".")[1] not in LAYER_OF)
    assert not unplaced, f"add these to LAYERS (and ../shared/STYLE.md's list): {unplaced}"


def test_layers_only_import_downwards() -> None:
    upward = sorted(f"{m} (layer {_layer(m)}) imports {d} (layer {_layer(d)})"
                    for m, deps in GRAPH.items() for d in deps
                    if _layer(d) > _layer(m) and d.split(".")[:2] != m.split(".")[:2])
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("package", ["vsseg_core.runtime", "vsseg_core.model"])
def test_model_and_runtime_know_nothing_above_them(package: str) -> None:
    forbidden = ("temporal", "bags", "data", "cli", "train")
    reached = sorted(f"{m} imports {d}" for m, deps in GRAPH.items() if m.startswith(package)
                     for d in deps if d.split(".")[1] in forbidden)
    assert not reached, "\n".join(reached)


def test_no_library_module_imports_the_cli() -> None:
    def is_cli(module: str) -> bool:
        parts = module.split(".")
        return "cli" in parts[:2] or parts[:2] == ["vsseg_core", "__main__"] or (
            parts[0] == "vsseg_ros" and "cli" in parts)
    offenders = sorted(f"{m} imports {d}" for m, deps in GRAPH.items() if not is_cli(m)
                       for d in deps if d.startswith("vsseg_core.cli"))
    assert not offenders, "\n".join(offenders)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for dep in sorted(GRAPH[module]):
            if dep not in index:
                visit(dep)
                low[module] = min(low[module], low[dep])
            elif dep in on_stack:
                low[module] = min(low[module], index[dep])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return components


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_cycle_check_finds_a_cycle() -> None:
    GRAPH["vsseg_core.labels"].add("vsseg_core.cli.main")
    try:
        assert any("vsseg_core.labels" in c for c in _cycles())
    finally:
        GRAPH["vsseg_core.labels"].discard("vsseg_core.cli.main")


def test_functions_are_short() -> None:
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                key = f"{path.relative_to(ROOT)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                    long.append(f"{key} has {lines} lines")
    assert not long, "\n".join(long)


def test_files_are_small() -> None:
    large = [f"{p.relative_to(ROOT)} has {n} lines" for p in MODULES.values()
             if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    assert not large, "\n".join(large)
