"""Runs the console examples of docs/firmware.md ("Try it in the simulator": provisioning a meter from
its profile with `nguvu meter eeprom`, and over the serial line) and compares their output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.store import FileStore
from tokencore import BaseDate, Issuer, KeyParams, MeterProfile

if TYPE_CHECKING:
    from conftest import Simulator

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


def sh_blocks(section: str) -> list[list[str]]:
    """The commands of each ```sh block of a docs/firmware.md section (continuation lines joined)."""
    doc = (ROOT / "docs" / "firmware.md").read_text()
    text = doc.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for part in text.split("```sh")[1:]:
        body = part.split("```", 1)[0].replace("\\\n", " ")
        blocks.append([" ".join(line.split()) for line in body.splitlines() if line and not line.startswith("#")])
    return blocks


def test_technician_provisioning_as_written(simulator: Simulator, tmp_path: Path) -> None:
    """The technician's commands of "Provisioning a meter", with a test vending key file in place of
    /secure/vending-key.hex and the simulator in place of the board: the `nguvu` lines run as written;
    the avrdude lines upload the image the build made and the .eep the command wrote, which the
    simulator then loads (and the serial path does the same on the simulated port)."""
    (tmp_path / "vk.hex").write_text("ABABABABABABABAB")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    eeprom_block, serial_block = sh_blocks("Provisioning a meter")
    uploads = []
    for command in eeprom_block:
        command = command.split(" # ", 1)[0].replace("/secure/vending-key.hex", str(tmp_path / "vk.hex"))
        if command.startswith("avrdude "):
            uploads.append(command.split("-U ", 1)[1])
            continue
        proc = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, (command, proc.stderr)
    assert uploads == ["flash:w:firmware/build/avr-ea07/meter.hex:i", "eeprom:w:meter-0001.eep:i"]
    assert (ROOT / "firmware/build/avr-ea07/meter.hex").exists()
    meter = Meter.load(FileStore(tmp_path / "meter-0001.json"), MeterSettings(), 0)
    k = meter.state.key
    params = KeyParams(sgc=k.sgc, ti=k.ti, krn=k.krn, base_date=BaseDate.from_year(meter.provenance.base_year))
    token = Issuer(MeterProfile(meter.state.pan, params), k.key).credit("7", at=datetime(2025, 1, 2), rnd=1)
    run = simulator.run(["INFO", f"TOKEN {token.token}"], tmp_path / "ee.bin", image=tmp_path / "meter-0001.eep")
    assert run.replies() == [
        "INFO pan=600727012345678977 drn=01234567897 sgc=123456 ti=01 krn=1 kt=2 ken=255 ea=07 bd=2014"
        " fw=nguvu-uno/0.1",
        "RESULT accept amount=7.0 credit=7.0",
    ]
    assert serial_block == ["nguvu meter provision meter-0001.json --serial /dev/ttyACM0"]
    link = tmp_path / "ttyACM0"
    board = subprocess.Popen(
        [str(simulator.harness), "-e", str(tmp_path / "fresh.bin"), "-p", str(link), str(simulator.elfs["ea07"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            assert time.monotonic() < deadline and board.poll() is None, "the harness did not create the pty"
            time.sleep(0.05)
        command = serial_block[0].replace("/dev/ttyACM0", str(link))
        proc = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        board.terminate()
        board.communicate(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("INFO pan=600727012345678977 drn=01234567897 sgc=123456 ")
