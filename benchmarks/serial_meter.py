"""Meter emulator figures: tokens accepted per second over the serial protocol (one meter, a fleet) and
memory per meter in fleet mode. It prints figures and ratios against an in-process baseline measured in
the same run; it asserts nothing.

    .venv/bin/python benchmarks/serial_meter.py [--tokens 400] [--fleet 1000]

Everything runs on this machine: the emulator in a child process on ptys, the host with pyserial.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import tty
from datetime import UTC, datetime, timedelta
from pathlib import Path

import serial

from meter_emulator import decoding
from meter_emulator.fleet import fleet_drns
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import Identity, create_meter
from meter_emulator.store import FileStore, MemoryStore
from tokencore import BaseDate, KeyParams, MeterProfile, VendingKey, derive_decoder_key, pan_from_drn
from tokencore.issue import Issuer

VENDING_HEX = "ABABABABABABABAB"  # the public STS test vending key
PARAMS = KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y2014)
NGUVU_METER = "import cli.meter_cmds; from cli.apps import app; app()"


def issue(profile: MeterProfile, count: int) -> list[str]:
    issuer = Issuer(profile, derive_decoder_key(VendingKey.from_hex(VENDING_HEX), profile))
    at, last, tokens = datetime(2026, 1, 1, tzinfo=UTC), None, []
    for i in range(count):
        token = issuer.credit("1.5", at=at + timedelta(minutes=i), rnd=i % 16, last_tid=last)
        last = token.tid
        tokens.append(token.token)
    return tokens


def profile_of(drn: str) -> MeterProfile:
    return MeterProfile(pan_from_drn(drn), PARAMS)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10.0f} tokens/s  ({seconds * 1000 / count:.3f} ms each, {count} tokens)"


def in_process(tokens: list[str], store_dir: Path | None) -> float:
    profile = profile_of(next(fleet_drns(1)))
    key = derive_decoder_key(VendingKey.from_hex(VENDING_HEX), profile)
    store = MemoryStore() if store_dir is None else FileStore(store_dir / "bench.json")
    meter = create_meter(store, Identity(profile.pan, PARAMS), key, MeterSettings(), 0)
    start = time.perf_counter()
    for i, token in enumerate(tokens):
        outcome = meter.enter_token(token, i)
        if outcome.outcome != "accept":
            raise RuntimeError(f"token refused: {outcome.outcome}")
    return time.perf_counter() - start


class Host:
    """A pyserial host that reads reply lines and skips EVENT lines (the one-meter runs)."""

    def __init__(self, url: str) -> None:
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=5)
        self.port.write(b"\n")

    def request(self, line: str) -> str:
        self.port.write(line.encode() + b"\n")
        while True:
            reply = self.port.readline().decode().rstrip("\n")
            if not reply.startswith("EVENT "):
                return reply

    def close(self) -> None:
        self.port.close()


class RawHost:
    """The same host on a raw file descriptor: pyserial's select() cannot watch more than 1024 fds,
    and the fleet runs keep a thousand endpoints open in one process."""

    def __init__(self, endpoint: str) -> None:
        if endpoint.startswith("socket://"):
            host, _, port = endpoint.removeprefix("socket://").rpartition(":")
            self.sock: socket.socket | None = socket.create_connection((host, int(port)))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.fd = self.sock.fileno()
        else:
            self.sock = None
            self.fd = os.open(endpoint, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self.fd)
        self.buffer = b""
        os.write(self.fd, b"\n")

    def request(self, line: str) -> str:
        os.write(self.fd, line.encode() + b"\n")
        while True:
            while b"\n" not in self.buffer:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    raise ConnectionError("endpoint closed")
                self.buffer += chunk
            reply, self.buffer = self.buffer.split(b"\n", 1)
            if not reply.startswith(b"EVENT "):
                return reply.decode()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        else:
            os.close(self.fd)


def spawn(args: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", NGUVU_METER, "meter", *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    return proc, first


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def one_meter_over_serial(tokens: list[str], workdir: Path) -> float:
    key_file = workdir / "vk.hex"
    key_file.write_text(VENDING_HEX)
    state = workdir / "single.json"
    drn = next(fleet_drns(1))
    subprocess.run(
        [sys.executable, "-c", NGUVU_METER, "meter", "new", str(state), "--meter", drn, "--vending-key-file",
         str(key_file), "--base-date", "2014"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    proc, first = spawn(["emulate", str(state), "--headless"])
    try:
        host = Host(first.split()[1])
        start = time.perf_counter()
        for token in tokens:
            reply = host.request(f"TOKEN {token}")
            if not reply.startswith("RESULT accept"):
                raise RuntimeError(reply)
        elapsed = time.perf_counter() - start
        host.close()
    finally:
        stop(proc)
    return elapsed


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start_fleet(
    workdir: Path, count: int, extra: list[str]
) -> tuple[subprocess.Popen[str], list[dict[str, str]]]:
    key_file = workdir / "vk.hex"
    key_file.write_text(VENDING_HEX)
    directory = workdir / f"fleet-{count}-{'-'.join(extra) or 'files'}"
    proc, first = spawn(
        ["fleet", str(directory), "--count", str(count), "--vending-key-file", str(key_file), *extra]
    )
    summary = json.loads(first)
    rows: list[dict[str, str]] = json.loads(Path(summary["manifest"]).read_text())
    return proc, rows


def fleet_over_serial(
    workdir: Path, count: int, per_meter: int, clients: int, extra: list[str]
) -> tuple[float, int]:
    tokens = {drn: issue(profile_of(drn), per_meter) for drn in fleet_drns(count)}
    proc, rows = start_fleet(workdir, count, extra)
    errors: list[str] = []

    def client(part: list[dict[str, str]]) -> None:
        hosts = [(RawHost(row["endpoint"]), tokens[row["drn"]]) for row in part]
        barrier.wait()
        for round_ in range(per_meter):
            for host, meter_tokens in hosts:
                reply = host.request(f"TOKEN {meter_tokens[round_]}")
                if not reply.startswith("RESULT accept"):
                    errors.append(reply)
        for host, _ in hosts:
            host.close()

    barrier = threading.Barrier(clients + 1, timeout=120)
    threads = [threading.Thread(target=client, args=(rows[i::clients],)) for i in range(clients)]
    try:
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    finally:
        stop(proc)
    if errors:
        raise RuntimeError(f"{len(errors)} refusals, e.g. {errors[0]}")
    return elapsed, count * per_meter


def fleet_memory(workdir: Path, count: int) -> tuple[float, float]:
    """(KiB per meter of the whole process with ptys, KiB per meter of Python objects in process)."""
    proc_small, _ = start_fleet(workdir, 1, ["--memory"])
    small = rss_kib(proc_small.pid)
    stop(proc_small)
    proc_big, _ = start_fleet(workdir, count, ["--memory"])
    time.sleep(1.5)  # a few ticks: every meter has advanced and drawn its state once
    big = rss_kib(proc_big.pid)
    stop(proc_big)

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    meters = []
    for drn in fleet_drns(count):
        profile = profile_of(drn)
        key = derive_decoder_key(VendingKey.from_hex(VENDING_HEX), profile)
        meter = Meter(decoding.new_state(profile.pan, PARAMS, key), MemoryStore(), MeterSettings())
        meter.save(0)
        meters.append(meter)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    objects = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return (big - small) / (count - 1), objects / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400, help="tokens for the one-meter runs")
    parser.add_argument("--fleet", type=int, default=1000, help="meters in the fleet runs")
    parser.add_argument("--clients", type=int, default=8, help="host threads in the fleet runs")
    args = parser.parse_args()
    tokens = issue(profile_of(next(fleet_drns(1))), args.tokens)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="nguvu-bench-") as tmp:
        workdir = Path(tmp)
        base = in_process(tokens, None)
        print(f"baseline  in process, decoder + meter, state in memory      {rate(len(tokens), base)}")
        durable = in_process(tokens, workdir)
        print(f"          in process, atomic fsynced state file             {rate(len(tokens), durable)}"
              f"  x{durable / base:.1f} baseline time")  # fmt: skip
        serial_time = one_meter_over_serial(tokens, workdir)
        print(f"one meter over the pty (pyserial host, fsynced state file)  {rate(len(tokens), serial_time)}"
              f"  x{serial_time / base:.1f} baseline time")  # fmt: skip
        runs = (
            ("ptys, state in memory", ["--memory"]),
            ("ptys, files, no fsync", ["--no-fsync"]),
            ("ptys, fsynced files, inline", ["--workers", "0"]),
            ("ptys, fsynced files, 8 workers", []),
        )
        for label, extra in runs:
            elapsed, count = fleet_over_serial(workdir, args.fleet, 2, args.clients, extra)
            print(f"fleet of {args.fleet}, {args.clients} host threads, {label:<26}{rate(count, elapsed)}")
        elapsed, count = fleet_over_serial(workdir, args.fleet, 2, args.clients, ["--memory", "--tcp"])
        label = "TCP ports, state in memory"
        print(f"fleet of {args.fleet}, {args.clients} host threads, {label:<26}{rate(count, elapsed)}")
        process_kib, object_kib = fleet_memory(workdir, args.fleet)
        print(f"memory per meter in fleet mode: {process_kib:.1f} KiB of process RSS (with its pty), "
              f"{object_kib:.1f} KiB of Python objects")  # fmt: skip


if __name__ == "__main__":
    main()
