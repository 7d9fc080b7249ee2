"""Token fuzzing: random and one-digit-corrupted tokens through the Python decoder and the C decoder.

Two meters (EA07 and EA11) each get half of `--count` entries, a seeded mix of:
- random 20-digit strings (uniform over 0..10^20-1: about 26 % are above 2^66 and are format errors);
- valid tokens with one digit changed (a keying mistake);
- fresh valid credit tokens (so the meter's state moves: TID memory, registers, lockout reset);
- replays of tokens the meter already accepted.
The meter clock moves by seconds to minutes per entry and usually waits out a keypad lockout.

Every entry goes through tokencore's decoder (`enter_token`) and, from a file, through the C decoder
built under ASan/UBSan (firmware/test/tcdrive.c, `make -C firmware build/san/tcdrive`). Checked:
- no crash, no sanitizer report (the driver's exit status);
- the two decoders agree on every entry: outcome and the whole state after it (differential);
- no token accepted twice (zero replays), and at least 99 % of the fresh valid tokens accepted (those
  not typed while the keypad was locked);
- random and corrupted entries pass the CRC (any outcome past crc_error) at the CRC-16 rate 2^-16 of the
  entries that reach decryption, within a Poisson bound at a false-alarm probability of 1e-6; an
  accepted one is a subset of those (then the class, subclass, TID and key rules refuse most of them).

Prints the counts and rates, then `ok` or the first failure; exit status 1 on any failure.
`python benchmarks/token_fuzz.py --count 1000000` takes a few minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokencore import DecoderKey, Dkga, Ea, Issuer, KeyParams, MeterProfile, parse_pan
from tokencore.ciphers import native
from tokencore.decoder import MeterState, Outcome, enter_token, new_meter_state

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
DRIVER = FIRMWARE / "build" / "san" / "tcdrive"
CRC_PASS = 2.0**-16
FALSE_ALARM = 1e-6
KINDS = ("random", "corrupt", "valid", "replay")
WEIGHTS = (40, 40, 12, 8)
PAN = "600727000000000009"
# The keys of the decoder scenario vectors (tests/vectors/decoder_scenarios.json): test keys, not secrets.
METERS = {
    "EA07": (
        "E653341F9D5BF36F",
        KeyParams(sgc=123456, ti=1, krn=1),
    ),
    "EA11": (
        "F94B6ED353C3BFDB113E2D3A7EA3C41D",
        KeyParams(sgc=123456, ti=1, krn=1, ea=Ea.EA11, dkga=Dkga.DKGA04),
    ),
}
NOT_PAST_CRC = {Outcome.FORMAT_ERROR, Outcome.CRC_ERROR, Outcome.LOCKED}


def poisson_upper(mean: float, tail: float) -> int:
    """Smallest k with P(X >= k) <= tail for X ~ Poisson(mean)."""
    k, term, cdf = 0, math.exp(-mean), 0.0
    while True:
        cdf += term
        k += 1
        if 1 - cdf <= tail:
            return k
        term *= mean / k


def poisson_lower(mean: float, tail: float) -> int:
    """Largest k with P(X < k) <= tail for X ~ Poisson(mean) (0 when the mean is too small)."""
    k, term, cdf = 0, math.exp(-mean), 0.0
    while cdf + term <= tail:
        cdf += term
        k += 1
        term *= mean / k
    return k


def corrupt(token: str, rng: random.Random) -> str:
    """The token with one digit changed to another digit."""
    position = rng.randrange(20)
    digit = rng.choice([d for d in "0123456789" if d != token[position]])
    return token[:position] + digit + token[position + 1 :]


@dataclass
class Tally:
    """Counts of one meter's run, by kind of entry and outcome."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    reached_crc: Counter[str] = field(default_factory=Counter)  # random/corrupt entries decrypted
    passed_crc: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: Outcome) -> None:
        self.outcomes[kind][outcome.value] += 1
        if kind in ("random", "corrupt") and outcome not in (Outcome.FORMAT_ERROR, Outcome.LOCKED):
            self.reached_crc[kind] += 1
            self.passed_crc[kind] += outcome not in NOT_PAST_CRC


def state_line(outcome: str, s: MeterState, key_hex: str) -> str:
    """What firmware/test/tcdrive prints after an entry, computed from the Python state."""
    k = s.key
    return (
        f"{outcome} {','.join(map(str, s.registers))} {','.join(map(str, sorted(s.tid_memory)))} {key_hex}"
        f" {k.kt} {k.krn} {k.ti} {k.ken} {k.sgc} [{','.join(str(p.subclass) for p in s.pending)}]"
        f" {s.wrong_entries} {s.locked_until_ms}"
    )


