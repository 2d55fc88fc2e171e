"""The layers drawn in the README hold in the code (issue 16, item 1).

import-linter (an independent tool) checks the contracts in pyproject.toml: each layer
imports only the layers below it, the pure layers import no I/O clients, sibling packages
import each other without cycles, and product code never imports the stand-ins. This test
also checks that every package is placed in a layer, so a new one cannot slip past.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

pytestmark = pytest.mark.unit

ROOTS = ("hub", "connectors", "mchub_reference")


def contracts() -> list[dict[str, object]]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    found: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return found


def layered_names() -> set[str]:
    """Every module or package named in a layer of any layers contract."""
    names: set[str] = set()
    for contract in contracts():
        if contract["type"] == "layers":
            for layer in contract["layers"]:  # type: ignore[attr-defined]
                names.update(part.strip() for part in layer.replace(":", "|").split("|"))
    return names


def top_level_modules() -> set[str]:
    """The packages and modules directly inside ``hub`` (the other roots are layers whole)."""
    found = {"connectors", "mchub_reference"}
    for path in (REPO_ROOT / "hub").iterdir():
        if path.name.startswith(("_", ".")) and path.name != "__main__.py":
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            found.add(f"hub.{path.name}")
        elif path.suffix == ".py":
            found.add(f"hub.{path.stem}")
    return found


def test_the_import_contracts_hold() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout, done.stdout[-2000:]


def test_every_package_is_in_a_layer() -> None:
    names = layered_names()
    missing = sorted(m for m in top_level_modules() if m not in names and m != "connectors")
    assert not missing, f"place these in a layer of pyproject.toml [tool.importlinter]: {missing}"
    connectors = {f"connectors.{p.name}" for p in (REPO_ROOT / "connectors").iterdir()
                  if (p / "__init__.py").exists()}
    assert connectors <= names, sorted(connectors - names)


def test_product_code_never_imports_the_stand_ins() -> None:
    """The layers put mchub_reference above everything but the CLI and the benches."""
    layers = next(c for c in contracts() if c["type"] == "layers")["layers"]
    assert isinstance(layers, list)
    below = layers[layers.index("mchub_reference") + 1:]
    product = {part.strip() for layer in below for part in layer.replace(":", "|").split("|")}
    assert {"hub.stream", "hub.gateway", "connectors", "hub.crypto", "hub.core"} <= product


#: exceptions that never leave their module: parse signals turned into violations at once
MODULE_PRIVATE_SIGNALS = {("hub/normalise/al.py", "CsvError")}
BUILTIN_ERRORS = {"Exception", "ValueError", "LookupError", "RuntimeError", "KeyError",
                  "TypeError", "OSError"}


def test_every_error_class_is_in_the_one_exception_tree() -> None:
    """Exception classes live in hub/errors.py and descend from MchubError; elsewhere only
    private parse signals (leading underscore, or listed above) and the stand-ins' own."""
    import ast
    import inspect

    from hub import errors

    outside: list[str] = []
    for root in ("hub", "connectors"):
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if rel == "hub/errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                    continue
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                is_error = bool(bases & BUILTIN_ERRORS) or node.name.endswith("Error")
                if is_error and (rel, node.name) not in MODULE_PRIVATE_SIGNALS:
                    outside.append(f"{rel}:{node.lineno} {node.name}")
    assert not outside, f"define these in hub/errors.py under MchubError: {outside}"
    tree = [c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, Exception) and c.__module__ == "hub.errors"]
    assert len(tree) >= 15
    assert all(issubclass(c, errors.MchubError) for c in tree), tree
    assert errors.MchubError.__doc__ is not None
    documented = errors.__doc__ or ""
    missing = [c.__name__ for c in tree if f"``{c.__name__}``" not in documented]
    assert not missing, f"add to the tree in hub/errors.py's docstring: {missing}"
