"""hubbub uses third-party libraries through their public API only (issue 18, Versions):
a private name of a library (``_x``) in ``src/`` breaks silently on the library's next
release. This test reads ``src/`` and fails on any new use:

- an import from a private module (``aiohttp._websocket``) or of a private name;
- ``obj._x`` where hubbub itself defines no ``_x`` (so it can only be a library's);
- ``self._x`` (read, written or overridden as a method) in a class that subclasses a
  library's class which defines ``_x``.

``KNOWN`` lists the uses allowed to remain: none (the last six, all of aiohttp's server,
went in issue 18's round); the test also fails when one listed is gone, so the list
only shrinks.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "hubbub"

KNOWN: set[str] = set()  # none left: aiohttp is used through its public API only


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(SRC).as_posix(): ast.parse(path.read_text())
        for path in sorted(SRC.rglob("*.py"))
    }


def own_classes(trees: dict[str, ast.Module]) -> set[str]:
    return {
        node.name
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }


def own_private_names(trees: dict[str, ast.Module]) -> set[str]:
    """Private names hubbub defines itself: functions, methods, ``self._x = ...`` and
    ``__slots__`` entries of its own classes, module-level names, arguments."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
            ):
                names.update(
                    item.value
                    for item in ast.walk(node.value)
                    if isinstance(item, ast.Constant) and isinstance(item.value, str)
                )
    return {name for name in names if is_private(name)}


def imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted third-party path, for ``import x`` and ``from x import y``."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("hubbub"):
                    found[alias.asname or alias.name.split(".")[0]] = alias.name
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and not node.module.startswith("hubbub")
        ):
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def of_the_standard_library(value: ast.expr, imports: dict[str, str]) -> bool:
    """``os._exit``: a name of a standard-library module (documented there, not third-party)."""
    return (
        isinstance(value, ast.Name)
        and value.id in imports
        and imports[value.id].split(".")[0] in sys.stdlib_module_names
    )


def resolve(dotted: str) -> object | None:
    module_name, _, attribute = dotted.rpartition(".")
    for name, attr in ((dotted, ""), (module_name, attribute)):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return getattr(module, attr, None) if attr else module
    return None


def library_base_privates(node: ast.ClassDef, imports: dict[str, str]) -> set[str]:
    """Private names defined by the library classes ``node`` subclasses."""
    privates: set[str] = set()
    for base in node.bases:
        dotted = ast.unparse(base)
        head, _, rest = dotted.partition(".")
        if head not in imports or imports[head].split(".")[0] in sys.stdlib_module_names:
            continue  # the standard library's classes are not third-party
        target = resolve(imports[head] + (f".{rest}" if rest else ""))
        if isinstance(target, type):
            for klass in target.__mro__:
                if klass.__module__.split(".")[0] not in ("builtins", "hubbub"):
                    privates.update(name for name in vars(klass) if is_private(name))
                    privates.update(getattr(klass, "__slots__", ()))
    return {name for name in privates if is_private(name)}


def uses() -> set[str]:
    trees = modules()
    own = own_private_names(trees)
    found: set[str] = set()
    for where, tree in trees.items():
        imports = imported_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("hubbub"):
                    continue
                if any(is_private(part) for part in node.module.split(".")):
                    found.add(f"{where}: from {node.module}")
                found.update(
                    f"{where}: import {node.module}.{alias.name}"
                    for alias in node.names
                    if is_private(alias.name)
                )
            elif (
                isinstance(node, ast.Attribute)
                and is_private(node.attr)
                and node.attr not in own
                and not of_the_standard_library(node.value, imports)
            ):
                found.add(f"{where}: .{node.attr}")
            elif isinstance(node, ast.ClassDef):
                base_privates = library_base_privates(node, imports)
                for inner in ast.walk(node):
                    name = None
                    if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = inner.name
                    elif (
                        isinstance(inner, ast.Attribute)
                        and isinstance(inner.value, ast.Name)
                        and inner.value.id == "self"
                    ):
                        name = inner.attr
                    if name is not None and name in base_privates:
                        found.add(f"{where}: {node.name}.{name}")
    return found


def test_no_new_private_name_of_a_library() -> None:
    new = uses() - KNOWN
    assert not new, f"private names of libraries used in src/ (use a public API): {sorted(new)}"


def test_the_known_list_only_shrinks() -> None:
    gone = KNOWN - uses()
    assert not gone, f"no longer used: remove from KNOWN in this test: {sorted(gone)}"


def test_the_scan_sees_each_kind_of_use(tmp_path: Path) -> None:
    """The scan is not blind: each kind of use in a sample tree is found."""
    sample = ast.parse(
        "from aiohttp._websocket import models\n"
        "from aiohttp.web import _private\n"
        "from aiohttp import web\n"
        "class Site(web.BaseSite):\n"
        "    def _post(self):\n"
        "        return self._runner\n"
        "def f(route):\n"
        "    route._expect_handler = None\n"
        "    os._exit(1)\n"
    )
    imports = imported_names(sample)
    assert imports["web"] == "aiohttp.web"
    site = next(node for node in ast.walk(sample) if isinstance(node, ast.ClassDef))
    assert "_runner" in library_base_privates(site, imports)
    assert "_expect_handler" not in own_private_names({"x.py": sample})
    exits = [n for n in ast.walk(sample) if isinstance(n, ast.Attribute) and n.attr == "_exit"]
    assert of_the_standard_library(exits[0].value, {"os": "os"})
    assert not of_the_standard_library(exits[0].value, {"os": "aiohttp.web"})
