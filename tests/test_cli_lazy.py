"""The CLI imports a command's module only when it runs: the vendor commands never load the service."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import cli
from cli.apps import COMMAND_MODULES, app, meter_app, token_app

SERVICE_PACKAGES = {"api", "sqlalchemy", "sqlmodel", "uvicorn", "starlette", "alembic", "httpx", "cli.demo"}
# Typer 0.29 validates every option with pydantic (+11 MB per start): pyproject.toml keeps it below that.
HEAVY_PACKAGES = {*SERVICE_PACKAGES, "pydantic", "rich"}
METER = ["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1", "--krn", "1", "--base-date", "1993"]
KEY = ["--vending-key", "ABABABABABABABAB"]

# Runs the console command's entry point in a fresh interpreter, then reports what it imported.
PROBE = """
import json, sys
from cli.main import main
sys.argv = ["nguvu", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_fresh(args: list[str]) -> tuple[int, list[str], list[str]]:
    """(exit code, output lines before the report, modules loaded) of `nguvu ARGS` in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=60
    )
    *lines, report = done.stdout.splitlines()
    data = json.loads(report)
    return data["code"], lines, data["modules"]


def among(modules: list[str], packages: set[str]) -> list[str]:
    return [m for m in modules if m in packages or m.split(".")[0] in packages]


@pytest.mark.parametrize(
    ("args", "expected", "heavy"),
    [
        (["token", "credit", *METER, *KEY, "--units", "0.1", "--at", "2004-03-01T13:55", "--rnd", "5"],
         "2371 6100 5011 8319 4197", HEAVY_PACKAGES),
        (["token", "decode", "0000 0000 0001 5099 7584"], "kind: test", HEAVY_PACKAGES),
        (["meter", "pan", "60072700000000000"], "600727000000000009", HEAVY_PACKAGES),
        # Help is drawn by rich, still without the service.
        (["token", "batch", "--help"], "optional: kt, ken", SERVICE_PACKAGES),
    ],
)  # fmt: skip
def test_vendor_commands_do_not_import_the_service(args: list[str], expected: str, heavy: set[str]) -> None:
    code, lines, modules = run_fresh(args)
    assert code in (0, None) and any(expected in line for line in lines), lines
    assert among(modules, heavy) == []


def test_a_service_command_still_loads_its_module() -> None:
    code, lines, modules = run_fresh(["db", "--help"])
    assert code in (0, None) and any("upgrade" in line for line in lines)
    assert "cli.service_cmds" in modules and "api" in modules


def test_every_command_module_is_in_the_table() -> None:
    """A module that registers commands on a group must be listed for that group in COMMAND_MODULES,
    or the group would not find its commands."""
    for info in pkgutil.iter_modules(cli.__path__):
        importlib.import_module(f"cli.{info.name}")
    groups = {"nguvu": app, "token": token_app, "meter": meter_app}
    for name, group in groups.items():
        callbacks = [c.callback for c in group.registered_commands]
        if group is app:  # the groups a module adds at the top level (db, admin...) are that module's
            subgroups = [
                g.typer_instance for g in app.registered_groups if g.typer_instance not in groups.values()
            ]
            callbacks += [c.callback for sub in subgroups if sub for c in sub.registered_commands]
        for callback in callbacks:
            assert callback is not None
            assert callback.__module__ in COMMAND_MODULES[name], (name, callback.__module__)


def test_help_lists_every_command_and_the_optional_batch_columns() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and all(word in top.stdout for word in ("serve", "demo", "token", "tariff"))
    meter = runner.invoke(app, ["meter", "--help"])
    assert all(word in meter.stdout for word in ("pan", "emulate", "register"))
    batch = runner.invoke(app, ["token", "batch", "--help"])
    assert ", , ," not in batch.stdout and "last_tid" in batch.stdout
