"""The meter and key options shared by every `nguvu token ...` command, parsed in one place.

`@meter_options` adds --pan/--drn/--sgc/--ti/--krn/--kt/--ken/--base-date/--dkga/--ea/--meter, the key
sources (--vending-key-file, NGUVU_VENDING_KEY, --vending-key, --decoder-key) and --tables to a command,
and hands the command one `MeterArgs` instead.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.errors import UsageError
from tokencore import (
    BaseDate,
    DecoderKey,
    Dkga,
    Ea,
    KeyParams,
    KeyType,
    MeterProfile,
    TableSet,
    VendingKey,
    derive_decoder_key,
    meter_from_number,
    table_set,
)

VENDING_KEY_ENV = "NGUVU_VENDING_KEY"


@dataclass(frozen=True)
class MeterArgs:
    """What the meter options say, before any key is derived."""

    pan: str | None
    drn: str | None
    sgc: int | None
    ti: int | None
    krn: int | None
    kt: int
    ken: int
    base_date: str
    dkga: str
    ea: str
    meter: Path | None
    vending_key_file: Path | None
    vending_key: str | None
    decoder_key: str | None
    tables: str

    def _file_values(self) -> dict[str, Any]:
        if self.meter is None:
            return {}
        try:
            data = json.loads(self.meter.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read meter profile {self.meter}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"meter profile {self.meter} must be a JSON object")
        return data

    def profile(self) -> MeterProfile:
        """The meter profile from the options (a --meter file fills what the options leave unset)."""
        f = self._file_values()
        number = self.pan or self.drn or f.get("pan") or f.get("drn")
        if not number:
            raise UsageError("give the meter: --pan (18 digits), --drn (11 or 13 digits) or --meter FILE")
        missing = [n for n in ("sgc", "ti", "krn") if getattr(self, n) is None and n not in f]
        if missing:
            raise UsageError("missing " + ", ".join(f"--{n}" for n in missing))

        def pick(name: str, default: Any) -> Any:
            value = getattr(self, name)
            return f.get(name, value) if value == default else value

        params = KeyParams(
            sgc=int(self.sgc if self.sgc is not None else f["sgc"]),
            ti=int(self.ti if self.ti is not None else f["ti"]),
            krn=int(self.krn if self.krn is not None else f["krn"]),
            kt=KeyType(int(pick("kt", 2))),
            ken=int(pick("ken", 255)),
            base_date=BaseDate.from_year(pick("base_date", "2014")),
            dkga=Dkga.parse(pick("dkga", "02")),
            ea=Ea.parse(pick("ea", "07")),
        )
        return MeterProfile(meter_from_number(str(number)), params)

    def table_set(self) -> TableSet:
        return table_set(self.tables)

    def vending_key_or_none(self) -> VendingKey | None:
        return load_vending_key(self.vending_key_file, self.vending_key)

    def key_for(self, profile: MeterProfile) -> DecoderKey:
        """The decoder key: --decoder-key, or derived from the vending key with the profile's DKGA."""
        if self.decoder_key:
            return DecoderKey.from_hex(self.decoder_key)
        vending_key = self.vending_key_or_none()
        if vending_key is None:
            raise UsageError(
                f"give a key: --vending-key-file FILE, {VENDING_KEY_ENV}, --vending-key HEX"
                " or --decoder-key HEX"
            )
        return derive_decoder_key(vending_key, profile)


def load_vending_key(path: Path | None, text: str | None) -> VendingKey | None:
    """The vending key from a file, else the NGUVU_VENDING_KEY environment variable, else hex text."""
    if path is not None:
        try:
            return VendingKey.from_hex(path.read_text())
        except OSError as exc:
            raise UsageError(f"cannot read vending key file {path}: {exc.strerror}") from None
    value = os.environ.get(VENDING_KEY_ENV) or text
    return VendingKey.from_hex(value) if value else None


_OPTIONS: list[inspect.Parameter] = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, default, annotation in [
        ("pan", None, Annotated[str | None, typer.Option(help="MeterPAN, 18 digits.")]),
        ("drn", None, Annotated[str | None, typer.Option(help="Meter number (DRN), 11 or 13 digits.")]),
        ("sgc", None, Annotated[int | None, typer.Option(help="Supply group code (6 digits).")]),
        ("ti", None, Annotated[int | None, typer.Option(help="Tariff index (0-99).")]),
        ("krn", None, Annotated[int | None, typer.Option(help="Key revision number (1-9).")]),
        ("kt", 2, Annotated[int, typer.Option(help="Key type: 0 DITK, 1 DDTK, 2 DUTK, 3 DCTK.")]),
        ("ken", 255, Annotated[int, typer.Option(help="Key expiry number (255: never).")]),
        ("base_date", "2014", Annotated[str, typer.Option(help="TID base date: 1993, 2014 or 2035.")]),
        ("dkga", "02", Annotated[str, typer.Option(help="Key derivation: 02 (DES) or 04 (HMAC-SHA256).")]),
        ("ea", "07", Annotated[str, typer.Option(help="Encryption: 07 (STA) or 11 (MISTY1).")]),
        (
            "meter",
            None,
            Annotated[Path | None, typer.Option(help="JSON meter profile with the fields above.")],
        ),
        (
            "vending_key_file",
            None,
            Annotated[Path | None, typer.Option(help="File holding the vending key (hex).")],
        ),
        (
            "vending_key",
            None,
            Annotated[str | None, typer.Option(help="Vending key in hex (visible in ps!).")],
        ),
        (
            "decoder_key",
            None,
            Annotated[str | None, typer.Option(help="Decoder key in hex, instead of a vending key.")],
        ),
        (
            "tables",
            "real",
            Annotated[str, typer.Option(help="EA07 tables: real (deployed) or sample (IEC text).")],
        ),
    ]
]


def with_options(
    name: str, build: Callable[..., Any], options: list[inspect.Parameter]
) -> Callable[..., Any]:
    """A decorator: replace the command's parameter `name` by `options` on the command line, and pass
    `build(**their values)` to the command as `name`. Typer reads the rewritten signature."""
    names = [p.name for p in options]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        own = [p for p in signature.parameters.values() if p.name != name]

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            values = {option: kwargs.pop(option) for option in names}
            return func(**{name: build(**values)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=own + options)  # type: ignore[attr-defined]
        return wrapper

    return decorate


meter_options = with_options("meter", MeterArgs, _OPTIONS)
"""Add the meter/key options to a command that takes `meter: MeterArgs`."""


def parse_time(text: str | None) -> datetime:
    """--at: ISO 8601 (naive means UTC); default now, UTC."""
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at must be an ISO 8601 time such as 2024-05-01T13:55, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
