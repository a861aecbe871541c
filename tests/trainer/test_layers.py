"""`trainer/` is a table of contents: rooms by concern that import downward only, no cycles, no TFX,
and the paths users write into their pipelines still import."""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

import tfx_transfer.trainer as trainer_package

TRAINER_DIR = os.path.dirname(os.path.abspath(trainer_package.__file__))
PREFIX = "tfx_transfer.trainer"
TOP_MODULES = {"__init__", "run_config", "run_fn", "training_data", "transfer"}
LAYERS = trainer_package.LAYERS


def _modules() -> Dict[str, str]:
    """Every module under trainer/, as its dotted name below `tfx_transfer.trainer` -> its path."""
    found = {}
    for root, _, files in os.walk(TRAINER_DIR):
        if "__pycache__" in root:
            continue
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, name), TRAINER_DIR)[: -len(".py")]
                found[rel.replace(os.sep, ".")] = os.path.join(root, name)
    return found


def _imports(path: str) -> List[Tuple[str, int]]:
    """(imported name, line) of every import in the file, at any depth (function-level included)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno} uses a relative import; write {PREFIX}...")
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _trainer_edges() -> Dict[str, Set[str]]:
    """module -> the trainer modules it imports (a package import counts as its __init__)."""
    modules = _modules()
    edges: Dict[str, Set[str]] = {}
    for module, path in modules.items():
        edges[module] = set()
        for name, _ in _imports(path):
            if not name.startswith(PREFIX + "."):
                continue
            target = name[len(PREFIX) + 1:]
            if target in modules:
                edges[module].add(target)
            elif f"{target}.__init__" in modules and target != module.rsplit(".", 1)[0]:
                edges[module].add(f"{target}.__init__")
    return edges


def _room(module: str) -> str:
    """The room a module lives in, or '' for the top level."""
    return module.split(".")[0] if "." in module else ""


def test_top_level_holds_only_the_user_entry_points_and_the_rooms():
    entries = {name for name in os.listdir(TRAINER_DIR) if name != "__pycache__"}
    top_modules = {name[: -len(".py")] for name in entries if name.endswith(".py")}
    folders = {name for name in entries if os.path.isdir(os.path.join(TRAINER_DIR, name))}
    assert top_modules == TOP_MODULES
    assert folders == set(LAYERS)


@pytest.mark.parametrize("room", LAYERS)
def test_every_room_says_what_lives_there_and_what_it_may_import(room):
    init = os.path.join(TRAINER_DIR, room, "__init__.py")
    docstring = ast.get_docstring(ast.parse(open(init, encoding="utf-8").read())) or ""
    assert "May import:" in docstring, f"{init} must say what it may import"
    allowed = LAYERS[: LAYERS.index(room)]
    said = docstring.split("May import:")[1]
    assert all(f"`{lower}`" in said for lower in allowed), said
    room_modules = {m.split(".")[1] for m in _modules() if _room(m) == room and not m.endswith("__init__")}
    assert room_modules, f"{room} holds no module"
    assert all(f"`{name}`" in docstring for name in room_modules), (room, sorted(room_modules), docstring)


def test_rooms_import_downward_only():
    upward = []
    for module, targets in _trainer_edges().items():
        room = _room(module)
        if not room:
            continue  # the top level may import every room
        allowed = set(LAYERS[: LAYERS.index(room) + 1])
        upward += [f"{module} -> {target}" for target in targets if _room(target) not in allowed]
    assert upward == [], "rooms import only from rooms listed before them in trainer.LAYERS:\n" + "\n".join(upward)


def test_the_checks_read_real_edges():
    # The checks here would pass vacuously if they read no edges; prove they see known ones.
    edges = _trainer_edges()
    assert "training.head" in edges["selection.probe"]
    assert "run_config" in edges["transfer"]


def test_no_import_cycles():
    edges = _trainer_edges()
    state: Dict[str, int] = {}
    cycles = []

    def visit(module: str, path: List[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_trainer_imports_no_tfx():
    found = [
        f"{path}:{line} imports {name}"
        for path in _modules().values()
        for name, line in _imports(path)
        if name == "tfx" or name.startswith("tfx.")
    ]
    assert found == []


def test_paths_users_write_still_import():
    from tfx_transfer.trainer.run_config import RunConfig
    from tfx_transfer.trainer.run_fn import run_fn

    assert callable(run_fn) and run_fn.__module__ == "tfx_transfer.trainer.run_fn"
    assert RunConfig().to_dict()["strategy"] == "auto"
