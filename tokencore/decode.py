"""Vending-side decoding: what a token says, for operators (`nguvu token decode`) and the service.

This answers "what is in this token"; whether a meter would accept it is the meter-side decoder's job
(tokencore.decoder), which adds the TID memory, key expiry and every other meter rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokencore.amount import CURRENCY_SCALE, decode_amount, decode_currency, tenths_to_units
from tokencore.blocks import Fields, Kind, block_hex, parse_block
from tokencore.ciphers import REAL, TableSet, make_cipher
from tokencore.codec import open_token
from tokencore.keys import DecoderKey
from tokencore.params import BaseDate, Ea, Service
from tokencore.records import builder
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
        """JSON-ready description: token, class, subclass, kind, crc_ok, crc, block, and `fields` (what
        this kind carries). With `base_date`, fields also show the UTC minute the TID encodes."""
        f = self.fields
        names = (
            "rnd",
            "tid",
            "amount_field",
            "payload",
            "control",
            "mfr_code",
            "negative",
            "exponent",
            "mantissa",
        )
        fields: dict[str, Any] = {n: getattr(f, n) for n in names if getattr(f, n) is not None}
        if f.kind is Kind.CREDIT:
            fields["service"] = Service(f.subclass).name.lower()
        if self.units is not None:
            fields["units"] = str(self.units)
        if self.watts is not None:
            fields["watts"] = self.watts
        if f.tid is not None and base_date is not None:
            fields["issued_at"] = tid_time(f.tid, base_date).strftime("%Y-%m-%dT%H:%MZ")
        if f.key_section is not None:
            # The new key's words are left out: a decoded key change never shows key material.
            s = f.key_section
            pairs = (("ken_nibble", s.ken_nibble), ("krn", s.krn), ("ro", s.ro), ("kt", s.kt), ("ti", s.ti),
                     ("sgc_part", s.sgc_part))  # fmt: skip
            fields.update((k, v) for k, v in pairs if v is not None)
        return {
            "token": self.token,
            "class": f.token_class,
            "subclass": f.subclass,
            "kind": f.kind.value,
            "crc_ok": f.crc_ok,
            "crc": f"{f.crc:04X}",
            "block": block_hex(self.block, f.kind),
            "fields": fields,
        }


_decoded = builder(DecodedToken)  # DecodedToken(...) without the frozen __init__ (tokencore.records)


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
    return _decoded(token.strip().replace(" ", "").replace("-", ""), block, fields)
