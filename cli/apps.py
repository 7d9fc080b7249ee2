"""The Typer command groups. Each `cli/*` module registers its commands on one of these.

The groups import those modules only when the command line names a command they might hold, so that
`nguvu token credit` or `nguvu meter pan` loads the token engine and Typer, never the vending service
(SQLAlchemy, Starlette, uvicorn...) that `nguvu serve` needs: a vendor script calling the CLI once per
token would pay that start-up every time. COMMAND_MODULES says which modules register commands on which
group; a new command module is one line there (tests/test_cli_lazy.py checks the table is complete).
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup
from typer.main import get_group

# Group name -> the modules that register commands on it, in the order they are tried when a command
# is looked up: the light ones first, so that looking up a command stops before the heavy ones.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "nguvu": ("cli.service_cmds", "cli.key_cmds", "cli.rekey_cmds", "cli.demo"),
    "token": ("cli.token_cmds", "cli.batch"),
    "meter": ("cli.token_cmds", "cli.meter_cmds", "cli.meter_provision_cmds", "cli.service_cmds"),
}


class LazyGroup(TyperGroup):
    """A command group that imports the modules of its commands when one is asked for by name (all of
    them only to list the commands, for --help or a misspelt name)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        modules = iter(COMMAND_MODULES.get(self.name or "", ()))
        while cmd_name not in self.commands and (module := next(modules, None)):
            self._load(module)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        for module in COMMAND_MODULES.get(self.name or "", ()):
            self._load(module)
        return super().list_commands(ctx)

    def _load(self, module: str) -> None:
        importlib.import_module(module)
        # The module registered its commands on the Typer object; build them as Typer would have.
        self.commands.update(get_group(_TYPERS[self.name or ""]).commands)


app = typer.Typer(
    name="nguvu",
    help="Nguvu prepaid-electricity vending: STS tokens, meters, the vending service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyGroup,
)
token_app = typer.Typer(
    help="Issue and decode STS tokens (vendor commands).", no_args_is_help=True, cls=LazyGroup
)
meter_app = typer.Typer(
    help="Meter identities, emulated meters and registered meters.", no_args_is_help=True, cls=LazyGroup
)


def _version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import version

    from tokencore.ciphers.native import engine_path_text

    typer.echo(f"nguvu {version('nguvu')} (token engine: {engine_path_text()})")
    raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_version,
        help="Print the version and which token engine path runs (compiled EA07 or pure Python).",
    ),
) -> None:
    """Nguvu prepaid-electricity vending: STS tokens, meters, the vending service."""


app.add_typer(token_app, name="token")
app.add_typer(meter_app, name="meter")
_TYPERS = {"nguvu": app, "token": token_app, "meter": meter_app}
