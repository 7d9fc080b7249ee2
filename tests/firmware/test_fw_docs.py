"""Runs the simulator example of docs/firmware.md ("Try it in the simulator") and compares its output."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.firmware

ROOT = Path(__file__).resolve().parents[2]


def test_simulator_example(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "firmware.md").read_text()
    block = doc.split("## Try it in the simulator", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    commands = [line[2:] for line in block.strip().splitlines() if line.startswith("$ ")]
    expected = [line for line in block.strip().splitlines() if not line.startswith("$ ")]
    assert len(commands) == 3 and expected
    eeprom = str(tmp_path / "ee.bin")
    output = ""
    for command in commands:
        proc = subprocess.run(
            command.replace("/tmp/nguvu-ee.bin", eeprom),
            shell=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        output = proc.stdout
    assert output.splitlines() == expected
