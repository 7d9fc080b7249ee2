"""Session fixtures for the firmware tests (host library, AVR image, simavr harness)."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meter_emulator import decoding
from meter_emulator.eeprom import eeprom_image
from meter_emulator.provision import provision_requests
from tokencore import BaseDate, DecoderKey, Dkga, Ea, KeyParams, parse_pan
from tokencore.decoder import MeterState

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
BUILD = FIRMWARE / "build"


def make(*targets: str) -> None:
    """Builds the given firmware make targets; a build failure fails the test with the compiler output."""
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), *targets],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def fw_make() -> Callable[..., Path]:
    """`make -C firmware <targets>`; returns firmware/build."""

    def run(*targets: str) -> Path:
        make(*targets)
        return BUILD

    return run


@pytest.fixture(scope="session")
def host_build() -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required for the firmware host tests")
    make("host")
    return BUILD / "host"


@pytest.fixture(scope="session")
def libtc(host_build: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(host_build / "libtc.so"))
    u8p = ctypes.POINTER(ctypes.c_uint8)
    lib.tc_digits_to_u66.argtypes = [ctypes.c_char_p, u8p]
    lib.tc_digits_to_u66.restype = ctypes.c_int8
    lib.tc_u66_to_digits.argtypes = [u8p, ctypes.c_char_p]
    lib.tc_u66_to_digits.restype = None
    lib.tc_untranspose.argtypes = [u8p, u8p]
    lib.tc_untranspose.restype = ctypes.c_uint8
    lib.tc_transpose.argtypes = [ctypes.c_uint8, u8p, u8p]
    lib.tc_transpose.restype = None
    lib.tc_crc16.argtypes = [u8p, ctypes.c_uint16]
    lib.tc_crc16.restype = ctypes.c_uint16
    lib.tc_block_crc_ok.argtypes = [ctypes.c_uint8, u8p]
    lib.tc_block_crc_ok.restype = ctypes.c_uint8
    lib.tc_amount_decode.argtypes = [ctypes.c_uint16]
    lib.tc_amount_decode.restype = ctypes.c_uint32
    lib.tc_ea07_decrypt.argtypes = [u8p, u8p]
    lib.tc_ea07_decrypt.restype = None
    lib.tc_ea07_encrypt.argtypes = [u8p, u8p]
    lib.tc_ea07_encrypt.restype = None
    lib.tc_misty1_schedule.argtypes = [u8p, u8p]
    lib.tc_misty1_schedule.restype = None
    lib.tc_misty1_encrypt.argtypes = [u8p, u8p]
    lib.tc_misty1_encrypt.restype = None
    lib.tc_misty1_decrypt.argtypes = [u8p, u8p]
    lib.tc_misty1_decrypt.restype = None
    return lib


# The public test meters each image is provisioned as by default in these tests (docs/serial-protocol.md
# section 10; sts-notes 4.2/4.5): PAN 600727000000000009, TI 01, KRN 1, KT 2, KEN 255, base date 1993,
# decoder keys from the public test vending keys.
TEST_PAN = "600727000000000009"
TEST_METERS = {
    "ea07": (KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993), "E653341F9D5BF36F"),
    "ea11": (
        KeyParams(sgc=123457, ti=1, krn=1, base_date=BaseDate.Y1993, dkga=Dkga.DKGA04, ea=Ea.EA11),
        "F94B6ED353C3BFDB113E2D3A7EA3C41D",
    ),
}


def sample_meter_state(variant: str = "ea07") -> MeterState:
    params, key = TEST_METERS[variant]
    return decoding.new_state(parse_pan(TEST_PAN), params, DecoderKey.from_hex(key))


def sample_provisioning(variant: str = "ea07") -> list[str]:
    """The serial PROVISION requests for the test meter of a variant."""
    return provision_requests(sample_meter_state(variant), 1993)


@dataclass
class SimRun:
    """What one simavr run of the firmware produced."""

    uart: list[str]  # lines the firmware wrote on UART0
    events: list[str]  # harness event lines (stderr, '#...')

    def replies(self) -> list[str]:
        """UART lines that are replies (not EVENT lines)."""
        return [line for line in self.uart if not line.startswith("EVENT ")]

    def lcd(self) -> str:
        """The last decoded LCD content, '|line1|line2|'."""
        shown = [e for e in self.events if e.startswith("#LCD ")]
        return shown[-1].split(" @")[0][5:] if shown else ""

    def pins(self, name: str) -> list[tuple[int, int]]:
        """(level, cycle) of each change of a pin such as 'B4' (relay) or 'B5' (decode marker)."""
        out = []
        for e in self.events:
            m = re.match(rf"#PIN {name}=(\d) @(\d+) ", e)
            if m:
                out.append((int(m.group(1)), int(m.group(2))))
        return out

    def end(self, field: str) -> float:
        """A field of the harness's final '#END ...' line (cycles, ms, energy_wh, eeprom_writes)."""
        for e in reversed(self.events):
            m = re.search(rf"{field}=([\d.]+)", e)
            if e.startswith("#END ") and m:
                return float(m.group(1))
        raise AssertionError(f"no #END line with {field}")


