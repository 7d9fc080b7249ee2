"""Token throughput on one core: issue, key derivation, decode and the meter-side decoder, side by side.

Every row is timed in this process, best of three repetitions taken round-robin (so a burst of load from
another process hurts all rows alike), after one warm-up run. Ratios are against the bit-by-bit EA07
baseline measured in the same run, never against a number remembered from another machine.
Run `python benchmarks/tokens.py --help`; benchmarks/README.md explains each row.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpaygo
from openpaygo.token_shared import OpenPAYGOTokenShared

from tokencore import (
    Dkga,
    Ea,
    Issuer,
    KeyParams,
    MeterProfile,
    VendingKey,
    decode_token,
    derive_decoder_key,
    luhn_check_digit,
    next_tid,
    pan_from_drn,
    units_to_tenths,
)
from tokencore.amount import decode_amount, encode_amount
from tokencore.batch import CreditRequest, issue_credit_tokens
from tokencore.blocks import CLASS_CREDIT, credit_block
from tokencore.ciphers.ea07 import reference_encrypt
from tokencore.ciphers.native import COMPILED, PURE, compiled_available, use_path
from tokencore.decoder import UNIT_SCALE, enter_token, new_meter_state
from tokencore.digits import to_digits, transpose_class
from tokencore.tid import check_key_expiry

REPEATS = 3
# Issue 12: per core, cached key, through the public API.
ISSUE_TARGET = {PURE: 120_000.0, COMPILED: 300_000.0}
DECODE_TARGET = 100_000.0  # decode_token and enter_token, pure path (issue 12)
DKGA02_TARGET = 20_000.0
BATCH_TARGET = 100_000.0  # tokencore.batch, one meter (before issue 12's per-token targets)
BATCH_TARGET_SECONDS_PER_MILLION = 15.0
T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
OPENPAYGO_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"  # the key of openpaygo's own examples


@dataclass(frozen=True)
class Meter:
    profile: MeterProfile
    vending_key: VendingKey


def _meter(dkga: Dkga, ea: Ea, vending_key: str) -> Meter:
    body = "0123456789"
    pan = pan_from_drn(body + str(luhn_check_digit(body)))
    params = KeyParams(sgc=123456, ti=1, krn=1, dkga=dkga, ea=ea)
    return Meter(MeterProfile(pan, params), VendingKey(bytes.fromhex(vending_key)))


DKGA02_EA07 = _meter(Dkga.DKGA02, Ea.EA07, "0123456789ABCDEF")
DKGA04_EA07 = _meter(Dkga.DKGA04, Ea.EA07, "00112233445566778899AABBCCDDEEFF01234567")
DKGA04_EA11 = _meter(Dkga.DKGA04, Ea.EA11, "00112233445566778899AABBCCDDEEFF01234567")


@dataclass(frozen=True)
class Requests:
    """Inputs prepared outside the timed loops: issue times 20 s apart (so the TID changes, and the
    same-minute rule runs every third token), RND 0-15, amounts 0.1-6.4 units as Decimal."""

    times: tuple[datetime, ...]
    units: tuple[Decimal, ...] = tuple(Decimal(k).scaleb(-1) for k in range(1, 65))

    @classmethod
    def make(cls, n: int) -> Requests:
        return cls(tuple(T0 + timedelta(seconds=20 * i) for i in range(n)))


Run = Callable[[int], Any]


@dataclass
class Case:
    """One row: `run(n)` handles n tokens. `target` is a rate, or None for information rows."""

    key: str
    name: str
    count: int
    run: Run
    target: float | None = None
    target_text: str = "-"
    path: str | None = None  # the EA07 path the row runs on (None: a baseline outside tokencore's paths)
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  # the process's CPU time of each repetition

    @property
    def seconds(self) -> float:
        return min(self.times)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Tokens per CPU second: less sensitive than the wall-clock rate to time spent waiting for a core
        on a loaded machine (not to cache contention)."""
        return self.count / min(self.cpu_times)


