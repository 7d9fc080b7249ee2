"""Vending: issue credit, management, test and key change tokens under the vending rules.

`Issuer` binds one meter profile to its decoder key and caches the cipher, for services that issue many
tokens to one meter (and for batch runs); the `issue_*` functions are one-shot shortcuts.
Time, RND and the meter's last TID issued are arguments: nothing here reads a clock or a random source.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tokencore import blocks
from tokencore.amount import (
    CURRENCY_SCALE,
    credit_amount,
    decode_amount,
    decode_currency,
    encode_amount,
    encode_currency,
    tenths_to_units,
)
from tokencore.blocks import CLASS_CREDIT, CLASS_MANAGEMENT, CLASS_TEST, KeySection, Kind, block_hex
from tokencore.ciphers import REAL, TableSet, make_cipher
from tokencore.ciphers.native import compiled_credit
from tokencore.codec import encode_token
from tokencore.digits import group, to_digits, transpose_class
from tokencore.errors import AmountRangeError, DdtkError, FieldRangeError, KeyParameterError, KeyTypeError
from tokencore.keys import DecoderKey
from tokencore.params import Ea, KeyParams, KeyType, MeterProfile, Service
from tokencore.records import builder
from tokencore.tid import check_key_expiry, next_tid


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """One issued token. `block` is the plaintext 64-bit block (before encryption)."""

    token: str
    token_class: int
    subclass: int
    kind: Kind
    block: int
    tid: int | None = None
    rnd: int | None = None
    amount_field: int | None = None
    units: Decimal | None = None  # credit actually encoded (>= requested), in the service's unit
    watts: int | None = None  # MPL / MPPUL actually encoded (>= requested)

    @property
    def grouped(self) -> str:
        """The token in groups of four digits, as printed on a receipt or an SMS."""
        return group(self.token)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields: token, class, subclass, kind, tid, rnd, amount_field, units, watts, block."""
        return {
            "token": self.token,
            "grouped": self.grouped,
            "class": self.token_class,
            "subclass": self.subclass,
            "kind": self.kind.value,
            "tid": self.tid,
            "rnd": self.rnd,
            "amount_field": self.amount_field,
            "units": None if self.units is None else str(self.units),
            "watts": self.watts,
            "block": block_hex(self.block, self.kind),
        }


# IssuedToken(...) without the frozen dataclass __init__ (see tokencore.records): issuing's hot path.
_issued = builder(IssuedToken)


def plan_credit(
    profile: MeterProfile,
    units: Decimal | int | str,
    *,
    at: datetime,
    rnd: int,
    last_tid: int | None,
    service: Service = Service.ELECTRICITY,
) -> tuple[int, int, int]:
    """Apply the vending rules to a credit request: (plaintext block, TID, amount field).

    Raises DdtkError on a DDTK meter, AmountRangeError above 1,820,162.4 units, TidError past the
    rollover, KeyExpiredError when the TID is past the key's KEN.
    """
    tid, field, _ = _credit_plan(profile.key, units, at, rnd, last_tid, service)
    return blocks.credit_block(int(service), rnd, tid, field), tid, field


def _credit_plan(
    key: KeyParams, units: Decimal | int | str, at: datetime, rnd: int, last_tid: int | None, service: int
) -> tuple[int, int, Decimal]:
    """The vending rules of `plan_credit` for a meter's key parameters: (TID, amount field, units
    credited). Positional arguments: this is the hot path of issuing."""
    if key.kt is KeyType.DDTK:
        raise DdtkError("the meter is on a default key (KT 1, DDTK): credit tokens are refused")
    field, credited = credit_amount(units)
    tid = next_tid(at, key.base_date, last_tid)
    check_key_expiry(tid, key.ken)
    _check_rnd(rnd)
    if not 0 <= int(service) <= 3:
        raise FieldRangeError(f"a credit token's service is subclass 0-3, got {service}")
    return tid, field, credited


def credit_token(token: str, block: int, tid: int, rnd: int, field: int) -> IssuedToken:
    """The IssuedToken of an encrypted credit block."""
    units = tenths_to_units(decode_amount(field))
    return _issued(token, CLASS_CREDIT, block >> 60, Kind.CREDIT, block, tid, rnd, field, units)


def _check_rnd(rnd: int) -> int:
    if not isinstance(rnd, int) or not 0 <= rnd <= 15:
        raise FieldRangeError(f"RND must be 0..15, got {rnd!r}")
    return rnd


def _check_watts(watts: int) -> int:
    if not isinstance(watts, int) or isinstance(watts, bool):
        raise TypeError("watts must be an int")
    if watts < 0:
        raise AmountRangeError("a power limit cannot be negative")
    return watts