def meter_line(s: MeterState) -> str:
    """tcdrive's `meter` line for a fresh state."""
    c, k = s.config, s.key
    return (
        f"meter {s.pan.pan} {k.key.hex().upper()} {int(k.ea.value)} {k.kt} {k.krn} {k.ti} {k.ken} {k.sgc} "
        f"{c.tid_memory_size} {c.kct_timeout_ms} {c.register_limit} {sum(1 << v for v in c.services)} "
        f"{c.lockout_threshold} {c.lockout_base_ms} {c.lockout_max_ms} {int(s.tamper)}"
    )


def run_meter(name: str, count: int, rng: random.Random, entries: Any, expected: Any) -> tuple[Tally, float]:
    """`count` entries into one fresh meter; writes tcdrive's input and expected output lines."""
    key_hex, params = METERS[name]
    key = DecoderKey.from_hex(key_hex)
    issuer = Issuer(MeterProfile(parse_pan(PAN), params), key)
    state = new_meter_state(PAN, key, params)
    shown_key = state.key.key.hex().upper()
    entries.write(meter_line(state) + "\n")
    tally = Tally()
    accepted: set[str] = set()
    accepted_list: list[str] = []
    recent: list[str] = []
    at = datetime(2026, 1, 1, tzinfo=UTC)
    now = 0
    started = time.perf_counter()

    def fresh() -> str:
        nonlocal at
        at += timedelta(minutes=1)
        units = Decimal(rng.randint(1, 200)) / 10
        token = issuer.credit(units, at=at, rnd=rng.randrange(16)).token
        recent.append(token)
        if len(recent) > 2000:
            del recent[: len(recent) - 1000]
        return token

    for _ in range(count):
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if kind == "replay" and not accepted_list:
            kind = "valid"
        if kind == "random":
            entry = f"{rng.randrange(10**20):020d}"
        elif kind == "corrupt":
            entry = corrupt(rng.choice(recent) if recent else fresh(), rng)
        elif kind == "valid":
            entry = fresh()
        else:
            # Half of the replays among the last few accepted (still in the TID memory: `used`), the
            # others anywhere (mostly `old`).
            entry = rng.choice(accepted_list[-25:] if rng.random() < 0.5 else accepted_list)
        now += rng.choice((1, 700, 5_000, 61_000))
        if state.is_locked(now) and rng.random() < 0.9:
            now = state.locked_until_ms  # the customer waits for the keypad to open again
        state, result = enter_token(state, entry, now)
        tally.add(kind, result.outcome)
        if result.outcome is Outcome.ACCEPT and result.token_class != 1:  # class 1: test, not recorded
            if entry in accepted:
                tally.failures.append(f"{name}: {kind} entry accepted twice: {entry}")
            accepted.add(entry)
            accepted_list.append(entry)
        entries.write(f"e {entry.encode().hex()} {now}\n")
        expected.write(state_line(result.outcome.value, state, shown_key) + "\n")
    return tally, time.perf_counter() - started


def build_driver() -> None:
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), "build/san/tcdrive"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"building the sanitized C decoder failed:\n{proc.stdout}\n{proc.stderr}")


