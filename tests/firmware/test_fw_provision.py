"""Provisioning the Uno firmware (docs/firmware.md, "Provisioning a meter") in simavr: one image per variant
with no key in it, each meter's identity and key from its profile (`nguvu meter new`), loaded as the
EEPROM image `nguvu meter eeprom` writes or over the serial line (`PROVISION`, `nguvu meter provision`)."""

from __future__ import annotations

import random
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from cli.apps import app
from meter_emulator.eeprom import read_intel_hex
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.store import FileStore
from tokencore import BaseDate, Dkga, Issuer, KeyParams, KeyType, MeterProfile
from tokencore.identity import luhn_check_digit, pan_from_drn
from tests.firmware.conftest import sample_provisioning

if TYPE_CHECKING:
    from conftest import Simulator

pytestmark = pytest.mark.firmware

PUBLISHED = "23716100501183194197"  # 0.1 kWh for the public test meter (sts-notes 4.3)
PUBLISHED_EA11 = "59386323472137426967"  # 0.1 kWh for the EA11 test meter
TEST_TOKEN = "56493153725450313471"  # Class 1 test token, manufacturer code 00
VENDING_KEYS = {"02": "ABABABABABABABAB", "04": "ABABABABABABABAB949494949494949401234567"}
runner = CliRunner()