def issue_loop(meter: Meter, req: Requests, *, derive: bool, reuse: bool) -> Run:
    """Credit issue as a vending service does it: last_tid fed back, one Issuer (or key) per token."""
    profile, vk = meter.profile, meter.vending_key
    cached_key = derive_decoder_key(vk, profile)
    units, times = req.units, req.times

    def run(n: int) -> int | None:
        issuer = Issuer(profile, cached_key)
        last = None
        for i in range(n):
            if derive:
                issuer = Issuer(profile, derive_decoder_key(vk, profile))
            elif not reuse:
                issuer = Issuer(profile, cached_key)
            last = issuer.credit(units[i & 63], at=times[i], rnd=i & 15, last_tid=last).tid
        return last

    return run


def batch_loop(meter: Meter, req: Requests, *, meters: int) -> Run:
    """tokencore.batch.issue_credit_tokens over `meters` distinct meters, the decoder key of each derived
    inside the timed run (as `nguvu token batch` does per meter), then one bit-sliced EA07 pass."""
    vk = meter.vending_key
    profiles = []
    for m in range(max(1, meters)):
        body = f"{m:010d}"
        profiles.append(MeterProfile(pan_from_drn(body + str(luhn_check_digit(body))), meter.profile.key))
    units, times = req.units, req.times

    def run(n: int) -> int:
        keys = [derive_decoder_key(vk, p) for p in profiles[: min(len(profiles), n)]]
        count = len(keys)
        requests = [
            CreditRequest(profiles[i % count], keys[i % count], units[i & 63], times[i], i & 15)
            for i in range(n)
        ]
        return len(issue_credit_tokens(requests))

    return run


def bitwise_loop(meter: Meter, req: Requests) -> Run:
    """The same credit issue with the straightforward bit-by-bit EA07 (tokencore's reference_encrypt)."""
    profile = meter.profile
    key = derive_decoder_key(meter.vending_key, profile).as_int()
    base_date, ken = profile.key.base_date, profile.key.ken
    units, times = req.units, req.times

    def run(n: int) -> list[str]:
        tokens = []
        last = None
        for i in range(n):
            field_ = encode_amount(units_to_tenths(units[i & 63]))
            tid = next_tid(times[i], base_date, last)
            check_key_expiry(tid, ken)
            block = credit_block(0, i & 15, tid, field_)
            tokens.append(to_digits(transpose_class(CLASS_CREDIT, reference_encrypt(key, block))))
            last = tid
        return tokens

    return run


def issued_tokens(meter: Meter, req: Requests, n: int) -> list[str]:
    issuer = Issuer(meter.profile, derive_decoder_key(meter.vending_key, meter.profile))
    tokens, last = [], None
    for i in range(n):
        issued = issuer.credit(req.units[i & 63], at=req.times[i], rnd=i & 15, last_tid=last)
        tokens.append(issued.token)
        last = issued.tid
    return tokens


def decode_loop(meter: Meter, tokens: Sequence[str]) -> Run:
    key, ea = derive_decoder_key(meter.vending_key, meter.profile), meter.profile.key.ea

    def run(n: int) -> int:
        ok = 0
        for token in tokens[:n]:
            ok += decode_token(token, key, ea).crc_ok
        return ok

    return run


def enter_loop(meter: Meter, tokens: Sequence[str]) -> Run:
    """The meter-side decoder, state fed back: every token must be accepted (checked after timing)."""
    profile = meter.profile
    key = derive_decoder_key(meter.vending_key, profile)

    def run(n: int) -> int:
        state = new_meter_state(profile.pan, key, profile.key)
        for token in tokens[:n]:
            state, _ = enter_token(state, token, 0)
        return state.registers[0]

    return run


def openpaygo_loop(count: int) -> Run:
    """openpaygo.generate_token at a fixed `count`: its cost grows with the count (one hash per step)."""
    # A server stores each device's starting code; pass it, as the baseline would be slower without.
    secret = OpenPAYGOTokenShared.load_secret_key_from_hex(OPENPAYGO_KEY)
    starting_code = OpenPAYGOTokenShared.generate_starting_code(secret)

    def run(n: int) -> str:
        token = ""
        for i in range(n):
            _, token = openpaygo.generate_token(
                secret_key=OPENPAYGO_KEY, count=count, value=1 + (i & 63), starting_code=starting_code
            )
        return token

    return run


def _expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise SystemExit(f"benchmark self-check failed: {what}: got {got!r}, expected {want!r}")


