"""An emulated meter with no identity and key (`nguvu meter new --unprovisioned`) and the PROVISION
requests of docs/serial-protocol.md §3.6 (tests/firmware/test_fw_vs_emulator.py compares these replies
with the firmware's on random sessions)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from emulator_kit import ManualClock
from typer.testing import CliRunner

from cli.apps import app
from meter_emulator import protocol
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import create_unprovisioned
from meter_emulator.store import FileStore, MemoryStore, StorageError

ID = "PROVISION ID 600727000000000009 123456 01 1 2 255 07 1993"
KEY = "PROVISION KEY E653341F9D5BF36F"
PUBLISHED = "23716100501183194197"
NGUVU = "import cli.meter_cmds; from cli.apps import app; app()"


class FailingStore(MemoryStore):
    def save(self, data: bytes) -> None:
        raise StorageError("disk full")


def send(meter: Meter, clock: ManualClock, line: str) -> str:
    return protocol.handle(meter, line, clock.advance(50))


def test_unprovisioned_meter_then_provisioned_and_kept(tmp_path: Path) -> None:
    clock = ManualClock()
    result = CliRunner().invoke(app, ["meter", "new", str(tmp_path / "m.json"), "--unprovisioned"])
    assert result.exit_code == 0, result.output
    meter = Meter.load(FileStore(tmp_path / "m.json"), MeterSettings(), clock.now)
    assert meter.drain_events() == ["EVENT boot fw=nguvu-emu/0.1 provision=needed"]
    assert send(meter, clock, "INFO") == "INFO provision=needed fw=nguvu-emu/0.1"
    assert send(meter, clock, "STATUS").endswith(" pf=1.00 provision=needed")
    assert send(meter, clock, f"TOKEN {PUBLISHED}") == "ERROR no_key"
    assert send(meter, clock, "LCD") == "LCD |NO KEY          |Provision meter |"
    assert send(meter, clock, KEY) == "ERROR no_id"
    refused = CliRunner().invoke(app, ["meter", "eeprom", str(tmp_path / "m.json"), str(tmp_path / "m.eep")])
    assert refused.exit_code == 2 and "unprovisioned" in refused.output
    assert not (tmp_path / "m.eep").exists()
    assert send(meter, clock, ID) == "OK"
    assert send(meter, clock, KEY) == "OK"
    assert send(meter, clock, f"TOKEN {PUBLISHED}") == "RESULT accept amount=0.1 credit=0.1"
    assert send(meter, clock, ID) == "ERROR provisioned"
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["provisioned"] is True and doc["identity"]["base_date"] == 1993
    again = Meter.load(FileStore(tmp_path / "m.json"), MeterSettings(), clock.now)
    assert send(again, clock, "INFO").startswith("INFO pan=600727000000000009 drn=00000000000 sgc=123456 ")
    assert send(again, clock, f"TOKEN {PUBLISHED}") == "RESULT used"


def test_provisioning_that_cannot_be_stored_leaves_no_key() -> None:
    clock = ManualClock()
    store = MemoryStore()
    create_unprovisioned(store, MeterSettings(), clock.now)
    meter = Meter.load(FailingStore(store.data), MeterSettings(), clock.now)
    assert send(meter, clock, ID) == "OK"
    assert send(meter, clock, KEY) == "ERROR storage"
    assert send(meter, clock, KEY) == "ERROR no_id"  # as the firmware, which reloads its blank state
    assert send(meter, clock, "INFO") == "INFO provision=needed fw=nguvu-emu/0.1"
    assert send(meter, clock, f"TOKEN {PUBLISHED}") == "ERROR no_key"


def test_nguvu_meter_provision_on_an_emulated_meter(tmp_path: Path) -> None:
    """The technician's command against `nguvu meter emulate` of an unprovisioned meter, on its pty."""
    runner = CliRunner()
    blank, profile, link = tmp_path / "blank.json", tmp_path / "profile.json", tmp_path / "ttyMETER0"
    (tmp_path / "dk.hex").write_text("E653341F9D5BF36F")
    key_file = str(tmp_path / "dk.hex")
    for args in (
        ["meter", "new", str(blank), "--unprovisioned"],
        [
            "meter",
            "new",
            str(profile),
            "--meter",
            "600727000000000009",
            "--base-date",
            "1993",
            "--decoder-key-file",
            key_file,
        ],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    command = [sys.executable, "-c", NGUVU, "meter", "emulate", str(blank), "--headless", "--link", str(link)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("SERIAL ")
        result = runner.invoke(app, ["meter", "provision", str(profile), "--serial", str(link)])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("INFO pan=600727000000000009 drn=00000000000 sgc=123456 ")
        again = runner.invoke(app, ["meter", "provision", str(profile), "--serial", str(link)])
        assert again.exit_code == 2 and "already has a key" in again.output
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    meter = Meter.load(FileStore(blank), MeterSettings(), 0)
    assert meter.provisioned and meter.state.key.key.reveal().hex().upper() == "E653341F9D5BF36F"