class Simulator:
    """Runs build/sim/simharness on a firmware variant with a script of UART lines and !commands."""

    def __init__(self, harness: Path, elfs: dict[str, Path]) -> None:
        self.harness = harness
        self.elfs = elfs

    def run(
        self,
        script: list[str],
        eeprom: Path,
        *,
        variant: str = "ea07",
        linger_ms: int = 50,
        energy_wh: int = 0,
        provisioned: bool = True,
        image: Path | None = None,
    ) -> SimRun:
        """Runs the script. A missing `eeprom` file starts as a board flashed with `image` (an .eep),
        by default the EEPROM image of the variant's test meter; `provisioned=False`: erased."""
        if not eeprom.exists() and provisioned and image is None:
            eeprom.write_bytes(eeprom_image(sample_meter_state(variant), 1993))
        proc = subprocess.run(
            [
                str(self.harness),
                "-e",
                str(eeprom),
                "-L",
                str(linger_ms),
                "-E",
                str(energy_wh),
                *(["-i", str(image)] if image is not None else []),
                str(self.elfs[variant]),
            ],
            input="".join(line + "\n" for line in script),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return SimRun(proc.stdout.splitlines(), proc.stderr.splitlines())


@pytest.fixture(scope="session")
def simulator() -> Simulator:
    for tool in ("avr-gcc", "simavr"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run scripts/install-system-deps.sh")
    make("avr", "sim")
    make("avr", "VARIANT=ea11")
    return Simulator(
        BUILD / "sim" / "simharness",
        {v: BUILD / f"avr-{v}" / "meter.elf" for v in ("ea07", "ea11")},
    )


# ---------------------------------------------------------------------------------------------------
# The C decoder (firmware/core/tc_decoder.c) seen from Python: ctypes mirrors of its structs and a
# conversion to and from MeterState.to_dict() form, so the two decoders can be compared field by field.

TID_MAX = 20  # TC_TID_MAX of the host build


class CConfig(ctypes.Structure):
    _fields_ = [
        ("kct_timeout_ms", ctypes.c_uint32),
        ("register_limit", ctypes.c_uint32),
        ("lockout_base_ms", ctypes.c_uint32),
        ("lockout_max_ms", ctypes.c_uint32),
        ("tid_memory_size", ctypes.c_uint8),
        ("services", ctypes.c_uint8),
        ("lockout_threshold", ctypes.c_uint8),
    ]


class CKey(ctypes.Structure):
    _fields_ = [
        ("sgc", ctypes.c_uint32),
        ("key", ctypes.c_uint8 * 16),
        ("ea", ctypes.c_uint8),
        ("kt", ctypes.c_uint8),
        ("krn", ctypes.c_uint8),
        ("ti", ctypes.c_uint8),
        ("ken", ctypes.c_uint8),
    ]


class CPending(ctypes.Structure):
    _fields_ = [
        ("received_ms", ctypes.c_uint64),
        ("block", ctypes.c_uint8 * 8),
        ("subclass", ctypes.c_uint8),
    ]


class CState(ctypes.Structure):
    _fields_ = [
        ("locked_until_ms", ctypes.c_uint64),
        ("registers", ctypes.c_uint32 * 8),
        ("tid_memory", ctypes.c_uint32 * TID_MAX),
        ("mpl_watts", ctypes.c_uint32),
        ("mppul_watts", ctypes.c_uint32),
        ("config", CConfig),
        ("key", CKey),
        ("pending", CPending * 4),
        ("tariff_rate", ctypes.c_uint16),
        ("water_factor", ctypes.c_uint16),
        ("wrong_entries", ctypes.c_uint16),
        ("mfr_code", ctypes.c_uint16),
        ("has", ctypes.c_uint8),
        ("tamper", ctypes.c_uint8),
        ("pending_count", ctypes.c_uint8),
    ]


class CResult(ctypes.Structure):
    _fields_ = [
        ("control", ctypes.c_uint64),
        ("lock_remaining_ms", ctypes.c_uint64),
        ("amount", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("reg", ctypes.c_uint16),
        ("outcome", ctypes.c_uint8),
        ("kind", ctypes.c_uint8),
        ("token_class", ctypes.c_uint8),
        ("subclass", ctypes.c_uint8),
        ("present", ctypes.c_uint8),
        ("changed", ctypes.c_uint8),
    ]


OPTIONALS = (("mpl_watts", 0x01), ("mppul_watts", 0x02), ("tariff_rate", 0x04), ("water_factor", 0x08))


class CDecoder:
    """tc_enter_token over states in MeterState.to_dict() form."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.tc_enter_token.argtypes = [
            ctypes.POINTER(CState),
            ctypes.c_char_p,
            ctypes.c_uint8,
            ctypes.c_uint64,
            ctypes.POINTER(CResult),
        ]
        lib.tc_enter_token.restype = None
        lib.tc_state_init.argtypes = [
            ctypes.POINTER(CState),
            ctypes.c_char_p,
            ctypes.POINTER(CKey),
            ctypes.POINTER(CConfig),
        ]
        lib.tc_state_init.restype = None
        lib.tc_status_name.argtypes = [ctypes.c_uint8]
        lib.tc_status_name.restype = ctypes.c_char_p
        lib.tc_kind_name.argtypes = [ctypes.c_uint8]
        lib.tc_kind_name.restype = ctypes.c_char_p
        assert ctypes.sizeof(CState) == lib.tc_test_state_size(), "CState does not mirror tc_state_t"
        assert ctypes.sizeof(CResult) == lib.tc_test_result_size(), "CResult does not mirror tc_result_t"

    def load(self, d: dict[str, Any]) -> CState:
        """A C state from a MeterState.to_dict() document."""
        cfg = d["config"]
        config = CConfig(
            cfg["kct_timeout_ms"],
            cfg["register_limit"],
            cfg["lockout_base_ms"],
            cfg["lockout_max_ms"],
            cfg["tid_memory_size"],
            sum(1 << s for s in cfg["services"]),
            cfg["lockout_threshold"],
        )
        k = d["key"]
        material = bytes.fromhex(k["key"])
        key = CKey(
            k["sgc"], (ctypes.c_uint8 * 16)(*material), int(k["ea"]), k["kt"], k["krn"], k["ti"], k["ken"]
        )
        st = CState()
        self.lib.tc_state_init(ctypes.byref(st), d["pan"].encode(), ctypes.byref(key), ctypes.byref(config))
        for i, v in enumerate(d["registers"]):
            st.registers[i] = v
        for i, v in enumerate(d["tid_memory"]):
            st.tid_memory[i] = v
        for name, bit in OPTIONALS:
            if d.get(name) is not None:
                setattr(st, name, d[name])
                st.has |= bit
        st.tamper = int(bool(d.get("tamper", False)))
        pending = d.get("pending", [])
        for i, (sub, block_hex, received) in enumerate(pending):
            st.pending[i] = CPending(
                received, (ctypes.c_uint8 * 8)(*int(block_hex, 16).to_bytes(8, "little")), sub
            )
        st.pending_count = len(pending)
        st.wrong_entries = d.get("wrong_entries", 0)
        st.locked_until_ms = d.get("locked_until_ms", 0)
        return st

    def dump(self, st: CState, like: dict[str, Any]) -> dict[str, Any]:
        """The C state as a to_dict() document (pan and config copied from `like`)."""
        size = st.config.tid_memory_size
        ea = st.key.ea
        material = bytes(st.key.key)[: 16 if ea == 11 else 8]
        out: dict[str, Any] = {
            "pan": like["pan"],
            "key": {
                "key": material.hex().upper(),
                "ea": f"{ea:02d}",
                "kt": st.key.kt,
                "krn": st.key.krn,
                "ti": st.key.ti,
                "ken": st.key.ken,
                "sgc": st.key.sgc,
            },
            "config": like["config"],
            "registers": list(st.registers),
            "tid_memory": list(st.tid_memory)[:size],
            "tamper": bool(st.tamper),
            "pending": [
                [p.subclass, f"{int.from_bytes(bytes(p.block), 'little'):016X}", p.received_ms]
                for p in list(st.pending)[: st.pending_count]
            ],
            "wrong_entries": st.wrong_entries,
            "locked_until_ms": st.locked_until_ms,
        }
        for name, bit in OPTIONALS:
            out[name] = getattr(st, name) if st.has & bit else None
        return out

    def enter(self, st: CState, entry: str, now_ms: int) -> CResult:
        raw = entry.encode("latin-1")
        res = CResult()
        self.lib.tc_enter_token(ctypes.byref(st), raw, min(len(raw), 255), now_ms, ctypes.byref(res))
        return res

    def outcome(self, res: CResult) -> str:
        return self.lib.tc_status_name(res.outcome).decode()


@pytest.fixture(scope="session")
def cdecoder(libtc: ctypes.CDLL) -> CDecoder:
    return CDecoder(libtc)