def self_check(req: Requests, tokens: Sequence[str], n: int) -> None:
    """Before timing: the baseline and the fast path issue the same tokens, decode and the meter accept
    them. A benchmark of wrong answers would be worthless."""
    _expect("bit-by-bit tokens equal Issuer tokens", bitwise_loop(DKGA02_EA07, req)(n), list(tokens[:n]))
    _expect("decode_token: CRC ok", decode_loop(DKGA02_EA07, tokens)(n), n)
    credited = sum(decode_amount(encode_amount(units_to_tenths(req.units[i & 63]))) for i in range(n))
    _expect("enter_token: all accepted", enter_loop(DKGA02_EA07, tokens)(n), credited * UNIT_SCALE)


def engine_cases(path: str, req: Requests, tokens: Sequence[str], n: Callable[[int], int]) -> list[Case]:
    """The engine's rows on one EA07 path (pure or compiled)."""
    counts = {"reuse": n(30_000), "cached": n(25_000), "derive": n(15_000), "decode": n(10_000)}
    if path == COMPILED:  # three times faster: more tokens per repetition keep the timings long enough
        counts = {k: 3 * v for k, v in counts.items()}
    target = ISSUE_TARGET[path]
    issue, dkga02 = f">= {target:,.0f}/s", f">= {DKGA02_TARGET:,.0f}/s"
    decode = f">= {DECODE_TARGET:,.0f}/s"
    rows = [
        Case("issue_cached", "issue, cached key (Issuer per token)", counts["cached"],
             issue_loop(DKGA02_EA07, req, derive=False, reuse=False), target, issue),
        Case("issue_reused", "issue, one Issuer reused", counts["reuse"],
             issue_loop(DKGA02_EA07, req, derive=False, reuse=True), target, issue),
        Case("issue_dkga02", "issue + DKGA02 per token", counts["derive"],
             issue_loop(DKGA02_EA07, req, derive=True, reuse=False), DKGA02_TARGET, dkga02),
        Case("issue_dkga04_ea07", "issue + DKGA04 per token (EA07)", counts["derive"],
             issue_loop(DKGA04_EA07, req, derive=True, reuse=False)),
        Case("decode", "decode_token, cached key", counts["decode"], decode_loop(DKGA02_EA07, tokens),
             DECODE_TARGET, decode),
        Case("enter", "meter enter_token, state fed back", counts["decode"], enter_loop(DKGA02_EA07, tokens),
             DECODE_TARGET, decode),
        Case("batch_cached", "batch issue, one meter", counts["reuse"],
             batch_loop(DKGA02_EA07, req, meters=1), BATCH_TARGET, f">= {BATCH_TARGET:,.0f}/s"),
        Case("batch_dkga02", "batch issue + DKGA02 per 4 tokens", counts["reuse"],
             batch_loop(DKGA02_EA07, req, meters=counts["reuse"] // 4), DKGA02_TARGET, dkga02),
    ]  # fmt: skip
    for row in rows:
        row.path = path
    return rows


def cases(quick: bool) -> list[Case]:
    scale = 50 if quick else 1

    def n(full: int) -> int:
        return max(20, full // scale)

    paths = [PURE, COMPILED] if compiled_available() else [PURE]
    req = Requests.make(3 * n(30_000))
    tokens = issued_tokens(DKGA02_EA07, req, 3 * n(10_000))
    for path in paths:
        use_path(path)
        self_check(req, tokens, min(200, len(tokens)))
    rows = [Case("bitwise", "baseline: issue, bit-by-bit EA07", n(2_000), bitwise_loop(DKGA02_EA07, req))]
    for path in paths:
        rows += engine_cases(path, req, tokens, n)
    # EA11 (MISTY1) has one implementation, in pure Python: one row.
    rows.append(Case("issue_ea11_cached", "issue EA11/MISTY1, cached key", n(15_000),
                     issue_loop(DKGA04_EA11, req, derive=False, reuse=False)))  # fmt: skip
    rows.append(Case("openpaygo_1", "baseline: openpaygo count=1", n(15_000), openpaygo_loop(1)))
    rows.append(Case("openpaygo_100", "baseline: openpaygo count=100", n(600), openpaygo_loop(100)))
    return rows


def measure(rows: Sequence[Case]) -> None:
    """One warm-up run per row, then REPEATS timed runs taken round-robin across the rows. A row of an
    engine path selects that path first (which empties the cipher cache: the run rebuilds its cipher)."""
    for case in rows:
        use_path(case.path or PURE)
        case.run(min(case.count, 200))
    for _ in range(REPEATS):
        for case in rows:
            use_path(case.path or PURE)
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            case.run(case.count)
            case.times.append(time.perf_counter() - start)
            case.cpu_times.append(time.process_time() - cpu)


def verdict(case: Case) -> str:
    if case.target is None:
        return ""
    return "meets" if case.rate >= case.target else "below"


def pure_rate(rows: Sequence[Case], case: Case) -> float | None:
    """The rate of the same row on the pure path, for a compiled row."""
    if case.path != COMPILED:
        return None
    return next(c.rate for c in rows if c.key == case.key and c.path == PURE)


def print_table(rows: Sequence[Case]) -> None:
    base = next(c for c in rows if c.key == "bitwise").rate
    head = (
        f"{'row':<36} {'path':<8} {'count':>7} {'seconds':>8} {'tokens/s':>10} {'CPU tok/s':>10} "
        f"{'vs bit-by-bit':>13} {'vs pure':>7}  target"
    )
    print(head)
    print("-" * (len(head) + 24))
    for c in rows:
        ratio = f"{c.rate / base:,.1f}x"
        pure = pure_rate(rows, c)
        vs_pure = "" if pure is None else f"{c.rate / pure:,.1f}x"
        target = f"{c.target_text} {verdict(c)}".rstrip()
        print(
            f"{c.name:<36} {c.path or '-':<8} {c.count:>7} {c.seconds:>8.3f} {c.rate:>10,.0f} "
            f"{c.cpu_rate:>10,.0f} {ratio:>13} {vs_pure:>7}  {target}"
        )


def results(rows: Sequence[Case]) -> list[dict[str, Any]]:
    base = next(c for c in rows if c.key == "bitwise").rate
    out = []
    for c in rows:
        pure = pure_rate(rows, c)
        out.append(
            {
                "key": c.key,
                "name": c.name,
                "path": c.path,
                "count": c.count,
                "seconds": round(c.seconds, 6),
                "all_seconds": [round(t, 6) for t in c.times],
                "tokens_per_s": round(c.rate, 1),
                "tokens_per_cpu_s": round(c.cpu_rate, 1),
                "ratio_vs_bitwise": round(c.rate / base, 2),
                "ratio_vs_pure": None if pure is None else round(c.rate / pure, 2),
                "target_tokens_per_s": None if c.target is None else round(c.target, 1),
                "verdict": verdict(c) or None,
            }
        )
    return out


def nguvu_command() -> str | None:
    """The `nguvu` console command next to this interpreter (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / "nguvu"
    return str(local) if local.exists() else shutil.which("nguvu")


def batch_available(nguvu: str | None) -> str | None:
    """None when `nguvu token batch` exists, else the reason it cannot be run."""
    if nguvu is None:
        return "no `nguvu` command found (install the project: make setup)"
    probe = subprocess.run(
        [nguvu, "token", "batch", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    if probe.returncode != 0:
        # Typer draws its error in a box: keep the last line that has words in it.
        lines = [line.strip(" │╭╮╰╯─") for line in probe.stderr.splitlines()]
        last = ([line for line in lines if line] or ["(no message)"])[-1]
        return f"`nguvu token batch` is not available yet: {last}"
    return None


# The input columns of `nguvu token batch` (cli/batch.py) that this benchmark fills.
BATCH_COLUMNS: tuple[str, ...] | None = ("drn", "sgc", "ti", "krn", "units", "at")
BATCH_VENDING_KEY = "0123456789ABCDEF"
TOKENS_PER_METER = 4  # a month of weekly purchases: one key derivation per four tokens


def write_batch_csv(path: Path, n: int, columns: Sequence[str], meters: int | None = None) -> None:
    """N credit requests, one row each, for N / 4 distinct meters (four tokens each, same minute), or for
    `meters` meters (N / meters tokens each)."""
    meters = max(1, n // TOKENS_PER_METER if meters is None else meters)
    drns = []
    for m in range(meters):
        body = f"{m:010d}"
        drns.append(body + str(luhn_check_digit(body)))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i in range(n):
            writer.writerow(
                [drns[i % meters], "123456", "1", "1", f"{(i % 640 + 1) / 10}", "2025-06-01T10:00"]
            )


def run_batch(n: int, meters: int | None = None) -> dict[str, Any]:
    nguvu = nguvu_command()
    reason = batch_available(nguvu)
    if reason is not None:
        print(f"\n--batch {n}: skipped, {reason}")
        return {"skipped": reason}
    assert nguvu is not None
    if BATCH_COLUMNS is None:
        reason = "`nguvu token batch` exists, but BATCH_COLUMNS is not filled in from cli/token_cmds.py yet"
        print(f"\n--batch {n}: skipped, {reason}")
        return {"skipped": reason}
    with tempfile.TemporaryDirectory(prefix="nguvu-bench-") as tmp:
        source, target = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        write_batch_csv(source, n, BATCH_COLUMNS, meters)
        if meters is not None:
            # Baseline, side by side: one worker, which is all a file of few meters got when rows were
            # dealt by meter only.
            alone, _ = time_batch(nguvu, source, target, ["--workers", "1"])
        seconds, rows = time_batch(nguvu, source, target, [])
    rate = n / seconds
    if meters is not None:
        print(f"\nnguvu token batch --workers 1 (baseline): {n:,} requests for {meters:,} meters in {alone:.2f} s"
              f" = {n / alone:,.0f} tokens/s")  # fmt: skip
        print(f"nguvu token batch (every core): {seconds:.2f} s, {alone / seconds:.2f}x the baseline")
    budget = BATCH_TARGET_SECONDS_PER_MILLION * n / 1_000_000
    ok = "meets" if seconds <= budget else "below"
    print(f"\nnguvu token batch: {n:,} requests -> {rows:,} rows in {seconds:.2f} s = {rate:,.0f} tokens/s")
    limit = f"{BATCH_TARGET_SECONDS_PER_MILLION:g} s on 2 cores (<= {budget:.2f} s for {n:,})"
    print(f"  target: 1,000,000 tokens in < {limit}: {ok}")
    return {"count": n, "rows": rows, "seconds": round(seconds, 3), "tokens_per_s": round(rate, 1),
            "verdict": ok}  # fmt: skip


def time_batch(nguvu: str, source: Path, target: Path, extra: list[str]) -> tuple[float, int]:
    """Seconds of one `nguvu token batch` run, and the rows of its output."""
    start = time.perf_counter()
    done = subprocess.run(
        [nguvu, "token", "batch", str(source), str(target), "--vending-key", BATCH_VENDING_KEY, "--no-progress",
         *extra],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"`nguvu token batch` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    with target.open(newline="") as out:
        return seconds, sum(1 for _ in csv.DictReader(out))


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run in a few seconds")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--batch", type=int, metavar="N", help="also time `nguvu token batch` on N requests")
    parser.add_argument(
        "--batch-meters",
        type=int,
        metavar="M",
        help="the --batch file holds M meters (default N/4), and a --workers 1 run is timed beside it",
    )
    parser.add_argument("--batch-only", action="store_true", help="skip the table: only the --batch run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    env = environment()
    print(
        f"Python {env['python']} on {env['machine']}, {env['cpus']} CPUs, load average "
        f"{env['load_average'][0]:.2f}; one process, best of {REPEATS}" + (" (quick)" if args.quick else "")
    )
    built = "pure and compiled" if compiled_available() else "pure only (the compiled EA07 was not built)"
    rows = [] if args.batch_only else cases(args.quick)
    if rows:
        print(f"EA07 paths measured: {built}")
        measure(rows)
        print_table(rows)
        print("Figures move with the load of other processes on this machine: compare ratios, not absolutes.")
        print("Targets are judged on tokens/s (wall clock); CPU tok/s counts the process's CPU time only.")
    batch = run_batch(args.batch, args.batch_meters) if args.batch else None
    if args.json:
        payload = {"environment": env, "quick": args.quick, "rows": results(rows), "batch": batch}
        print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
