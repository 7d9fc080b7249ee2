"""Loading the shared known-answer vectors (tests/vectors/*.json), for the Python and the C tests."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokencore import (
    BaseDate,
    Dkga,
    Ea,
    KeyParams,
    KeyType,
    MeterProfile,
    VendingKey,
    derive_decoder_key,
    parse_pan,
)

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    assert data.get("provenance"), f"{name} has no provenance header"
    return data


def profile_of(spec: dict[str, Any]) -> MeterProfile:
    return MeterProfile(
        parse_pan(spec["pan"]),
        KeyParams(
            sgc=spec["sgc"],
            ti=spec["ti"],
            krn=spec["krn"],
            kt=KeyType(spec.get("kt", 2)),
            ken=spec.get("ken", 255),
            base_date=BaseDate.from_year(spec.get("base_date", 1993)),
            dkga=Dkga.parse(spec.get("dkga", "02")),
            ea=Ea.parse(spec.get("ea", "07")),
        ),
    )


def decoder_key_of(spec: dict[str, Any]):  # type: ignore[no-untyped-def]
    return derive_decoder_key(VendingKey.from_hex(spec["vending_key"]), profile_of(spec))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def units(text: str) -> Decimal:
    return Decimal(text)
