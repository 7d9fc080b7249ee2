"""Many meters in one process: one directory of state files (or memory), one endpoint per meter, one
event loop for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from meter_emulator.hub import Hub
from meter_emulator.links import Link, PtyLink, TcpLink
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import Identity, create_meter, decoder_key_for
from meter_emulator.store import FileStore, MemoryStore, StateStore
from tokencore import KeyParams, VendingKey, pan_from_drn
from tokencore.identity import luhn_check_digit

MANIFEST = "fleet.json"


def fleet_drns(count: int, mfr_code: int = 47, first_serial: int = 1) -> Iterator[str]:
    """`count` 11-digit DRNs: manufacturer code, 8-digit serial, Luhn check digit."""
    if not 0 <= mfr_code <= 99 or count < 0 or first_serial < 0 or first_serial + count > 10**8:
        raise ValueError("fleet DRNs need a 2-digit manufacturer code and serials below 10^8")
    for serial in range(first_serial, first_serial + count):
        body = f"{mfr_code:02d}{serial:08d}"
        yield body + str(luhn_check_digit(body))


def open_store(directory: Path | None, pan: str, durable: bool) -> StateStore:
    if directory is None:
        return MemoryStore()
    return FileStore(directory / f"{pan}.json", durable=durable)


def build_fleet(
    hub: Hub,
    count: int,
    key: KeyParams,
    vending_key: VendingKey,
    settings: MeterSettings,
    *,
    directory: Path | None,
    tcp_host: str | None = None,
    tcp_port: int = 0,
    durable: bool = True,
) -> list[tuple[Meter, Link]]:
    """Load (or create) `count` meters and attach each to its own endpoint on `hub`.

    Meters whose state file exists are loaded as they are; missing ones are created with `key` and a
    decoder key derived from `vending_key`. With `directory=None` the meters live in memory only.
    With `tcp_host`, each meter listens on a TCP port: any free one, or `tcp_port + i` for the i-th meter
    when `tcp_port` is given, so a fleet restarted on its state files is found at the same addresses.
    """
    now = hub.clock.now_ms()
    members: list[tuple[Meter, Link]] = []
    for i, drn in enumerate(fleet_drns(count)):
        pan = pan_from_drn(drn)
        store = open_store(directory, pan.pan, durable)
        if store.load() is None:
            identity = Identity(pan, key)
            meter = create_meter(store, identity, decoder_key_for(identity, vending_key), settings, now)
        else:
            meter = Meter.load(store, settings, now)
        link: Link = TcpLink(tcp_host, tcp_port + i if tcp_port else 0) if tcp_host else PtyLink()
        hub.add(meter, link)
        members.append((meter, link))
    return members


def write_manifest(path: Path, members: list[tuple[Meter, Link]]) -> None:
    """`fleet.json`: one entry per meter with its PAN, DRN and endpoint, for load-test clients."""
    rows = [
        {"pan": info[0][1], "drn": info[1][1], "endpoint": link.name}
        for info, link in ((meter.info_fields(), link) for meter, link in members)
    ]
    path.write_text(json.dumps(rows, indent=1) + "\n")
