"""Fleet mode: a thousand meters in one process and one event loop, each with its own state and port."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from emulator_kit import PARAMS, TEST_VENDING_KEY, SerialHost, Vendor

from meter_emulator.clock import SystemClock
from meter_emulator.fleet import build_fleet, fleet_drns, write_manifest
from meter_emulator.hub import Hub
from meter_emulator.meter import MeterSettings
from tokencore import MeterProfile, derive_decoder_key, pan_from_drn
from tokencore.identity import validate_drn

COUNT = 1000


def test_fleet_drns_are_valid_and_distinct() -> None:
    drns = list(fleet_drns(COUNT))
    assert len(set(drns)) == COUNT
    assert all(validate_drn(drn) == drn for drn in drns)


def test_a_thousand_meters_in_one_loop(tmp_path: Path) -> None:
    hub = Hub(SystemClock(), tick_ms=200)
    members = build_fleet(
        hub, COUNT, PARAMS, TEST_VENDING_KEY, MeterSettings(), directory=None, tcp_host="127.0.0.1"
    )
    write_manifest(tmp_path / "fleet.json", members)
    assert len(hub.endpoints) == COUNT
    assert len({link.name for _, link in members}) == COUNT
    stop = False
    loop = threading.Thread(target=hub.run, args=(lambda: stop,), daemon=True)
    loop.start()
    try:
        rng = random.Random(3)
        for index in rng.sample(range(COUNT), 6):
            meter, link = members[index]
            pan = pan_from_drn(list(fleet_drns(COUNT))[index])
            profile = MeterProfile(pan, PARAMS)
            vendor = Vendor(profile, derive_decoder_key(TEST_VENDING_KEY, profile))
            host = SerialHost(link.name)
            try:
                token = vendor.credit("2").token
                assert host.request(f"TOKEN {token}") == "RESULT accept amount=2.0 credit=2.0"
                assert host.request(f"TOKEN {token}") == "RESULT used"
                assert host.request("INFO").startswith(f"INFO pan={pan.pan} ")
            finally:
                host.close()
            assert meter.credit_wh == 2_000
        # every other meter is untouched: each has its own state
        assert sum(1 for meter, _ in members if meter.credit_wh) == 6
    finally:
        stop = True
        loop.join(5)
        hub.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_tcp_endpoint_serves_one_host_after_another(workers: int) -> None:
    import socket

    from emulator_kit import ManualClock, new_meter

    from meter_emulator.links import TcpLink

    clock = SystemClock()
    hub = Hub(clock, tick_ms=100, workers=workers)
    link = TcpLink()
    hub.add(new_meter(ManualClock(clock.now_ms())), link)
    stop = False
    loop = threading.Thread(target=hub.run, args=(lambda: stop,), daemon=True)
    loop.start()
    host, port = link.name.removeprefix("socket://").split(":")
    try:
        for attempt in range(3):
            with socket.create_connection((host, int(port)), timeout=5) as conn:
                # the first host leaves a partial line behind; the next ones must not see it
                conn.sendall(b"STATUS\nTOKEN 1234" if attempt == 0 else b"STATUS\n")
                received = b""
                while b"STATUS credit=" not in received or not received.endswith(b"\n"):
                    received += conn.recv(4096)
                assert b"ERROR" not in received and b"RESULT" not in received
    finally:
        stop = True
        loop.join(5)
        hub.close()


def test_workers_answer_many_meters_at_once_with_durable_files(tmp_path: Path) -> None:
    """With a thread pool, replies still follow their fsynced writes, and each meter stays consistent."""
    from meter_emulator.meter import Meter
    from meter_emulator.store import FileStore

    count, per_meter = 24, 5
    hub = Hub(SystemClock(), tick_ms=50, workers=4)
    members = build_fleet(
        hub, count, PARAMS, TEST_VENDING_KEY, MeterSettings(), directory=tmp_path, tcp_host="127.0.0.1"
    )
    drns = list(fleet_drns(count))
    stop = False
    loop = threading.Thread(target=hub.run, args=(lambda: stop,), daemon=True)
    loop.start()
    failures: list[str] = []

    def customer(index: int) -> None:
        profile = MeterProfile(pan_from_drn(drns[index]), PARAMS)
        vendor = Vendor(profile, derive_decoder_key(TEST_VENDING_KEY, profile))
        tokens = [vendor.credit("1.5").token for _ in range(per_meter)]
        host = SerialHost(members[index][1].name)
        try:
            host.port.write("".join(f"TOKEN {t}\n" for t in tokens).encode())  # pipelined
            replies = [host.reply() for _ in tokens]
            expected = [f"RESULT accept amount=1.5 credit={1.5 * (i + 1):.1f}" for i in range(per_meter)]
            if replies != expected:
                failures.append(f"{index}: {replies}")
            if host.request(f"TOKEN {tokens[0]}") != "RESULT used":
                failures.append(f"{index}: replay")
        finally:
            host.close()

    threads = [threading.Thread(target=customer, args=(i,)) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        stop = True
        loop.join(5)
        hub.close()
    assert failures == []
    for drn in drns:
        stored = Meter.load(FileStore(tmp_path / f"{pan_from_drn(drn).pan}.json"), MeterSettings(), 0)
        assert stored.credit_wh == per_meter * 1_500