def run_c(entries: Path, expected: Path, got: Path) -> tuple[list[str], float]:
    """The entries through the sanitized C decoder; the differences (first few) and the time taken."""
    started = time.perf_counter()
    with entries.open("rb") as src, got.open("wb") as out:
        proc = subprocess.run([str(DRIVER)], stdin=src, stdout=out, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    failures = []
    if proc.returncode != 0:
        failures.append(f"C decoder exited {proc.returncode}: {proc.stderr.decode()[-3000:]}")
    with expected.open() as want, got.open() as have:
        for n, (a, b) in enumerate(zip(want, have, strict=False), start=1):
            if a != b:
                failures.append(f"entry {n}: Python {a.strip()!r} but C {b.strip()!r}")
                if len(failures) >= 5:
                    break
        rest_want, rest_have = sum(1 for _ in want), sum(1 for _ in have)
    if rest_want != rest_have:
        failures.append(f"C printed {rest_have - rest_want:+d} lines compared with Python's count")
    return failures, elapsed


def check_rates(tallies: dict[str, Tally]) -> tuple[dict[str, Any], list[str]]:
    """The CRC-bound checks over all meters together; the figures and the failures."""
    failures: list[str] = []
    figures: dict[str, Any] = {}
    for kind in ("random", "corrupt"):
        reached = sum(t.reached_crc[kind] for t in tallies.values())
        passed = sum(t.passed_crc[kind] for t in tallies.values())
        accepted = sum(t.outcomes[kind]["accept"] for t in tallies.values())
        mean = reached * CRC_PASS
        high, low = poisson_upper(mean, FALSE_ALARM), poisson_lower(mean, FALSE_ALARM)
        figures[kind] = {
            "entries": sum(sum(t.outcomes[kind].values()) for t in tallies.values()),
            "decrypted": reached,
            "passed_crc": passed,
            "expected_crc_passes": round(mean, 2),
            "bound": [low, high - 1],
            "accepted": accepted,
            "accept_rate": accepted / reached if reached else 0.0,
        }
        if not low <= passed < high:
            failures.append(f"{kind}: {passed} CRC passes of {reached}, outside [{low}, {high - 1}]")
    valid = sum(sum(t.outcomes["valid"].values()) for t in tallies.values())
    valid_ok = sum(t.outcomes["valid"]["accept"] for t in tallies.values())
    locked = sum(t.outcomes["valid"]["locked"] for t in tallies.values())
    figures["valid"] = {"entries": valid, "accepted": valid_ok, "locked": locked}
    if valid and valid_ok < 0.99 * (valid - locked):
        failures.append(f"only {valid_ok} of {valid - locked} fresh valid tokens entered unlocked accepted")
    replays = sum(sum(t.outcomes["replay"].values()) for t in tallies.values())
    replay_ok = sum(t.outcomes["replay"]["accept"] for t in tallies.values())
    figures["replay"] = {"entries": replays, "accepted": replay_ok}
    return figures, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="entries in all (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args(argv)
    if args.count < 2:
        parser.error("--count must be at least 2")
    load = os.getloadavg()[0]
    build_driver()
    rng = random.Random(args.seed)
    tallies: dict[str, Tally] = {}
    py_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="nguvu-token-fuzz-") as tmp:
        entries, expected, got = Path(tmp, "entries"), Path(tmp, "expected"), Path(tmp, "got")
        with entries.open("w") as e_out, expected.open("w") as x_out:
            for i, name in enumerate(METERS):
                share = args.count // 2 + (args.count % 2 if i == 0 else 0)
                tallies[name], seconds = run_meter(name, share, rng, e_out, x_out)
                py_seconds += seconds
        c_failures, c_seconds = run_c(entries, expected, got)
    figures, failures = check_rates(tallies)
    failures = [f for t in tallies.values() for f in t.failures] + c_failures + failures
    report = {
        "count": args.count,
        "seed": args.seed,
        "load_average": round(load, 2),
        "python_ea07": native.engine_path_text(),  # NGUVU_PURE_PYTHON=1 for the pure-Python cipher
        "python_seconds": round(py_seconds, 1),
        "c_asan_seconds": round(c_seconds, 1),
        "differential": "agree" if not c_failures else "DISAGREE",
        "outcomes": {
            name: {kind: dict(t.outcomes[kind].most_common()) for kind in KINDS}
            for name, t in tallies.items()
        },
        **figures,
        "failures": failures,
    }
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 1 if failures else 0


def print_report(r: dict[str, Any]) -> None:
    print(
        f"token fuzz: {r['count']:,} entries, seed {r['seed']}, load {r['load_average']}; "
        f"Python decoder {r['python_seconds']} s, C decoder under ASan/UBSan {r['c_asan_seconds']} s"
    )
    print(f"  Python decoder's EA07: {r['python_ea07']} (EA11: MISTY1 in pure Python)")
    for name, kinds in r["outcomes"].items():
        for kind, counts in kinds.items():
            print(f"  {name} {kind:8} " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for kind in ("random", "corrupt"):
        f = r[kind]
        print(
            f"  {kind}: {f['decrypted']:,} of {f['entries']:,} reached the CRC check, {f['passed_crc']} passed "
            f"(expected {f['expected_crc_passes']}, bound {f['bound'][0]}..{f['bound'][1]}), "
            f"{f['accepted']} accepted (rate {f['accept_rate']:.2e})"
        )
    v = r["valid"]
    print(f"  valid: {v['accepted']:,} of {v['entries']:,} accepted ({v['locked']:,} entered while locked)")
    print(f"  replays: {r['replay']['accepted']} of {r['replay']['entries']:,} accepted")
    print(f"  Python and C: {r['differential']} on every entry (outcome and whole state)")
    for f in r["failures"]:
        print("FAIL " + f)
    print("ok" if not r["failures"] else f"{len(r['failures'])} failure(s)")


if __name__ == "__main__":
    sys.exit(main())
