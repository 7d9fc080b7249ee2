"""Entry point of the `nguvu` console command. The command groups import the module of a command only
when it runs (see cli/apps.py), so `nguvu token ...` starts without loading the vending service."""

from cli.apps import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
