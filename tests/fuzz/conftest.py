"""The fuzzing tests build firmware host programs with the firmware tests' fixture."""

from tests.firmware.conftest import fw_make, simulator

__all__ = ["fw_make", "simulator"]
