"""An emulated meter with no identity and key (`nguvu meter new --unprovisioned`) and the PROVISION
requests of docs/serial-protocol.md §3.6 (tests/firmware/test_fw_vs_emulator.py compares these replies
with the firmware's on random sessions)."""

from __future__ import annotations

import json
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
    assert send(meter, clock, "INFO") == "INFO provision=needed fw=nguvu-emu/0.1"
    assert send(meter, clock, f"TOKEN {PUBLISHED}") == "ERROR no_key"
