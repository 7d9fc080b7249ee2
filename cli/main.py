"""Entry point of the `nguvu` console command: imports every command module, then runs the app."""

from cli import (
    batch,  # noqa: F401
    demo,  # noqa: F401
    meter_cmds,  # noqa: F401
    service_cmds,  # noqa: F401
    token_cmds,  # noqa: F401  (registers `nguvu token ...` and `nguvu meter pan`)
)
from cli.apps import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
