"""`nguvu meter eeprom|provision`: load a meter profile (`nguvu meter new`) into an Uno meter.

The firmware image carries no meter identity or key (docs/firmware.md): each meter gets its own
record, either as an EEPROM image flashed with avrdude or over the serial line while it has no key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.apps import meter_app
from cli.errors import UsageError, guarded
from meter_emulator.eeprom import ImageError, eeprom_image, intel_hex
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import provision_requests
from meter_emulator.store import FileStore

Profile = Annotated[
    Path, typer.Argument(help="The meter's state file from `nguvu meter new` (holds its key).")
]


def _load(profile: Path) -> Meter:
    store = FileStore(profile)
    if store.load() is None:
        raise UsageError(f"no meter state at {profile}: create it with `nguvu meter new`")
    meter = Meter.load(store, MeterSettings(), 0)
    if not meter.provisioned:
        raise UsageError(f"{profile} is an unprovisioned meter: it has no identity or key to give")
    return meter


@meter_app.command("eeprom")
@guarded
def eeprom(
    profile: Profile,
    out: Annotated[Path, typer.Argument(help="The EEPROM image to write (Intel HEX, e.g. meter.eep).")],
    force: Annotated[bool, typer.Option(help="Replace an existing image file.")] = False,
) -> None:
    """Write the Uno firmware's EEPROM image of a meter (flash it with avrdude -U eeprom:w:OUT:i)."""
    meter = _load(profile)
    try:
        image = eeprom_image(meter.state, meter.provenance.base_year)
    except ImageError as exc:
        raise UsageError(f"{profile}: {exc}") from None
    if out.exists() and not force:
        raise UsageError(f"{out} exists; use --force to replace it")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the decoder key
        with os.fdopen(fd, "w") as f:
            f.write(intel_hex(image))
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    typer.echo(f"wrote {out}: EEPROM image of meter {meter.state.pan.pan} ({meter.state.key.ea.name})")


@meter_app.command("provision")
@guarded
def provision(
    profile: Profile,
    serial_url: Annotated[
        str, typer.Option("--serial", help="The meter's serial port or pyserial URL, e.g. /dev/ttyACM0.")
    ],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 2.0,
) -> None:
    """Write a meter's identity and key over its serial line (only a meter with no key accepts it)."""
    from api.meterlink import MeterLinkError, exchange  # pyserial: only for this command

    meter = _load(profile)
    if meter.state.registers != (0,) * len(meter.state.registers) or any(meter.state.tid_memory):
        raise UsageError(
            f"{profile} is not a fresh profile: serial provisioning starts a meter with no credit"
        )
    try:
        replies = exchange(
            serial_url, [*provision_requests(meter.state, meter.provenance.base_year), "INFO"], timeout
        )
    except MeterLinkError as exc:
        raise UsageError(str(exc)) from None
    if replies and replies[-1] == "ERROR provisioned":
        raise UsageError("the meter already has a key: it changes only with key change tokens")
    if len(replies) != 3 or replies[:2] != ["OK", "OK"]:
        raise UsageError(f"the meter refused provisioning: {replies[-1] if replies else 'no reply'}")
    if f"pan={meter.state.pan.pan}" not in replies[2].split():
        raise UsageError(f"the meter does not report the provisioned PAN: {replies[2]}")
    typer.echo(replies[2])
