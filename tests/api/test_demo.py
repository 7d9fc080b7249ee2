"""`nguvu demo`, the README's main job: the whole purchase end to end, and again on the same data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGUVU_") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_demo_runs_end_to_end_and_again_on_the_same_data(tmp_path: Path) -> None:
    for run in (1, 2):
        result = _demo("--data-dir", str(tmp_path / "data"))
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        out = result.stdout
        assert "RESULT accept amount=10.7" in out, run
        assert " relay=on " in out and "| Accept" in out and "+4.3 kWh" in out
        assert out.count("SMS to +2439") == 3  # two token SMS, then the resend asked for by keyword
        assert "texts JETON" in out
    assert "Done: both meters accepted their tokens; the last token came again by SMS." in out