def nguvu(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def random_profile(rng: random.Random, tmp_path: Path, ea: str, dkga: str) -> tuple[Path, Meter]:
    """A meter made as a technician would (`nguvu meter new`) with random identity and key parameters."""
    body = "".join(rng.choice("0123456789") for _ in range(10))
    pan = pan_from_drn(body + str(luhn_check_digit(body))).pan
    base = rng.choice((1993, 2014, 2035))
    (tmp_path / "vk.hex").write_text(VENDING_KEYS[dkga])
    profile = tmp_path / f"meter-{pan}.json"
    nguvu(
        *("meter", "new", str(profile), "--meter", pan, "--sgc", str(rng.randrange(1_000_000))),
        *("--ti", str(rng.randrange(100)), "--krn", str(rng.randrange(1, 10)), "--base-date", str(base)),
        *("--ea", ea, "--dkga", dkga, "--vending-key-file", str(tmp_path / "vk.hex")),
    )
    return profile, Meter.load(FileStore(profile), MeterSettings(), 0)


def credit(meter: Meter, units: str, minute: int) -> str:
    s = meter.state
    profile = MeterProfile(s.pan, _params(meter))
    at = datetime(meter.provenance.base_year + 1, 3, 1, 10, minute)
    return Issuer(profile, s.key.key).credit(units, at=at, rnd=3).token


def _params(meter: Meter) -> KeyParams:
    k = meter.state.key
    return KeyParams(
        sgc=k.sgc,
        ti=k.ti,
        krn=k.krn,
        kt=KeyType(k.kt),
        ken=k.ken,
        base_date=BaseDate.from_year(meter.provenance.base_year),
        dkga=Dkga.parse(meter.provenance.dkga),
        ea=k.ea,
    )


@pytest.mark.parametrize("variant", ["ea07", "ea11"])
def test_fresh_image_refuses_tokens_and_asks_for_provisioning(
    simulator: Simulator, tmp_path: Path, variant: str
) -> None:
    token = PUBLISHED if variant == "ea07" else PUBLISHED_EA11
    run = simulator.run(
        ["INFO", "STATUS", f"TOKEN {token}", "LCD", f"TOKEN {TEST_TOKEN}", "KEY 1", "KEY #"],
        tmp_path / "ee.bin",
        variant=variant,
        provisioned=False,
    )
    assert run.uart[0] == "EVENT boot fw=nguvu-uno/0.1 provision=needed"
    info, status, refused, lcd, test, ok, keyed = run.replies()
    assert info == "INFO provision=needed fw=nguvu-uno/0.1"
    assert status.startswith("STATUS credit=0.0 relay=off ") and status.endswith(" provision=needed")
    assert refused == "ERROR no_key"
    assert lcd == "LCD |NO KEY          |Provision meter |"
    assert test == "RESULT accept credit=0.0"  # Class 1 test tokens still work
    assert (ok, keyed) == ("OK", "ERROR no_key")
    assert run.lcd() == "|NO KEY          |Provision meter |"
    assert (tmp_path / "ee.bin").read_bytes() == b"\xff" * 1024, "an unprovisioned meter writes nothing"


@pytest.mark.parametrize(("variant", "ea", "dkga"), [("ea07", "07", "02"), ("ea11", "11", "04")])
def test_eeprom_image_from_random_profiles(
    simulator: Simulator, tmp_path: Path, variant: str, ea: str, dkga: str
) -> None:
    """Two random profiles on one image (no rebuild): each meter accepts its own tokens and refuses
    those of the old compiled-in test meter."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    elf = simulator.elfs[variant]
    built = elf.stat().st_mtime_ns
    old = PUBLISHED if variant == "ea07" else PUBLISHED_EA11
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        profile, meter = random_profile(rng, tmp_path / str(n), ea, dkga)
        eep = tmp_path / f"meter{n}.eep"
        nguvu("meter", "eeprom", str(profile), str(eep))
        assert eep.stat().st_mode & 0o077 == 0, "the image holds the decoder key"
        assert read_intel_hex(eep.read_text())[:2] == b"GN"  # magic 0x4E47, little-endian
        first, second = credit(meter, "12.5", 1), credit(meter, "3", 2)
        run = simulator.run(
            ["INFO", f"TOKEN {first}", f"TOKEN {old}", f"TOKEN {second}", f"TOKEN {first}"],
            tmp_path / f"ee{n}.bin",
            variant=variant,
            image=eep,
        )
        s = meter.state
        info, ok1, foreign, ok2, again = run.replies()
        assert info.startswith(f"INFO pan={s.pan.pan} drn={s.pan.drn} sgc={s.key.sgc:06d} ti={s.key.ti:02d} ")
        assert f" ea={ea} bd={meter.provenance.base_year} " in info, seed
        assert ok1 == "RESULT accept amount=12.5 credit=12.5", seed
        assert foreign.startswith("RESULT crc_error"), seed
        assert ok2 == "RESULT accept amount=3.0 credit=15.5", seed
        assert again == "RESULT used", seed
    assert elf.stat().st_mtime_ns == built, "the second meter used the same image"


def test_serial_provisioning_then_refused(simulator: Simulator, tmp_path: Path) -> None:
    ident, key = sample_provisioning()
    run = simulator.run(
        [
            key,
            ident.replace(" 07 ", " 11 "),  # the other variant
            ident.replace("600727000000000009", "600727000000000008"),  # PAN check digit
            ident[:-5],
            ident,
            key[:-1],
            key.lower(),
            "INFO",
            f"TOKEN {PUBLISHED}",
            ident,
            key,
        ],
        tmp_path / "ee.bin",
        provisioned=False,
    )
    assert run.replies() == [
        "ERROR no_id",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "ERROR bad_argument",
        "OK",
        "ERROR bad_argument",
        "OK",
        "INFO pan=600727000000000009 drn=00000000000 sgc=123456 ti=01 krn=1 kt=2 ken=255 ea=07 bd=1993"
        " fw=nguvu-uno/0.1",
        "RESULT accept amount=0.1 credit=0.1",
        "ERROR provisioned",
        "ERROR provisioned",
    ]
    after = simulator.run(["INFO", f"TOKEN {PUBLISHED}"], tmp_path / "ee.bin")
    assert after.replies()[1] == "RESULT used"


def test_power_cut_during_serial_provisioning(simulator: Simulator, tmp_path: Path) -> None:
    """The simulator stops at random points of the record's write: afterwards the meter has no key
    (and can be provisioned again) or the whole key, never a part."""
    ident, key = sample_provisioning()
    probe = simulator.run([ident, key], tmp_path / "probe.bin", provisioned=False)
    writes = int(probe.end("eeprom_writes"))
    assert writes > 250  # the whole record over an erased EEPROM
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    cuts = sorted({1, writes - 2, writes - 1, writes, *(rng.randrange(1, writes + 1) for _ in range(5))})
    outcomes = set()
    for n in cuts:
        ee = tmp_path / f"cut{n}.bin"
        cut = simulator.run([ident, f"!cut {n}", key], ee, provisioned=False)
        assert any(e.startswith("#CUT ") for e in cut.events), (seed, n)
        after = simulator.run(["INFO", f"TOKEN {PUBLISHED}"], ee, provisioned=False)
        info, token = after.replies()
        if info.startswith("INFO provision=needed"):
            assert token == "ERROR no_key", (seed, n)
            again = simulator.run([ident, key, f"TOKEN {PUBLISHED}"], ee, provisioned=False)
            assert again.replies() == ["OK", "OK", "RESULT accept amount=0.1 credit=0.1"], (seed, n)
            outcomes.add("none")
        else:
            assert info.startswith("INFO pan=600727000000000009 "), (seed, n)
            assert token == "RESULT accept amount=0.1 credit=0.1", (seed, n)
            outcomes.add("whole")
    assert outcomes == {"none", "whole"}, (seed, cuts)


def test_nguvu_meter_provision_over_a_pty(simulator: Simulator, tmp_path: Path) -> None:
    """`nguvu meter provision` on the simulated Uno's serial port, as on /dev/ttyACM0."""
    profile = tmp_path / "meter.json"
    (tmp_path / "dk.hex").write_text("E653341F9D5BF36F")
    nguvu(
        *("meter", "new", str(profile), "--meter", "600727000000000009", "--base-date", "1993"),
        *("--decoder-key-file", str(tmp_path / "dk.hex")),
    )
    link = tmp_path / "ttyNGUVU0"
    ee = tmp_path / "ee.bin"
    proc = subprocess.Popen(
        [str(simulator.harness), "-e", str(ee), "-p", str(link), str(simulator.elfs["ea07"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not link.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the harness did not create the pty"
            time.sleep(0.05)
        out = nguvu("meter", "provision", str(profile), "--serial", str(link))
        assert re.match(r"INFO pan=600727000000000009 drn=00000000000 sgc=123456 .* bd=1993 ", out)
        again = runner.invoke(app, ["meter", "provision", str(profile), "--serial", str(link)])
        assert again.exit_code == 2
        assert "already has a key" in again.output and "E653341F" not in again.output
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert simulator.run([f"TOKEN {PUBLISHED}"], ee).replies() == ["RESULT accept amount=0.1 credit=0.1"]


def test_record_of_the_other_variant_is_not_used(simulator: Simulator, tmp_path: Path) -> None:
    """An EA11 meter's EEPROM under the EA07 image: its key cannot be used, nothing overwrites it."""
    eep = tmp_path / "ea11.eep"
    (tmp_path / "dk.hex").write_text("F94B6ED353C3BFDB113E2D3A7EA3C41D")
    nguvu(
        *("meter", "new", str(tmp_path / "m.json"), "--meter", "600727000000000009", "--sgc", "123457"),
        *("--base-date", "1993", "--ea", "11", "--dkga", "04", "--decoder-key-file", str(tmp_path / "dk.hex")),
    )
    nguvu("meter", "eeprom", str(tmp_path / "m.json"), str(eep))
    ident, key = sample_provisioning()
    ee = tmp_path / "ee.bin"
    run = simulator.run(["INFO", f"TOKEN {PUBLISHED_EA11}", ident, key], ee, variant="ea07", image=eep)
    assert run.uart[0] == "EVENT boot fw=nguvu-uno/0.1 provision=wrong_variant"
    info, token, *refused = run.replies()
    assert info.startswith("INFO pan=600727000000000009 ") and info.endswith(" provision=wrong_variant")
    assert token == "ERROR no_key"
    assert refused == ["ERROR provisioned", "ERROR provisioned"]
    assert ee.read_bytes() == read_intel_hex(eep.read_text()), "the record is left as it was"
    right = simulator.run([f"TOKEN {PUBLISHED_EA11}"], ee, variant="ea11")
    assert right.replies() == ["RESULT accept amount=0.1 credit=0.1"]
