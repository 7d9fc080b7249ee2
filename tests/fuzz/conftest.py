"""The fuzzing tests build firmware host programs with the firmware tests' fixture."""

from tests.firmware.conftest import fw_make

__all__ = ["fw_make"]
