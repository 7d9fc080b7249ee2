"""End to end: the vendor CLI issues tokens, the simulated firmware (real ELF in simavr) accepts them,
one over the serial line and one typed on the keypad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Simulator

pytestmark = pytest.mark.firmware

# The firmware's default provisioning is this meter (docs/serial-protocol.md section 10): its decoder
# key is DKGA02 of the public test vending key, so the vendor CLI derives the same key.
METER = ["--pan", "600727000000000009", "--sgc", "123456", "--ti", "1", "--krn", "1", "--base-date", "1993"]


def nguvu_credit(units: str, at: str, vending_key: Path) -> dict[str, object]:
    cli = Path(sys.executable).parent / "nguvu"
    key_args = ["--vending-key-file", str(vending_key), "--json"]
    proc = subprocess.run(
        [str(cli), "token", "credit", "--units", units, "--at", at, "--rnd", "7", *METER, *key_args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def test_cli_tokens_accepted_by_simulated_firmware(simulator: Simulator, tmp_path: Path) -> None:
    vk = tmp_path / "vending.key"
    vk.write_text("ABABABABABABABAB\n")
    first = nguvu_credit("12.5", "2024-05-01T10:00:00Z", vk)
    second = nguvu_credit("3", "2024-05-01T10:01:00Z", vk)
    assert first["units"] == "12.5" and second["units"] == "3.0"
    typed = [f"!key {d}" for d in str(second["token"])] + ["!key #", "!wait 200"]
    run = simulator.run(
        [f"TOKEN {first['grouped']}", *typed, "STATUS", f"TOKEN {second['token']}"], tmp_path / "ee.bin"
    )
    replies = run.replies()
    assert replies[0] == "RESULT accept amount=12.5 credit=12.5"
    assert "EVENT token accept amount=3.0 credit=15.5" in run.uart
    assert replies[1].startswith("STATUS credit=15.5 relay=on ")
    assert replies[2] == "RESULT used"
    assert [level for level, _ in run.pins("B4")] == [0, 1]
