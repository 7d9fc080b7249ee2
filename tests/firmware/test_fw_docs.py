"""Runs the console examples of docs/firmware.md ("Try it in the simulator": provisioning a meter from
its profile with `nguvu meter eeprom`, and over the serial line) and compares their output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.firmware

ROOT = Path(__file__).resolve().parents[2]


def console_blocks() -> list[str]:
    doc = (ROOT / "docs" / "firmware.md").read_text()
    section = doc.split("## Try it in the simulator", 1)[1].split("\n## ", 1)[0]
    return [part.split("```", 1)[0] for part in section.split("```console")[1:]]


def run_block(block: str, tmp_path: Path) -> None:
    """Runs each `$ ` command as written (with /tmp/nguvu-* moved into tmp_path, and this environment's
    `nguvu` on PATH); the lines after a command are its expected stdout."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    lines = block.strip().splitlines()
    assert lines and lines[0].startswith("$ ")
    i = 0
    while i < len(lines):
        command = lines[i][2:].replace("/tmp/nguvu-", f"{tmp_path}/nguvu-")
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i].replace("/tmp/nguvu-", f"{tmp_path}/nguvu-"))
            i += 1
        proc = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode == 0, (command, proc.stderr)
        if not command.startswith("make "):
            assert proc.stdout.splitlines() == expected, command


def test_simulator_examples(tmp_path: Path) -> None:
    blocks = console_blocks()
    assert len(blocks) == 2
    for block in blocks:
        run_block(block, tmp_path)
