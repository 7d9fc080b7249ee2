"""The meter-side state: what a keypad meter remembers between token entries.

Immutable: the state machine returns a new state, so a host (emulator, tests) persists the credit and
the TID memory in one write. `to_dict`/`from_dict` give a JSON-able form; it contains the decoder key,
so treat it as a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tokencore.identity import MeterPan, parse_pan
from tokencore.keys import DecoderKey
from tokencore.params import Ea, KeyParams

REGISTER_COUNT = 8  # 0-3: electricity, water, gas, time; 4-7: their currency registers (experimental)
# Credit registers 0-3 count thousandths of a unit (Wh, litres, ...): a token's tenth is 100 of them,
# and consumption can be debited finely. Currency registers 4-7 count 10^-5 of the currency unit.
UNIT_SCALE = 100


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """Fixed properties of a meter model. Defaults: 20 TIDs, 10-minute key change window, 3 wrong
    entries lock the keypad for 10 s, doubling up to 1280 s; credit registers up to 4,000,000 units."""

    tid_memory_size: int = 20
    kct_timeout_ms: int = 600_000
    register_limit: int = 4_000_000_000
    services: frozenset[int] = frozenset({0})  # credit subclasses this meter accepts (0-7)
    lockout_threshold: int = 3
    lockout_base_ms: int = 10_000
    lockout_max_ms: int = 1_280_000

    def __post_init__(self) -> None:
        if not 1 <= self.tid_memory_size <= 255:
            raise ValueError("TID memory size must be 1..255")
        if not self.services <= frozenset(range(8)):
            raise ValueError("services are credit subclasses 0..7")

    def to_dict(self) -> dict[str, Any]:
        return {
            "tid_memory_size": self.tid_memory_size,
            "kct_timeout_ms": self.kct_timeout_ms,
            "register_limit": self.register_limit,
            "services": sorted(self.services),
            "lockout_threshold": self.lockout_threshold,
            "lockout_base_ms": self.lockout_base_ms,
            "lockout_max_ms": self.lockout_max_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeterConfig:
        values = dict(data)
        values["services"] = frozenset(values.get("services", [0]))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class MeterKey:
    """The decoder key and the key parameters a meter stores (set at manufacture or by key change)."""

    key: DecoderKey
    ea: Ea
    kt: int
    krn: int
    ti: int
    ken: int
    sgc: int

    @classmethod
    def from_params(cls, key: DecoderKey, params: KeyParams) -> MeterKey:
        if len(key.reveal()) != params.ea.key_bytes:
            raise ValueError(f"{params.ea.name} needs a {params.ea.key_bytes * 8}-bit decoder key")
        return cls(key, params.ea, params.kt.value, params.krn, params.ti, params.ken, params.sgc)


@dataclass(frozen=True, slots=True)
class PendingSection:
    """A key change section the meter holds until the set is complete."""

    subclass: int
    block: int  # plaintext, CRC checked
    received_ms: int


@dataclass(frozen=True, slots=True)
class MeterState:
    """Everything the meter-side state machine reads and writes."""

    pan: MeterPan
    key: MeterKey
    config: MeterConfig = MeterConfig()
    registers: tuple[int, ...] = (0,) * REGISTER_COUNT
    tid_memory: tuple[int, ...] = field(default=())
    mpl_watts: int | None = None
    mppul_watts: int | None = None
    tariff_rate: int | None = None
    water_factor: int | None = None
    tamper: bool = False
    pending: tuple[PendingSection, ...] = ()
    wrong_entries: int = 0
    locked_until_ms: int = 0

    def __post_init__(self) -> None:
        if not self.tid_memory:
            object.__setattr__(self, "tid_memory", (0,) * self.config.tid_memory_size)
        if len(self.tid_memory) != self.config.tid_memory_size:
            raise ValueError("TID memory does not match the configured size")
        if len(self.registers) != REGISTER_COUNT:
            raise ValueError(f"a meter has {REGISTER_COUNT} registers")

    def __repr__(self) -> str:
        return f"MeterState(pan={self.pan.pan}, registers={self.registers}, key=<hidden>)"

    @property
    def credit(self) -> int:
        """The electricity register, in Wh."""
        return self.registers[0]

    def is_locked(self, now_ms: int) -> bool:
        return now_ms < self.locked_until_ms

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form. It holds the decoder key in hex: store it as a secret."""
        k = self.key
        return {
            "pan": self.pan.pan,
            "key": {
                "key": k.key.hex(),
                "ea": k.ea.value,
                "kt": k.kt,
                "krn": k.krn,
                "ti": k.ti,
                "ken": k.ken,
                "sgc": k.sgc,
            },
            "config": self.config.to_dict(),
            "registers": list(self.registers),
            "tid_memory": list(self.tid_memory),
            "mpl_watts": self.mpl_watts,
            "mppul_watts": self.mppul_watts,
            "tariff_rate": self.tariff_rate,
            "water_factor": self.water_factor,
            "tamper": self.tamper,
            "pending": [[p.subclass, f"{p.block:016X}", p.received_ms] for p in self.pending],
            "wrong_entries": self.wrong_entries,
            "locked_until_ms": self.locked_until_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MeterState:
        k = data["key"]
        key = MeterKey(
            DecoderKey.from_hex(k["key"]), Ea(k["ea"]), k["kt"], k["krn"], k["ti"], k["ken"], k["sgc"]
        )
        return cls(
            pan=parse_pan(data["pan"]),
            key=key,
            config=MeterConfig.from_dict(data.get("config", {})),
            registers=tuple(data["registers"]),
            tid_memory=tuple(data["tid_memory"]),
            mpl_watts=data.get("mpl_watts"),
            mppul_watts=data.get("mppul_watts"),
            tariff_rate=data.get("tariff_rate"),
            water_factor=data.get("water_factor"),
            tamper=bool(data.get("tamper", False)),
            pending=tuple(PendingSection(s, int(b, 16), t) for s, b, t in data.get("pending", [])),
            wrong_entries=data.get("wrong_entries", 0),
            locked_until_ms=data.get("locked_until_ms", 0),
        )


def new_meter_state(
    pan: MeterPan | str, key: DecoderKey, params: KeyParams, config: MeterConfig | None = None
) -> MeterState:
    """A fresh meter: zero credit, TID memory all zero, the given key and key parameters."""
    meter_pan = pan if isinstance(pan, MeterPan) else parse_pan(pan)
    return MeterState(meter_pan, MeterKey.from_params(key, params), config or MeterConfig())


def debit(state: MeterState, register: int, amount: int) -> tuple[MeterState, int]:
    """Take up to `amount` (register units, e.g. Wh) from a register; never below zero.

    Returns the new state and what was actually debited.
    """
    if amount < 0:
        raise ValueError("a debit cannot be negative")
    current = state.registers[register]
    taken = min(current, amount)
    registers = list(state.registers)
    registers[register] = current - taken
    return replace(state, registers=tuple(registers)), taken


def set_tamper(state: MeterState, tamper: bool = True) -> MeterState:
    """The meter's tamper switch: the host sets it, a clear-tamper token clears it."""
    return replace(state, tamper=tamper)
