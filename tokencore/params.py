"""Key parameters and the vending-side profile of a meter (sts-notes §1.6, §2.4, §2.5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, IntEnum

from tokencore.errors import KeyParameterError
from tokencore.identity import MeterPan


class KeyType(IntEnum):
    """KT: the type of the decoder key."""

    DITK = 0  # decoder initialisation transfer key
    DDTK = 1  # decoder default transfer key: no credit tokens
    DUTK = 2  # decoder unique transfer key: the normal per-meter key
    DCTK = 3  # decoder common transfer key: IAIN zeroed in the PANBlock


class BaseDate(Enum):
    """The epoch of the TID. The value is the two-digit code DKGA04 hashes."""

    Y1993 = "93"
    Y2014 = "14"
    Y2035 = "35"

    # Members are singletons compared by identity, so the identity hash is right, and it is computed in
    # C: Enum's own __hash__ runs Python code, and these members key the engine's caches per token.
    __hash__ = object.__hash__

    @property
    def epoch(self) -> datetime:
        return _EPOCHS[self]

    @property
    def year(self) -> int:
        return self.epoch.year

    @classmethod
    def from_year(cls, year: int | str) -> BaseDate:
        text = str(year).strip()
        for member in cls:
            if text in (member.value, str(member.year)):
                return member
        raise KeyParameterError(f"base date must be 1993, 2014 or 2035, got {year!r}")


_EPOCHS = {
    BaseDate.Y1993: datetime(1993, 1, 1, tzinfo=UTC),
    BaseDate.Y2014: datetime(2014, 1, 1, tzinfo=UTC),
    BaseDate.Y2035: datetime(2035, 1, 1, tzinfo=UTC),
}


class Ea(Enum):
    """Encryption algorithm code."""

    EA07 = "07"  # STA, 64-bit key
    EA09 = "09"  # DEA: no public vector; not supported (see docs/engine.md)
    EA11 = "11"  # MISTY1, 128-bit key

    # Members are singletons compared by identity, so the identity hash is right, and it is computed in
    # C: Enum's own __hash__ runs Python code, and these members key the engine's caches per token.
    __hash__ = object.__hash__

    @classmethod
    def parse(cls, text: str | int) -> Ea:
        code = str(text).strip().upper().removeprefix("EA").zfill(2)
        try:
            return cls(code)
        except ValueError:
            raise KeyParameterError(f"encryption algorithm must be 07 or 11, got {text!r}") from None

    @property
    def key_bytes(self) -> int:
        return 16 if self is Ea.EA11 else 8


class Dkga(Enum):
    """Decoder key generation algorithm code."""

    DKGA02 = "02"  # DES, 64-bit vending key
    DKGA04 = "04"  # HMAC-SHA-256 KDF, 160-bit vending key

    # Members are singletons compared by identity, so the identity hash is right, and it is computed in
    # C: Enum's own __hash__ runs Python code, and these members key the engine's caches per token.
    __hash__ = object.__hash__

    @classmethod
    def parse(cls, text: str | int) -> Dkga:
        code = str(text).strip().upper().removeprefix("DKGA").zfill(2)
        try:
            return cls(code)
        except ValueError:
            raise KeyParameterError(f"key generation algorithm must be 02 or 04, got {text!r}") from None


class Service(IntEnum):
    """Credit token subclasses 0-3: the service whose register a credit token fills."""

    ELECTRICITY = 0  # 0.1 kWh
    WATER = 1  # 0.1 m3
    GAS = 2  # 0.1 m3
    TIME = 3  # 0.1 minute (sts-notes §1.3: unit uncertain)

    @classmethod
    def parse(cls, text: str) -> Service:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise KeyParameterError(
                f"service must be electricity, water, gas or time, got {text!r}"
            ) from None

    @property
    def unit(self) -> str:
        return {0: "kWh", 1: "m3", 2: "m3", 3: "min"}[self.value]


@dataclass(frozen=True, slots=True)
class KeyParams:
    """The parameters that, with the MeterPAN and a vending key, define a meter's decoder key."""

    sgc: int
    ti: int
    krn: int
    kt: KeyType = KeyType.DUTK
    ken: int = 255
    base_date: BaseDate = BaseDate.Y2014
    dkga: Dkga = Dkga.DKGA02
    ea: Ea = Ea.EA07

    def __post_init__(self) -> None:
        if not 0 <= self.sgc <= 999_999:
            raise KeyParameterError(f"SGC must be 6 decimal digits (0-999999), got {self.sgc}")
        if not 0 <= self.ti <= 99:
            raise KeyParameterError(f"TI must be 0-99, got {self.ti}")
        if not 1 <= self.krn <= 9:
            raise KeyParameterError(f"KRN must be 1-9, got {self.krn}")
        object.__setattr__(self, "kt", KeyType(self.kt))
        if not 0 <= self.ken <= 255:
            raise KeyParameterError(f"KEN must be 0-255, got {self.ken}")
        if self.ea is Ea.EA09:
            raise KeyParameterError("EA09 (DEA) has no public definition or vector; use 07 or 11")
        if self.ea is Ea.EA11 and self.dkga is not Dkga.DKGA04:
            raise KeyParameterError("EA11 (MISTY1) needs a 128-bit decoder key, which only DKGA04 derives")


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """What the vending side knows of one meter: its identity and its current key parameters."""

    pan: MeterPan
    key: KeyParams