class Issuer:
    """Issues tokens for one meter with its decoder key; the cipher is built once."""

    __slots__ = ("_cipher", "_compiled_credit", "_key", "profile")

    def __init__(self, profile: MeterProfile, decoder_key: DecoderKey, tables: TableSet = REAL) -> None:
        """Raises KeyParameterError when the key does not fit the profile's EA (64-bit EA07, 128-bit EA11)."""
        self.profile = profile
        self._key = decoder_key
        self._cipher = make_cipher(decoder_key, profile.key.ea, tables)
        self._compiled_credit = compiled_credit(self._cipher)

    def __repr__(self) -> str:
        return f"Issuer(pan={self.profile.pan.pan}, key=<hidden>)"

    def _tid(self, at: datetime, last_tid: int | None) -> int:
        key = self.profile.key
        tid = next_tid(at, key.base_date, last_tid)
        check_key_expiry(tid, key.ken)
        return tid

    def _token(self, token_class: int, block: int, **fields: Any) -> IssuedToken:
        token = to_digits(transpose_class(token_class, self._cipher.encrypt_block(block)))
        return _issued(
            token, token_class, block >> 60, blocks.kind_of(token_class, block >> 60), block, **fields
        )

    def credit(
        self,
        units: Decimal | int | str,
        *,
        at: datetime,
        rnd: int,
        last_tid: int | None = None,
        service: Service = Service.ELECTRICITY,
    ) -> IssuedToken:
        """A credit token (class 0, subclass = service) for `units` (kWh, m3, minutes), rounded up.

        Raises DdtkError on a DDTK meter, AmountRangeError above 1,820,162.4 units, TidError past the
        rollover, KeyExpiredError when the TID is past the key's KEN.
        """
        tid, field, credited = _credit_plan(self.profile.key, units, at, rnd, last_tid, service)
        if self._compiled_credit is not None:  # block, CRC, EA07 and digits in one call
            token, block = self._compiled_credit(self._cipher, service, rnd, tid, field)
        else:
            block = blocks.credit_block(int(service), rnd, tid, field)
            token = to_digits(transpose_class(CLASS_CREDIT, self._cipher.encrypt_block(block)))
        return _issued(token, CLASS_CREDIT, block >> 60, Kind.CREDIT, block, tid, rnd, field, credited)

    def currency_credit(
        self,
        amount: Decimal | str,
        *,
        at: datetime,
        last_tid: int | None = None,
        service: Service = Service.ELECTRICITY,
    ) -> IssuedToken:
        """EXPERIMENTAL currency credit token (class 0, subclasses 4-7, CRC_C; sts-notes §1.7.3).

        `amount` in currency units, rounded up to 10^-5. Only exponents 0-3 match a published vector.
        """
        if self.profile.key.kt is KeyType.DDTK:
            raise DdtkError("the meter is on a default key (KT 1, DDTK): credit tokens are refused")
        value = Decimal(amount)
        if not value.is_finite() or value < 0:
            raise AmountRangeError(f"currency amount must be a non-negative number, got {amount}")
        scaled = int(value.scaleb(CURRENCY_SCALE).to_integral_value(rounding="ROUND_CEILING"))
        exponent, mantissa = encode_currency(scaled)
        tid = self._tid(at, last_tid)
        block = blocks.currency_block(4 + Service(service).value, False, exponent, mantissa, tid)
        credited = Decimal(decode_currency(exponent, mantissa)).scaleb(-CURRENCY_SCALE)
        return self._token(CLASS_CREDIT, block, tid=tid, units=credited)

    def _register(
        self, subclass: int, payload: int, at: datetime, rnd: int, last_tid: int | None, **extra: Any
    ) -> IssuedToken:
        tid = self._tid(at, last_tid)
        block = blocks.register_block(subclass, _check_rnd(rnd), tid, payload)
        return self._token(CLASS_MANAGEMENT, block, tid=tid, rnd=rnd, **extra)

    def max_power_limit(
        self, watts: int, *, at: datetime, rnd: int, last_tid: int | None = None
    ) -> IssuedToken:
        """Set maximum power limit (2/0) in watts, rounded up. Raises AmountRangeError above 18,201,624 W."""
        field = encode_amount(_check_watts(watts))
        return self._register(0, field, at, rnd, last_tid, amount_field=field, watts=decode_amount(field))

    def phase_unbalance_limit(
        self, watts: int, *, at: datetime, rnd: int, last_tid: int | None = None
    ) -> IssuedToken:
        """Set maximum phase power unbalance limit (2/6) in watts, rounded up."""
        field = encode_amount(_check_watts(watts))
        return self._register(6, field, at, rnd, last_tid, amount_field=field, watts=decode_amount(field))

    def clear_credit(
        self, register: int, *, at: datetime, rnd: int, last_tid: int | None = None
    ) -> IssuedToken:
        """Clear credit (2/1) of one register (0-7) or all of them (0xFFFF). Raises FieldRangeError else."""
        if register not in blocks.CLEAR_REGISTERS:
            raise FieldRangeError(f"clear-credit register must be 0-7 or 65535 (all), got {register}")
        return self._register(1, register, at, rnd, last_tid)

    def tariff_rate(self, rate: int, *, at: datetime, rnd: int, last_tid: int | None = None) -> IssuedToken:
        """Set tariff rate (2/2): a 16-bit value whose meaning the STSA reserves."""
        return self._register(2, rate, at, rnd, last_tid)

    def clear_tamper(self, *, at: datetime, rnd: int, last_tid: int | None = None) -> IssuedToken:
        """Clear tamper condition (2/5); the pad field is zero."""
        return self._register(5, 0, at, rnd, last_tid)

    def water_meter_factor(
        self, factor: int, *, at: datetime, rnd: int, last_tid: int | None = None
    ) -> IssuedToken:
        """Set water meter factor (2/7): a 16-bit value reserved by the STSA for water meters."""
        return self._register(7, factor, at, rnd, last_tid)

    def key_change(
        self, new: KeyParams, new_key: DecoderKey, *, rollover: bool = False
    ) -> tuple[IssuedToken, ...]:
        """Key change tokens, encrypted under the current key: 2 for a 64-bit key (subclasses 3, 4),
        4 for a 128-bit key (3, 4, 8, 9). `rollover` sets RO, which clears the meter's TID memory
        (the TID-rollover migration, with the new base date in `new`).

        Raises KeyTypeError for a change the meter refuses (to KT 0 unless already KT 0; KT 3 on a keypad
        meter) and KeyParameterError when the new key's length does not fit the meter's EA.
        """
        current = self.profile.key
        if new.kt is KeyType.DITK and current.kt is not KeyType.DITK:
            raise KeyTypeError("a key change to KT 0 (DITK) is only accepted by a meter already on KT 0")
        if new.kt is KeyType.DCTK:
            raise KeyTypeError("KT 3 (DCTK, common key) is not accepted by keypad meters")
        if new.ea is not current.ea:
            raise KeyParameterError("a key change keeps the meter's encryption algorithm")
        material = new_key.reveal()
        if len(material) != current.ea.key_bytes:
            bits = current.ea.key_bytes * 8
            raise KeyParameterError(f"the new key must be {bits}-bit for {current.ea.name}")
        if rollover and hmac.compare_digest(material, self._key.reveal()):
            # RO clears the meter's TID memory: under the same key, every old token would replay.
            raise KeyParameterError("a rollover key change (RO=1) must also change the decoder key")
        words = [int.from_bytes(material[i : i + 4], "big") for i in range(0, len(material), 4)]
        first = KeySection(3, words[0], ken_nibble=new.ken >> 4, krn=new.krn, ro=rollover, kt=new.kt.value)
        if current.ea is Ea.EA07:
            sections = [first, KeySection(4, words[1], ken_nibble=new.ken & 15, ti=new.ti)]
        else:
            # 128-bit key bytes k0..k15: sub 3 = k0..k3, sub 8 = k4..k7, sub 9 = k8..k11, sub 4 = k12..k15.
            sections = [
                first,
                KeySection(4, words[3], ken_nibble=new.ken & 15, ti=new.ti),
                KeySection(8, words[1], sgc_part=new.sgc & 0xFFF),
                KeySection(9, words[2], sgc_part=new.sgc >> 12),
            ]
        return tuple(self._token(CLASS_MANAGEMENT, blocks.kct_block(s)) for s in sections)


