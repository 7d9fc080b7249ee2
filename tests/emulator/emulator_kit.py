"""Shared pieces for the emulator tests: the CTSA test meter, a token maker and a manual clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from meter_emulator.clock import Clock
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import Identity, create_meter
from meter_emulator.store import FileStore, MemoryStore, StateStore
from tokencore import (
    BaseDate,
    DecoderKey,
    KeyParams,
    MeterProfile,
    VendingKey,
    derive_decoder_key,
    parse_pan,
)
from tokencore.issue import IssuedToken, Issuer

# The public STS test vending key of the compliance vectors (sts-notes §4), never a real one.
TEST_VENDING_KEY = VendingKey.from_hex("ABABABABABABABAB")
PAN_A = parse_pan("600727000000000009")
PAN_B = parse_pan("000001000000000082")
PARAMS = KeyParams(sgc=123456, ti=1, krn=1, base_date=BaseDate.Y1993)
PROFILE_A = MeterProfile(PAN_A, PARAMS)
KEY_A = derive_decoder_key(TEST_VENDING_KEY, PROFILE_A)
START = datetime(2004, 3, 1, 13, 55, tzinfo=UTC)


class ManualClock:
    """The meter's clock in tests: time moves only when the test says so."""

    def __init__(self, start_ms: int = 1_000_000) -> None:
        self.now = start_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


@dataclass
class Vendor:
    """Issues tokens for one meter the way the vending service does: increasing TIDs, one per minute."""

    profile: MeterProfile = PROFILE_A
    key: DecoderKey = KEY_A
    at: datetime = START
    last_tid: int | None = None
    rnd: random.Random = field(default_factory=lambda: random.Random(7))

    def _next(self) -> datetime:
        self.at += timedelta(minutes=1)
        return self.at

    def credit(self, units: str | Decimal = "10") -> IssuedToken:
        issued = Issuer(self.profile, self.key).credit(
            units, at=self._next(), rnd=self.rnd.randrange(16), last_tid=self.last_tid
        )
        self.last_tid = issued.tid
        return issued

    def mpl(self, watts: int) -> IssuedToken:
        issued = Issuer(self.profile, self.key).max_power_limit(
            watts, at=self._next(), rnd=self.rnd.randrange(16), last_tid=self.last_tid
        )
        self.last_tid = issued.tid
        return issued

    def clear_tamper(self) -> IssuedToken:
        issued = Issuer(self.profile, self.key).clear_tamper(
            at=self._next(), rnd=self.rnd.randrange(16), last_tid=self.last_tid
        )
        self.last_tid = issued.tid
        return issued


def new_meter(
    clock: Clock,
    settings: MeterSettings | None = None,
    path: Path | None = None,
    params: KeyParams = PARAMS,
    key: DecoderKey = KEY_A,
) -> Meter:
    """A fresh CTSA test meter (PAN A), in memory or in a state file."""
    store: StateStore = MemoryStore() if path is None else FileStore(path)
    identity = Identity(PAN_A, params)
    meter = create_meter(store, identity, key, settings or MeterSettings(), clock.now_ms())
    meter.drain_events()
    return meter


def corrupt(token: str, position: int, delta: int) -> str:
    """The token with one digit changed (a typo)."""
    digit = (int(token[position]) + delta) % 10
    return token[:position] + str(digit) + token[position + 1 :]


class SerialHost:
    """A host on the meter's serial line, following the protocol's host rules (resync, skip events)."""

    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        import serial

        self.port = serial.serial_for_url(url, baudrate=115200, timeout=timeout_s)
        self.events: list[str] = []
        self.port.write(b"\n")
        self.port.flush()

    def request(self, line: str | bytes) -> str:
        raw = line if isinstance(line, bytes) else line.encode("ascii") + b"\n"
        self.port.write(raw)
        self.port.flush()
        return self.reply()

    def reply(self) -> str:
        while True:
            raw = self.port.readline()
            if not raw.endswith(b"\n"):
                raise TimeoutError(f"no reply line (got {raw!r})")
            text = raw.decode("ascii").rstrip("\n")
            if text.startswith("EVENT "):
                self.events.append(text)
                continue
            return text

    def close(self) -> None:
        import contextlib
        import termios

        import serial

        with contextlib.suppress(serial.SerialException, OSError, termios.error):
            self.port.close()


class ServedMeter:
    """A meter on a real pty, served by a Hub in a background thread (stopped by `close`)."""

    def __init__(self, meter: Meter, clock: Clock) -> None:
        import threading

        from meter_emulator.hub import Hub
        from meter_emulator.links import PtyLink

        self.meter = meter
        self.link = PtyLink()
        self.hub = Hub(clock, tick_ms=50)
        self.hub.add(meter, self.link)
        self._stop = False
        self._thread = threading.Thread(target=self.hub.run, args=(lambda: self._stop,), daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        return self.link.name

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        self.hub.close()
