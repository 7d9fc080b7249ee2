"""The 60-second soak (benchmarks/soak.py) in CI: two instances on PostgreSQL, 1,000 connected meters
and 50 keypad meters, purchases with duplicated, late, out-of-order, declined and wrong-amount callbacks,
and faults (kill -9 of an instance and of the fleet, connections cut, SMS gateway down, links held).
The script checks every invariant of issue 11 itself and exits non-zero when one breaks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_60_second_soak_on_two_instances_holds_every_invariant(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "soak.py"),
            "--seconds",
            "60",
            "--instances",
            "2",
            "--keep",
            str(tmp_path / "soak"),
        ],
        capture_output=True,
        text=True,
        timeout=420,
    )
    report = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    assert "invariants all held" in run.stdout, report
    for fault in ("instance kill -9 1", "fleet kill -9 1", "pg_terminate_backend 1", "SMS gateway down 1"):
        assert fault in run.stdout, report  # every fault really happened
    assert "[BROKEN]" not in run.stdout, report