def issue_test_token(control: int, mfr_code: int, *, long_mfr_code: bool = False) -> IssuedToken:
    """A Class 1 test/display token (not encrypted: any meter of the manufacturer acts on it).

    Subclass 0: 36 control bits and a 2-digit (8-bit) MfrCode; subclass 1 (`long_mfr_code`): 28 control
    bits and a 4-digit (16-bit) MfrCode. Raises FieldRangeError when a field does not fit.
    """
    subclass = 1 if long_mfr_code else 0
    block = blocks.test_block(subclass, control, mfr_code)
    return IssuedToken(encode_token(CLASS_TEST, block, None), CLASS_TEST, subclass, Kind.TEST, block)


def issue_credit_token(
    profile: MeterProfile,
    decoder_key: DecoderKey,
    *,
    units: Decimal | int | str,
    at: datetime,
    rnd: int,
    last_tid: int | None = None,
    service: Service = Service.ELECTRICITY,
    tables: TableSet = REAL,
) -> IssuedToken:
    """One-shot `Issuer(profile, decoder_key).credit(...)`: see Issuer.credit for units and errors."""
    return Issuer(profile, decoder_key, tables).credit(
        units, at=at, rnd=rnd, last_tid=last_tid, service=service
    )


def issue_key_change_tokens(
    profile: MeterProfile,
    current_key: DecoderKey,
    new: KeyParams,
    new_key: DecoderKey,
    *,
    rollover: bool = False,
    tables: TableSet = REAL,
) -> tuple[IssuedToken, ...]:
    """One-shot `Issuer(profile, current_key).key_change(...)`: see Issuer.key_change."""
    return Issuer(profile, current_key, tables).key_change(new, new_key, rollover=rollover)
