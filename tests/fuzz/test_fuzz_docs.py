"""docs/reliability.md's fuzzing section: every command it gives names files that exist, and every
environment variable it sets is read by the file it runs (the runs themselves are the other tests here
and in tests/api)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fuzzing_commands() -> list[str]:
    text = (ROOT / "docs" / "reliability.md").read_text()
    section = text.split("## Fuzzing", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_documented_fuzzing_command_names_real_files_and_variables() -> None:
    commands = fuzzing_commands()
    assert len(commands) >= 8
    for command in commands:
        words = shlex.split(command)
        env = [w.split("=", 1)[0] for w in words if re.fullmatch(r"[A-Z_]+=\S+", w)]
        files = [ROOT / w for w in words if w.endswith(".py")]
        assert files, command
        assert (ROOT / words[len(env)]).exists(), command  # the program: .venv/bin/pytest or python
        for path in files:
            assert path.is_file(), command
        for name in env:
            assert any(name in path.read_text() for path in files) or name == "NGUVU_PURE_PYTHON", command
