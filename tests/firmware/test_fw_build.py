"""The firmware build (firmware/Makefile): changing the variant in one output directory rebuilds every
object (the flags stamp), so an image can never mix objects of two variants or flag sets; an unchanged
build compiles nothing; the default target builds what docs/firmware.md says."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.firmware.conftest import FIRMWARE

pytestmark = pytest.mark.firmware


def build(out: Path, *args: str) -> str:
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), "-j2", "avr", f"AVR_OUT={out}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_variant_change_rebuilds_every_object(tmp_path: Path) -> None:
    if shutil.which("avr-gcc") is None:
        pytest.fail("avr-gcc is missing: run scripts/install-system-deps.sh")
    out = tmp_path / "avr"
    images = []
    for variant in ("ea07", "ea11", "ea07"):
        log = build(out, f"VARIANT={variant}")
        stamp = out / "flags.stamp"
        assert stamp.read_text().startswith(f"VARIANT={variant} ")
        objects = list(out.rglob("*.o"))
        assert len(objects) > 30
        stale = [o for o in objects if o.stat().st_mtime_ns < stamp.stat().st_mtime_ns]
        assert not stale, f"objects not rebuilt for {variant}: {stale[:3]}"
        assert list(out.rglob("*.d")), "dependency files (-MMD -MP)"
        images.append(digest(out / "meter.hex"))
        assert " -c " not in build(out, f"VARIANT={variant}"), "an unchanged build compiles nothing"
        assert "flags changed" in log
    assert images[0] != images[1] and images[1] != images[2]
    assert images[0] == images[2], "the same variant and flags give the same image"


def test_extra_flags_change_rebuilds(tmp_path: Path) -> None:
    out = tmp_path / "avr"
    build(out)
    first = digest(out / "meter.hex")
    build(out, "EXTRA_CFLAGS=-DAPP_MFR_CODE=42")
    assert digest(out / "meter.hex") != first


def test_default_target_is_all() -> None:
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), "-n"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "clang-format" not in proc.stdout
    assert "VARIANT=ea07" in proc.stdout and "VARIANT=ea11" in proc.stdout
