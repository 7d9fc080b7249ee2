"""Every example in docs/engine.md runs: the Python ones as doctests, the console ones through the CLI."""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.apps import app
from cli.main import main  # noqa: F401  (registers every command module)

DOC = Path(__file__).resolve().parent.parent / "docs" / "engine.md"


def test_python_examples() -> None:
    failures, attempted = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert attempted >= 10 and failures == 0


def console_examples() -> list[tuple[str, str]]:
    examples = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), re.S):
        for chunk in block.split("$ ")[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output.strip()))
    return examples


@pytest.mark.parametrize(("command", "expected"), console_examples())
def test_console_examples(command: str, expected: str) -> None:
    args = shlex.split(command)
    assert args[0] == "nguvu"
    result = CliRunner().invoke(app, args[1:])
    assert result.exit_code == 0 and result.stdout.strip() == expected
