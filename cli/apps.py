"""The Typer command groups. Each `cli/*` module registers its commands on one of these."""

import typer

app = typer.Typer(
    name="nguvu",
    help="Nguvu prepaid-electricity vending: STS tokens, meters, the vending service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
token_app = typer.Typer(help="Issue and decode STS tokens (vendor commands).", no_args_is_help=True)
meter_app = typer.Typer(help="Meter identities, emulated meters and registered meters.", no_args_is_help=True)

app.add_typer(token_app, name="token")
app.add_typer(meter_app, name="meter")
