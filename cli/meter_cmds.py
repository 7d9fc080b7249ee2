"""`nguvu meter new|show|emulate|fleet`: create, inspect and run emulated keypad meters."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from cli.apps import meter_app
from cli.errors import UsageError, guarded
from meter_emulator import decoding
from meter_emulator.clock import SystemClock
from meter_emulator.fleet import MANIFEST, build_fleet, write_manifest
from meter_emulator.hub import Hub
from meter_emulator.links import Link, PtyLink, TcpLink, UrlLink
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import Identity, create_meter, create_unprovisioned, decoder_key_for
from meter_emulator.sensor import Pzem, parse_profile
from meter_emulator.store import FileStore
from tokencore import BaseDate, DecoderKey, Dkga, Ea, KeyParams, KeyType, VendingKey
from tokencore.identity import meter_from_number

VENDING_ENV = "NGUVU_VENDING_KEY"
DECODER_ENV = "NGUVU_DECODER_KEY"

StateFile = Annotated[Path, typer.Argument(help="The meter's state file (JSON; it holds the decoder key).")]
Sgc = Annotated[int, typer.Option(help="Supply group code (6 digits).")]
Ti = Annotated[int, typer.Option(help="Tariff index (0-99).")]
Krn = Annotated[int, typer.Option(help="Key revision number (1-9).")]
Kt = Annotated[int, typer.Option(help="Key type: 0 DITK, 1 DDTK, 2 DUTK, 3 DCTK.")]
Ken = Annotated[int, typer.Option(help="Key expiry number (255 = never).")]
BaseYear = Annotated[int, typer.Option("--base-date", help="TID base date: 1993, 2014 or 2035.")]
EaOpt = Annotated[str, typer.Option("--ea", help="Encryption algorithm: 07 (STA) or 11 (MISTY1).")]
DkgaOpt = Annotated[str, typer.Option("--dkga", help="Decoder key generation algorithm: 02 or 04.")]
VendingKeyFile = Annotated[
    Path | None,
    typer.Option(help=f"File holding the vending key in hex (default: ${VENDING_ENV})."),
]
DecoderKeyFile = Annotated[
    Path | None,
    typer.Option(help=f"File holding the decoder key in hex, instead of deriving it (or ${DECODER_ENV})."),
]
Load = Annotated[str, typer.Option(help="Load profile: constant:W, daily:PEAK_W or steps:W1,W2,...@SECONDS.")]
TimeFactor = Annotated[
    float, typer.Option(help="Simulated seconds per real second for the load (e.g. 3600).")
]
LowCredit = Annotated[float, typer.Option(help="Low-credit warning threshold in kWh.")]
Voltage = Annotated[float, typer.Option(help="Nominal line voltage (80-260 V).")]
SaveEvery = Annotated[float, typer.Option(help="Write consumption back at least every this many seconds.")]


def _key_params(sgc: int, ti: int, krn: int, kt: int, ken: int, base: int, ea: str, dkga: str) -> KeyParams:
    return KeyParams(
        sgc=sgc,
        ti=ti,
        krn=krn,
        kt=KeyType(kt),
        ken=ken,
        base_date=BaseDate.from_year(base),
        dkga=Dkga.parse(dkga),
        ea=Ea.parse(ea),
    )


def _secret_text(path: Path | None, env_name: str) -> str | None:
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read key file {path}: {exc.strerror}") from None
    return os.environ.get(env_name) or None


def _decoder_key(identity: Identity, vending_file: Path | None, decoder_file: Path | None) -> DecoderKey:
    decoder_hex = _secret_text(decoder_file, DECODER_ENV) if decoder_file or not vending_file else None
    if decoder_hex:
        return DecoderKey.from_hex(decoder_hex)
    vending_hex = _secret_text(vending_file, VENDING_ENV)
    if not vending_hex:
        raise UsageError(f"give --vending-key-file or --decoder-key-file (or set ${VENDING_ENV})")
    return decoder_key_for(identity, VendingKey.from_hex(vending_hex))


def _settings(
    load: str, time_factor: float, low_credit: float, voltage: float, save_every: float = 10.0
) -> MeterSettings:
    if time_factor <= 0:
        raise UsageError("--time-factor must be positive")
    if save_every <= 0:
        raise UsageError("--save-every must be positive")
    if not 80 <= voltage <= 260:
        raise UsageError("--voltage must be 80-260 V (the sensor's range)")
    return MeterSettings(
        profile=parse_profile(load),
        pzem=Pzem(nominal_v=voltage),
        time_factor=time_factor,
        low_credit_wh=round(low_credit * 1000),
        persist_interval_ms=round(save_every * 1000),
    )


@meter_app.command("new")
@guarded
def new(
    state_file: StateFile,
    meter: Annotated[
        str | None, typer.Option("--meter", help="MeterPAN (18 digits) or DRN (11 or 13 digits).")
    ] = None,
    sgc: Sgc = 123456,
    ti: Ti = 1,
    krn: Krn = 1,
    kt: Kt = 2,
    ken: Ken = 255,
    base_date: BaseYear = 2014,
    ea: EaOpt = "07",
    dkga: DkgaOpt = "02",
    vending_key_file: VendingKeyFile = None,
    decoder_key_file: DecoderKeyFile = None,
    force: Annotated[bool, typer.Option(help="Replace an existing state file.")] = False,
    unprovisioned: Annotated[
        bool,
        typer.Option(help="A meter with no identity or key yet, provisioned later over its serial line."),
    ] = False,
) -> None:
    """Create a meter (no credit, empty TID memory) in STATE_FILE."""
    if state_file.exists() and not force:
        raise UsageError(f"{state_file} exists; use --force to replace it")
    if unprovisioned:
        if meter is not None:
            raise UsageError("--unprovisioned makes a meter with no identity: leave out --meter")
        create_unprovisioned(FileStore(state_file), MeterSettings(), 0)
        typer.echo(f"created an unprovisioned meter in {state_file}")
        return
    if meter is None:
        raise UsageError("give --meter (or --unprovisioned)")
    identity = Identity(meter_from_number(meter), _key_params(sgc, ti, krn, kt, ken, base_date, ea, dkga))
    key = _decoder_key(identity, vending_key_file, decoder_key_file)
    created = create_meter(FileStore(state_file), identity, key, MeterSettings(), 0)
    typer.echo(f"created meter {identity.pan.pan} in {state_file}")
    _print_meter(created)


def _print_meter(meter: Meter) -> None:
    for key, value in meter.info_fields():
        typer.echo(f"{key:<8} {value}")
    for key, value in decoding.summary(meter.state):
        typer.echo(f"{key:<8} {value}")
    typer.echo(f"{'energy':<8} {meter.energy_wh / 1000:.3f} kWh")
    typer.echo(f"{'last':<8} {meter.last_result or '-'}")


@meter_app.command("show")
@guarded
def show(state_file: StateFile) -> None:
    """Print a meter's identity, key parameters and registers (never its key)."""
    store = FileStore(state_file)
    if store.load() is None:
        raise UsageError(f"no meter state at {state_file}")
    meter = Meter.load(store, MeterSettings(), 0)
    meter.drain_events()
    _print_meter(meter)


