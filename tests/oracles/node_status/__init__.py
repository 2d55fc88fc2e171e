"""``@digitalbazaar/vc-bitstring-status-list`` (npm) as a second status oracle.

:func:`node_checker` installs the pinned package with npm into the user cache
(``~/.cache/mchub/npm-status-<version>/``, once) and returns a function that runs
``check.mjs`` (beside this file) with Node on a list of credentials; None when Node or
npm is missing or the install fails (the tests using it skip then).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from hub.settings import default_cache_dir

PACKAGE: Final = "@digitalbazaar/vc-bitstring-status-list"
VERSION: Final = "2.0.1"
SCRIPT: Final = Path(__file__).with_name("check.mjs")

NodeChecker = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def node_checker(cache_dir: Path | None = None) -> NodeChecker | None:
    """The checker, or None when Node/npm or the package cannot be had."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    home = (cache_dir or default_cache_dir()) / f"npm-status-{VERSION}"
    module = home / "node_modules" / PACKAGE / "package.json"
    if not module.exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "package.json").write_text('{"private": true, "type": "module"}\n')
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(home),
             f"{PACKAGE}@{VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not module.exists():
            return None
    script = home / "check.mjs"
    shutil.copyfile(SCRIPT, script)  # resolves the package from home/node_modules

    def check(credentials: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [node, str(script)],
            input=json.dumps({"credentials": credentials}),
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
        return results

    return check


def installed_version(cache_dir: Path | None = None) -> str:
    """The installed package's version (for reports)."""
    home = (cache_dir or default_cache_dir()) / f"npm-status-{VERSION}"
    data = json.loads((home / "node_modules" / PACKAGE / "package.json").read_text())
    return str(data["version"])
