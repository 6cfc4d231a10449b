"""The import arrows of ``s2l_model`` run one way: down the stages, with no cycle between modules.

A stage may use the stages listed before it, never one after it (the data flows video → tracks → canonical
geometry → training set → model → profile → rendered frames → encoded video; the pipelines join them at the
top). Imports inside functions count too: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "s2l_model"

#: The stages from the bottom up; a package may import from its own layer or any layer before it.
LAYERS: list[set[str]] = [
    {"errors", "native", "device", "configs", "progress"},  # small shared utilities, no stage
    {"media"},
    {"sample"},
    {"geometry"},
    {"tracking"},
    {"metrics"},
    {"prepare"},
    {"features"},
    {"dataset"},
    {"fields"},
    {"models"},
    {"engine"},
    {"profile"},
    {"render"},
    {"evaluate"},
    {"dub"},
    {"tts"},
    {"batch"},
    {"pipelines"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The ``s2l_model`` modules that ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("s2l_model"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("s2l_model"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for k, layer in enumerate(LAYERS):
        if top in layer:
            return k
    raise AssertionError(f"{module}: package {top!r} is in no layer of tests/test_architecture.py")


def test_every_import_points_down_the_stages() -> None:
    upward = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module != "s2l_model"
        for target in targets
        if target != "s2l_model" and _layer(target) > _layer(module)
    ]
    assert not upward, "imports against the stage order:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its modules is not an arrow back from them
    edges = {m: {t for t in ts if not (m.startswith(t + ".") and graph.get(t))} for m, ts in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" → ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
