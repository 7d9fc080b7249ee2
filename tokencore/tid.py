"""Token identifiers (sts-notes §1.6): minutes since the base date, 24 bits, and the rules around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tokencore.errors import KeyExpiredError, TidError
from tokencore.params import BaseDate

TID_MAX = 0xFFFFFF
_EPOCH_SECONDS = {base: int(base.epoch.timestamp()) for base in BaseDate}


def tid_at(at: datetime, base_date: BaseDate) -> int:
    """Whole minutes from the base date to `at` (seconds dropped).

    Raises TidError when `at` is before the base date or after its rollover (TID > 0xFFFFFF).
    """
    if not isinstance(at, datetime):
        raise TypeError("issue time must be a datetime")
    # Integer seconds since the Unix epoch, floored to the minute: exact, and cheap on the vending path.
    # An aware time converts itself; a naive one is read as UTC.
    stamp = at.timestamp() if at.tzinfo is not None else at.replace(tzinfo=UTC).timestamp()
    minutes = (int(stamp) - _EPOCH_SECONDS[base_date]) // 60
    if minutes < 0:
        raise TidError(f"issue time {at.isoformat()} is before base date {base_date.year}")
    if minutes > TID_MAX:
        raise TidError(
            f"issue time {at.isoformat()} is past the rollover of base date {base_date.year} "
            f"({rollover_time(base_date):%Y-%m-%d %H:%M}); migrate the meter with a key change (RO=1)"
        )
    return minutes


def tid_time(tid: int, base_date: BaseDate) -> datetime:
    """The UTC minute a TID stands for."""
    return base_date.epoch + timedelta(minutes=tid)


def rollover_time(base_date: BaseDate) -> datetime:
    """The last minute a TID can express on this base date (e.g. 2024-11-24 20:15 for 1993)."""
    return tid_time(TID_MAX, base_date)


def next_tid(at: datetime, base_date: BaseDate, last_tid: int | None) -> int:
    """The TID of a token issued at `at` to a meter whose last issued TID is `last_tid`.

    Same-minute rule: a token always gets a TID greater than the last one issued to the meter, so two
    tokens in one minute (or a clock that went back) get distinct, increasing TIDs.
    Raises TidError when the result would pass the rollover.
    """
    tid = tid_at(at, base_date)
    if last_tid is not None:
        if not 0 <= last_tid <= TID_MAX:
            raise ValueError(f"last TID must be 0..{TID_MAX}")
        if tid <= last_tid:
            tid = last_tid + 1
    if tid > TID_MAX:
        raise TidError(f"no TID left before the rollover of base date {base_date.year}")
    return tid


def check_key_expiry(tid: int, ken: int) -> None:
    """Raise KeyExpiredError when (TID >> 16) > KEN, i.e. the meter would refuse the token as expired."""
    if (tid >> 16) > ken:
        raise KeyExpiredError(
            f"key expired: token TID {tid} falls in period {tid >> 16}, after the key expiry number {ken}"
        )
