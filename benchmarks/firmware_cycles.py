"""Firmware figures measured in the simulator: decode cycles on the ATmega328P and flash/RAM per module.

Builds the firmware (make -C firmware), runs the real ELF in simavr under firmware/sim/simharness and
reads the decode marker: the firmware raises PB5 when a complete 20-digit entry goes to the decoder
(tc_enter_token) and lowers it when the outcome is known, so the interval is "entry complete ->
outcome", EEPROM write excluded. The harness also reports the stack high-water mark of the whole run.
Sizes come from avr-size (the shipped LTO image) and from the linker map of a build without LTO (the
only build where every byte can be attributed to a source module).

Usage: python benchmarks/firmware_cycles.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from meter_emulator import decoding
from meter_emulator.eeprom import eeprom_image
from tokencore import BaseDate, DecoderKey, Dkga, Ea, KeyParams, parse_pan

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
BUILD = FW / "build"
F_CPU = 16_000_000

# The public test meters the images are provisioned as (an EEPROM image, as `nguvu meter eeprom` makes).
TEST_PAN = "600727000000000009"
TEST_METERS = {
    "ea07": (KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993), "E653341F9D5BF36F"),
    "ea11": (
        KeyParams(sgc=123457, ti=1, krn=1, base_date=BaseDate.Y1993, dkga=Dkga.DKGA04, ea=Ea.EA11),
        "F94B6ED353C3BFDB113E2D3A7EA3C41D",
    ),
}

# (variant, label, script): each decode is a TOKEN request on a freshly provisioned meter.
CASES = [
    ("ea07", "EA07 credit token, accept", ["TOKEN 23716100501183194197"]),
    ("ea07", "EA07 replay, used", ["TOKEN 23716100501183194197", "TOKEN 23716100501183194197"]),
    ("ea07", "EA07 typo, crc_error", ["TOKEN 23716100501183194190"]),
    ("ea07", "EA07 key change 1st section (pending)", ["TOKEN 51638423060042734509"]),
    ("ea11", "EA11 (MISTY1) credit token, accept", ["TOKEN 59386323472137426967"]),
    ("ea07", "Class 1 test token (no decryption)", ["TOKEN 56493153725450313471"]),
]


def make(*args: str) -> str:
    proc = subprocess.run(["make", "-C", str(FW), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"make {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def decode_cycles(variant: str, script: list[str]) -> tuple[int, int, str]:
    """Cycles of the last marked decode of the script, the stack high-water mark of the run (bytes),
    and the firmware's last reply."""
    params, key = TEST_METERS[variant]
    state = decoding.new_state(parse_pan(TEST_PAN), params, DecoderKey.from_hex(key))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "ee.bin").write_bytes(eeprom_image(state, 1993))
        proc = subprocess.run(
            [
                str(BUILD / "sim" / "simharness"),
                "-e",
                f"{tmp}/ee.bin",
                str(BUILD / f"avr-{variant}" / "meter.elf"),
            ],
            input="".join(s + "\n" for s in script),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    edges = [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r"#PIN B5=(\d) @(\d+) ", proc.stderr)]
    rises = [c for level, c in edges if level == 1]
    falls = [c for level, c in edges if level == 0 and rises and c > rises[-1]]
    replies = [line for line in proc.stdout.splitlines() if not line.startswith("EVENT")]
    stack = re.search(r"#STACK used=(\d+)", proc.stderr)
    assert stack is not None
    return falls[0] - rises[-1], int(stack.group(1)), replies[-1]


MODULE_GROUPS = [
    ("core/tc_ea07.c", "token core: EA07"),
    ("core/tc_misty1.c", "token core: MISTY1"),
    ("core/tc_token.c", "token core: digits, transposition, CRC, amount"),
    ("core/tc_decoder.c", "token core: decoder state machine"),
    ("app/app.c", "app: main loop, credit countdown, relay"),
    ("app/app_proto.c", "app: serial protocol"),
    ("app/app_ui.c", "app: keypad entry and LCD texts"),
    ("app/app_store.c", "app: EEPROM generations"),
    ("app/app_provision.c", "app: provisioning"),
    ("app/app_fmt.c", "app: number formatting"),
    ("hal/hal_arduino.cpp", "HAL: keypad, LCD, PZEM, EEPROM, pins"),
    ("meter/meter.ino", "sketch"),
    ("libs/Wire", "Arduino Wire (I2C)"),
    ("libs/SoftwareSerial", "Arduino SoftwareSerial"),
    ("core.a(", "Arduino core (Serial, timers, main)"),
    ("libgcc", "libgcc (64-bit and 32-bit arithmetic)"),
    ("libc", "avr-libc (EEPROM, string, startup)"),
]


def module_of(path: str) -> str:
    for key, label in MODULE_GROUPS:
        if key in path:
            return label
    return "startup and interrupt vectors (crt)"


def module_sizes(map_file: Path) -> dict[str, list[int]]:
    """flash and RAM bytes per module from a GNU ld map (only .text, .data, .bss output sections)."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    out_section = ""
    started = False
    for line in map_file.read_text().splitlines():
        if line.startswith("Linker script and memory map"):
            started = True
            continue
        if not started:
            continue
        m = re.match(r"^(\.\w+)\s", line)
        if m:
            out_section = m.group(1)
            continue
        if out_section not in (".text", ".data", ".bss", ".noinit"):
            continue
        m = re.match(r"^ ?(\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+\.(?:o|a\(.*\)))\s*$", line)
        if not m:
            continue
        size = int(m.group(2), 16)
        path = m.group(3)
        flash = size if out_section in (".text", ".data") else 0
        ram = size if out_section in (".data", ".bss", ".noinit") else 0
        entry = sizes[module_of(path)]
        entry[0] += flash
        entry[1] += ram
    return sizes


def avr_size(elf: Path) -> tuple[int, int]:
    out = subprocess.run(["avr-size", "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\w+)\s+(\d+)", out, re.M)}
    return sec.get(".text", 0) + sec.get(".data", 0), sec.get(".data", 0) + sec.get(".bss", 0)


def main() -> None:
    make("avr", "sim")
    make("avr", "VARIANT=ea11")
    make("avr", "LTO=0")
    print("Decode time on the ATmega328P at 16 MHz (simavr, PB5 marker: entry complete -> outcome)")
    print(f"{'case':44} {'cycles':>8} {'ms':>7} {'stack':>6}  reply")
    for variant, label, script in CASES:
        cycles, stack, reply = decode_cycles(variant, script)
        print(f"{label:44} {cycles:8d} {cycles * 1000 / F_CPU:7.3f} {stack:6d}  {reply}")
    print()
    for variant in ("ea07", "ea11"):
        flash, ram = avr_size(BUILD / f"avr-{variant}" / "meter.elf")
        print(
            f"image avr-{variant} (LTO, shipped): flash {flash} B of 28672 budget, static RAM {ram} B of 1536"
        )
    print()
    sizes = module_sizes(BUILD / "avr-ea07-nolto" / "meter.map")
    total_flash = sum(v[0] for v in sizes.values())
    total_ram = sum(v[1] for v in sizes.values())
    print(f"Per module (EA07 image built without LTO: flash {total_flash} B, static RAM {total_ram} B)")
    print(f"{'module':48} {'flash B':>8} {'RAM B':>6}")
    for name, (flash, ram) in sorted(sizes.items(), key=lambda kv: -kv[1][0]):
        print(f"{name:48} {flash:8d} {ram:6d}")


if __name__ == "__main__":
    main()
