"""Vending-side decoding: what a token says, for operators (`nguvu token decode`) and the service.

This answers "what is in this token"; whether a meter would accept it is the meter-side decoder's job
(tokencore.decoder), which adds the TID memory, key expiry and every other meter rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokencore.amount import CURRENCY_SCALE, decode_amount, decode_currency, tenths_to_units
from tokencore.blocks import Fields, Kind, parse_block
from tokencore.ciphers import REAL, TableSet, make_cipher
from tokencore.codec import open_token
from tokencore.keys import DecoderKey
from tokencore.params import BaseDate, Ea, Service
from tokencore.tid import tid_time


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """The plaintext block of a token and its fields. `crc_ok` False means: wrong key, or a typo."""

    token: str
    block: int
    fields: Fields

    @property
    def crc_ok(self) -> bool:
        return self.fields.crc_ok

    @property
    def units(self) -> Decimal | None:
        """Credit in the service's unit (kWh, m3, min) or currency units; None for other kinds."""
        f = self.fields
        if f.kind is Kind.CREDIT and f.amount_field is not None:
            return tenths_to_units(decode_amount(f.amount_field))
        if f.kind is Kind.CURRENCY_CREDIT and f.exponent is not None and f.mantissa is not None:
            return Decimal(decode_currency(f.exponent, f.mantissa)).scaleb(-CURRENCY_SCALE)
        return None

    @property
    def watts(self) -> int | None:
        f = self.fields
        if f.kind in (Kind.MPL, Kind.MPPUL) and f.amount_field is not None:
            return decode_amount(f.amount_field)
        return None

    def to_dict(self, base_date: BaseDate | None = None) -> dict[str, Any]:
        """JSON-ready description; with `base_date`, the TID is also shown as the UTC minute it encodes."""
        f = self.fields
        out: dict[str, Any] = {
            "token": self.token,
            "class": f.token_class,
            "subclass": f.subclass,
            "kind": f.kind.value,
            "crc_ok": f.crc_ok,
            "crc": f"{f.crc:04X}",
            "block": f"{self.block:016X}",
        }
        for name in (
            "rnd",
            "tid",
            "amount_field",
            "payload",
            "control",
            "mfr_code",
            "negative",
            "exponent",
            "mantissa",
        ):
            value = getattr(f, name)
            if value is not None:
                out[name] = value
        if f.kind is Kind.CREDIT:
            out["service"] = Service(f.subclass).name.lower()
        if self.units is not None:
            out["units"] = str(self.units)
        if self.watts is not None:
            out["watts"] = self.watts
        if f.tid is not None and base_date is not None:
            out["issued_at"] = tid_time(f.tid, base_date).strftime("%Y-%m-%dT%H:%MZ")
        if f.key_section is not None:
            section = f.key_section
            out["key_section"] = {
                k: v for k, v in (
                    ("ken_nibble", section.ken_nibble), ("krn", section.krn), ("ro", section.ro),
                    ("kt", section.kt), ("ti", section.ti), ("sgc_part", section.sgc_part),
                ) if v is not None
            }  # fmt: skip
        return out


def decode_token(
    token: str, decoder_key: DecoderKey | None, ea: Ea = Ea.EA07, tables: TableSet = REAL
) -> DecodedToken:
    """Decode a 20-digit token: untranspose, decrypt (not for Class 1), split the fields, check the CRC.

    The new-key words of key change tokens are not returned. Raises TokenFormatError for malformed
    digits, ValueError when the token is encrypted and no key was given.
    """
    cipher = None if decoder_key is None else make_cipher(decoder_key, ea, tables)
    token_class, block = open_token(token, cipher)
    fields = parse_block(token_class, block)
    return DecodedToken(token.strip().replace(" ", "").replace("-", ""), block, fields)
