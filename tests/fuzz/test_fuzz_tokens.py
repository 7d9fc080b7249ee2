"""Random and one-digit-corrupted tokens through the Python decoder and the sanitized C decoder.

Runs benchmarks/token_fuzz.py (which exits 1 on any failure) on NGUVU_FUZZ_TOKENS entries (default
20,000, a few seconds; docs/reliability.md gives the figures of the million) and checks its report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.firmware  # builds the C decoder under ASan/UBSan with the host gcc

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "token_fuzz.py"


def test_random_and_corrupted_tokens_python_and_c_agree_and_nothing_is_accepted_twice() -> None:
    count = int(os.environ.get("NGUVU_FUZZ_TOKENS", "20000"))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--count", str(count), "--json"],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["failures"] == []
    assert report["differential"] == "agree"
    assert report["replay"]["accepted"] == 0
    assert report["replay"]["entries"] > count // 20
    for kind in ("random", "corrupt"):
        figures = report[kind]
        assert figures["entries"] > count // 4
        assert figures["decrypted"] > figures["entries"] // 2  # most reach the cipher and the CRC check
        assert figures["accepted"] <= figures["passed_crc"] <= figures["bound"][1]
    outcomes = report["outcomes"]["EA07"]
    assert {"crc_error", "format_error", "locked"} <= set(outcomes["random"])
    assert {"used", "old"} <= set(outcomes["replay"])
