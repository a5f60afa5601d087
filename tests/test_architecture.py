"""The house rules of DESIGN.md that the code can check: read every module of app/ and pipelines/
with `ast` (imports anywhere in a module count, function-local ones included) and hold the import
graph acyclic, the layers apart, and every module under 400 lines."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "pipelines")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def runtime_nodes(tree: ast.AST):
    """Every node of `tree` but those under `if TYPE_CHECKING:` (imports for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in [child, *runtime_nodes(child)])
            continue
        yield node
        yield from runtime_nodes(node)


def imported(name: str, path: Path) -> set[str]:
    """Every module `name` imports at run time (absolute names; `from pkg import mod` names pkg.mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules() else base)
    return found


@cache
def graph() -> dict[str, set[str]]:
    """module -> the modules of app / pipelines it imports."""
    return {
        name: {other for other in imported(name, path) if other in modules() and other != name}
        for name, path in modules().items()
    }


def third_party(name: str) -> set[str]:
    return {m.split(".")[0] for m in imported(name, modules()[name]) if m.split(".")[0] not in PACKAGES}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_walk_sees_the_packages():
    assert {"app.cli", "app.training", "app.forecasting", "app.genomics", "app.tracking"} <= set(modules())
    assert "app.training" in graph()["app.forecasting.train"]


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph()[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph()):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_at_most_400_lines(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{modules()[name].relative_to(ROOT)}: {lines} lines (at most {MAX_LINES})"


def test_tracking_imports_nothing_else_of_app():
    bad = {
        (name, other)
        for name in graph()
        if within(name, "app.tracking")
        for other in graph()[name]
        if within(other, "app") and not within(other, "app.tracking") and other != "app"
    }
    assert not bad, f"app.tracking imports the rest of app: {sorted(bad)}"


def test_pipelines_never_import_app():
    bad = {(n, o) for n in graph() if within(n, "pipelines") for o in graph()[n] if within(o, "app")}
    assert not bad, f"pipelines imports app: {sorted(bad)}"


def test_models_import_no_pipelines_lightning_mlflow_or_optuna():
    bad = {
        (name, other)
        for name in graph()
        if within(name, "app.models")
        for other in graph()[name] | third_party(name)
        if within(other, "pipelines") or other in ("lightning", "mlflow", "optuna")
    }
    assert not bad, f"app.models imports what it must not: {sorted(bad)}"


def test_training_core_imports_no_task_package():
    tasks = ("app.forecasting", "app.genomics", "app.tasks", "app.cli")
    bad = {
        (n, o)
        for n in graph()
        if within(n, "app.training")
        for o in graph()[n]
        if any(within(o, t) for t in tasks)
    }
    assert not bad, f"app.training imports a task: {sorted(bad)}"


def test_task_packages_do_not_import_each_other():
    pairs = [("app.forecasting", "app.genomics"), ("app.genomics", "app.forecasting")]
    bad = {(n, o) for a, b in pairs for n in graph() if within(n, a) for o in graph()[n] if within(o, b)}
    assert not bad, f"one task package imports the other: {sorted(bad)}"


def test_the_experiment_configs_import_without_torch():
    """A command checks its config before it imports torch (issue 19): nothing app.experiments
    imports, its parent packages' __init__ included, imports torch, Lightning, MLflow or Optuna."""
    seen: set[str] = set()
    todo = ["app.experiments"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo.extend([*graph()[name], *(p for p in parents if p in modules())])
    heavy = ("torch", "lightning", "mlflow", "optuna", "polars")
    bad = sorted((name, lib) for name in seen for lib in third_party(name) if lib in heavy)
    assert not bad, f"app.experiments imports what loads slowly: {bad}"
    assert {"app.models.config", "app.models", "app.memory.spec", "app.memory"} <= seen
