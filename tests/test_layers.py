"""The layer arrows of style.md, enforced on the source:

    cli ──► api ──► tokencore
      └───► meter_emulator ──► tokencore

tokencore imports only the standard library and `cryptography` (its `testing` module also hypothesis),
and reads no clock, environment, random source or file.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tokencore", "meter_emulator", "api", "cli")
# package -> project packages it must not import
FORBIDDEN = {
    "tokencore": {"meter_emulator", "api", "cli"},
    "meter_emulator": {"api", "cli"},
    "api": {"cli", "meter_emulator"},
    "cli": set(),
}
# Standard-library modules that would give tokencore I/O, a clock, the environment or randomness.
TOKENCORE_NO_IO = {
    "os",
    "io",
    "time",
    "random",
    "secrets",
    "socket",
    "subprocess",
    "pathlib",
    "shutil",
    "uuid",
}
TOKENCORE_NO_CALLS = {"now", "utcnow", "today", "open", "getenv", "urandom", "time_ns"}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", PACKAGES)
def test_layer_arrows(package: str) -> None:
    files = sources(package)
    assert files, f"{package} has no sources"
    for path in files:
        bad = imported_roots(ast.parse(path.read_text())) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: against the layer arrows"


# The one exception: the module that picks the EA07 implementation reads NGUVU_PURE_PYTHON (and nothing
# else from the environment). It selects compiled or pure Python code, never a result.
PATH_SELECTOR = Path("tokencore/ciphers/native.py")


def test_tokencore_imports_only_stdlib_and_cryptography() -> None:
    for path in sources("tokencore"):
        allowed = set(sys.stdlib_module_names) | {"tokencore", "cryptography"}
        if path.name == "testing.py":
            allowed.add("hypothesis")
        tree = ast.parse(path.read_text())
        extra = imported_roots(tree) - allowed
        assert not extra, f"{path.relative_to(ROOT)} imports {sorted(extra)}"
        io = imported_roots(tree) & TOKENCORE_NO_IO
        if path.relative_to(ROOT) == PATH_SELECTOR:
            assert io == {"os"} and only_reads_the_path_switch(tree), (
                f"{PATH_SELECTOR} may only read NGUVU_PURE_PYTHON"
            )
            io = set()
        assert not io, (
            f"{path.relative_to(ROOT)} imports {sorted(io)}: tokencore does no I/O and reads no clock"
        )
        for node in ast.walk(tree):
            name = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else None
            )
            assert name not in TOKENCORE_NO_CALLS, f"{path.relative_to(ROOT)}:{node.lineno} uses {name}"  # type: ignore[attr-defined]


def only_reads_the_path_switch(tree: ast.AST) -> bool:
    """Every use of `os` in the tree is `os.environ.get("NGUVU_PURE_PYTHON", ...)`."""
    uses = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "os"]
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and ast.unparse(n.func) == "os.environ.get"
        and n.args
        and isinstance(n.args[0], ast.Constant)
        and n.args[0].value == "NGUVU_PURE_PYTHON"
    ]
    return len(uses) == len(calls)


def test_the_check_catches_a_violation() -> None:
    tree = ast.parse("from api.app import create_app\nimport cli.main\nfrom . import sibling\n")
    assert imported_roots(tree) == {"api", "cli"}
    switch = 'import os\n_x = os.environ.get("NGUVU_PURE_PYTHON", "")\n'
    assert only_reads_the_path_switch(ast.parse(switch))
    for other in ('os.environ.get("HOME")', "os.getcwd()", 'os.environ["NGUVU_PURE_PYTHON"]'):
        assert not only_reads_the_path_switch(ast.parse(switch + other))