class _Stop:
    """Set by SIGTERM/SIGINT so the loop ends and every meter is saved."""

    def __init__(self) -> None:
        self.stop = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def __call__(self) -> bool:
        return self.stop


@meter_app.command("emulate")
@guarded
def emulate(
    state_file: StateFile,
    serial_url: Annotated[
        str | None, typer.Option("--serial", help="Attach to a pyserial URL instead of a new pty.")
    ] = None,
    tcp: Annotated[
        str | None, typer.Option(help="Listen on HOST:PORT for `socket://` hosts instead of a pty.")
    ] = None,
    headless: Annotated[bool, typer.Option(help="No terminal UI: print the endpoint and serve.")] = False,
    link_path: Annotated[
        Path | None,
        typer.Option("--link", help="Also make PATH a symlink to the pty (a stable device name)."),
    ] = None,
    load: Load = "constant:0",
    time_factor: TimeFactor = 1.0,
    low_credit: LowCredit = 2.0,
    voltage: Voltage = 230.0,
    save_every: SaveEvery = 10.0,
    tick_ms: Annotated[int, typer.Option(help="Simulation step in real ms.")] = 250,
) -> None:
    """Run one meter: an interactive terminal meter, or headless on a pty / pyserial URL / TCP port."""
    store = FileStore(state_file)
    if store.load() is None:
        raise UsageError(f"no meter state at {state_file}: create it with `nguvu meter new`")
    settings = _settings(load, time_factor, low_credit, voltage, save_every)
    clock = SystemClock()
    meter = Meter.load(store, settings, clock.now_ms())
    link = _open_link(serial_url, tcp)
    if link_path is not None:
        if not isinstance(link, PtyLink):
            raise UsageError("--link names a pty: it cannot be combined with --serial or --tcp")
        _replace_symlink(link_path, link.name)
    hub = Hub(clock, tick_ms=tick_ms)
    hub.add(meter, link)
    try:
        if headless or not sys.stdin.isatty():
            print(f"SERIAL {link.name}", flush=True)
            hub.run(_Stop())
        else:
            from meter_emulator.tui import run_terminal

            run_terminal(hub, meter, link.name)
    finally:
        hub.close()
        if link_path is not None:
            with contextlib.suppress(OSError):
                link_path.unlink()


