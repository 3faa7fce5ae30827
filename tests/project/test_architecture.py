"""The folder listing is the architecture: layers that import only downwards, small modules.

Read from the source with `ast` (no module is imported): every `import` and
`from ... import` in components/, at module level or inside a function (the sweep
provider imports the W&B side lazily, and a lazy cycle is still a cycle).

    the Pulumi face      wandb_sweep, sweep_provider, sweep_resources, __init__
    the command          cli/, __main__: beside the face, which it never imports; nothing imports it
    config/              stack config and args -> one checked SweepSettings
    args                 the component's public schema (a TypedDict: no logic)
    wandb/, kubernetes/  the two sides, which never import each other
    checks, errors       shared by all
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "wandb_sweeps"
SOURCE = ROOT / "components"
MAX_LINES = 500
FACE = {"wandb_sweep", "sweep_provider", "sweep_resources", ""}
CLI = {"cli", "__main__"}
LAYER = {"config": 4, "args": 3, "wandb": 2, "kubernetes": 2, "checks": 1, "errors": 0}
"""Higher layers may import lower ones only; the face (5) and the command (5, beside it)
may import anything below them, never each other."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


MODULES = {module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The wandb_sweeps modules `name` imports, resolved to module names."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def third_party_imports(name: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def layer_of(name: str) -> tuple[str, int]:
    inner = name.removeprefix(PACKAGE).lstrip(".")
    top = inner.split(".")[0]
    if top in FACE:
        return "face", 5
    if top in CLI:
        return "cli", 5
    return top, LAYER[top]


def test_the_modules_are_what_the_layers_name() -> None:
    """A new module lands in a side, or the architecture (and this list) says why not."""
    for name in MODULES:
        layer_of(name)  # raises KeyError for a module outside every layer


def test_no_module_is_over_500_lines() -> None:
    files = [*SOURCE.rglob("*.py"), *SOURCE.rglob("*.sh")]
    too_long = {
        str(f.relative_to(ROOT)): n for f in files if (n := len(f.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these (at most {MAX_LINES} lines each): {too_long}"


def test_every_module_says_what_it_owns() -> None:
    missing = [
        str(p.relative_to(ROOT)) for p in MODULES.values() if not ast.get_docstring(ast.parse(p.read_text()))
    ]
    assert not missing, f"no opening docstring: {missing}"


def test_there_is_no_import_cycle() -> None:
    graph = {name: imports_of(name) for name in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_only_downwards(name: str) -> None:
    side, level = layer_of(name)
    for target in imports_of(name):
        if target == PACKAGE:
            continue
        target_side, target_level = layer_of(target)
        if target_side == side:
            continue
        assert target_level < level, f"{name} ({side}) imports {target} ({target_side}): only lower layers"


def test_nothing_imports_the_command() -> None:
    """The command is the top: the face, config and the sides stay usable without it."""
    importers = {
        name: sorted(t for t in imports_of(name) if layer_of(t)[0] == "cli")
        for name in MODULES
        if layer_of(name)[0] != "cli"
    }
    assert {name: found for name, found in importers.items() if found} == {}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(f"{PACKAGE}.wandb.")))
def test_the_wandb_side_imports_no_pulumi_and_no_kubernetes(name: str) -> None:
    assert not third_party_imports(name) & {"pulumi", "pulumi_kubernetes", "kubernetes_validate"}, name


def test_the_command_line_imports_no_face_module_and_nothing_imports_it() -> None:
    """The cli checks stacks without the Pulumi face (no resource is registered, and the
    engine's pickled provider path is not its business); the library never needs it."""
    for name in MODULES:
        side, _ = layer_of(name)
        for target in imports_of(name):
            if target == PACKAGE:
                continue  # the package itself (__version__): its face names load lazily (PEP 562)
            target_side, _ = layer_of(target)
            if side in ("cli", "__main__"):
                assert target_side != "face", f"{name} imports {target} (the Pulumi face)"
            else:
                assert target_side not in ("cli", "__main__"), f"{name} imports the command line ({target})"
    assert f"{PACKAGE}.cli.main" in imports_of(f"{PACKAGE}.__main__")
    assert f"{PACKAGE}.config.from_stack" in imports_of(f"{PACKAGE}.cli.check")


def test_a_cycle_or_an_upward_import_would_be_found() -> None:
    """The checks above see what they are about: the face imports config, config
    imports both sides, and the sweep provider reaches the W&B side lazily."""
    assert f"{PACKAGE}.config.from_args" in imports_of(f"{PACKAGE}.wandb_sweep")
    assert {f"{PACKAGE}.wandb.sweep_file", f"{PACKAGE}.kubernetes.pods"} <= imports_of(
        f"{PACKAGE}.config.from_args"
    )
    assert f"{PACKAGE}.wandb.operations" in imports_of(f"{PACKAGE}.sweep_provider")
    assert f"{PACKAGE}.wandb.status_queries" in imports_of(f"{PACKAGE}.cli.status")
    assert f"{PACKAGE}.config.from_stack" in imports_of(f"{PACKAGE}.cli.status")  # lazily
    assert layer_of(f"{PACKAGE}.__main__") == ("cli", 5)
