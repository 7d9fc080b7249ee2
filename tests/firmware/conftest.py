"""Session fixtures for the firmware tests (host library, AVR image, simavr harness)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

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