def _replace_symlink(path: Path, target: str) -> None:
    if path.exists() and not path.is_symlink():
        raise UsageError(f"{path} exists and is not a symlink: not replacing it")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.symlink_to(target)


def _open_link(serial_url: str | None, tcp: str | None) -> Link:
    if serial_url and tcp:
        raise UsageError("give --serial or --tcp, not both")
    if serial_url:
        return UrlLink(serial_url)
    if tcp:
        host, _, port = tcp.rpartition(":")
        return TcpLink(host or "127.0.0.1", int(port))
    return PtyLink()


@meter_app.command("fleet")
@guarded
def fleet(
    directory: Annotated[Path, typer.Argument(help="Directory of the meters' state files and fleet.json.")],
    count: Annotated[int, typer.Option(help="Number of meters.")] = 1000,
    memory: Annotated[bool, typer.Option(help="Keep the meters' state in memory only (load tests).")] = False,
    tcp: Annotated[
        bool, typer.Option(help="One loopback TCP port per meter (socket://) instead of one pty each.")
    ] = False,
    tcp_port: Annotated[
        int | None,
        typer.Option(
            help="With --tcp: meter i listens on BASE+i (stable across restarts); default any free port."
        ),
    ] = None,
    fsync: Annotated[bool, typer.Option(help="fsync every state write (durable).")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Threads that answer requests so fsyncs overlap (default: 8 with fsynced files, else 0)."
        ),
    ] = None,
    sgc: Sgc = 123456,
    ti: Ti = 1,
    krn: Krn = 1,
    kt: Kt = 2,
    ken: Ken = 255,
    base_date: BaseYear = 2014,
    ea: EaOpt = "07",
    dkga: DkgaOpt = "02",
    vending_key_file: VendingKeyFile = None,
    load: Load = "constant:0",
    time_factor: TimeFactor = 1.0,
    low_credit: LowCredit = 2.0,
    save_every: SaveEvery = 60.0,
    tick_ms: Annotated[int, typer.Option(help="Simulation step in real ms.")] = 1000,
) -> None:
    """Run COUNT meters in one process; print each endpoint and write DIRECTORY/fleet.json."""
    if not 1 <= count <= 100_000:
        raise UsageError("--count must be 1-100000")
    vending_hex = _secret_text(vending_key_file, VENDING_ENV)
    if not vending_hex:
        raise UsageError(f"give --vending-key-file (or set ${VENDING_ENV}) to create the fleet's keys")
    directory.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = 8 if fsync and not memory else 0
    if not 0 <= workers <= 64:
        raise UsageError("--workers must be 0-64")
    if tcp_port is not None and not (tcp and tcp_port >= 1024 and tcp_port + count <= 65536):
        raise UsageError("--tcp-port needs --tcp and BASE+COUNT within 1024-65535")
    clock = SystemClock()
    hub = Hub(clock, tick_ms=tick_ms, workers=workers)
    members = build_fleet(
        hub,
        count,
        _key_params(sgc, ti, krn, kt, ken, base_date, ea, dkga),
        VendingKey.from_hex(vending_hex),
        _settings(load, time_factor, low_credit, 230.0, save_every),
        directory=None if memory else directory,
        tcp_host="127.0.0.1" if tcp else None,
        tcp_port=tcp_port or 0,
        durable=fsync,
    )
    write_manifest(directory / MANIFEST, members)
    print(json.dumps({"meters": len(members), "manifest": str(directory / MANIFEST)}), flush=True)
    try:
        hub.run(_Stop())
    finally:
        hub.close()
