"""TIDs reserved in file order, so that one meter's rows can be issued by several workers at once.

When a batch file holds few meters, dealing rows by meter would leave most workers idle (a one-meter
file runs on one core). The parent then deals consecutive chunks of rows to the workers in turn and,
while dealing, reserves each row's TID with the same rule the workers apply (the same-minute rule: the
greater of the issue minute and the previous TID + 1). A chunk carries, for each of its meters, the TID
reserved before its first row of that meter; the worker starts that meter's TIDs from there. A worker's
TID for a row is then at least the TID reserved before its chunk and at most the row's own reservation
(by induction over the chunk: it applies the same rule to fewer rows), so the chunks' TIDs fall in
disjoint, increasing ranges and a meter's TIDs still increase strictly in file order. When no row is
refused, the TIDs are exactly those of a single worker; a refused row may leave a gap, as its
reservation is not used. A row's last_tid column counts whenever it is above the TID reserved before.

The parent reserves for every row a worker could accept: it skips only rows whose meter number, issue
time or base date do not parse, which a worker refuses as well.
"""

from __future__ import annotations

from datetime import datetime

from cli.errors import UsageError
from cli.meter_options import parse_time
from tokencore import BaseDate, TokenError, meter_from_number
from tokencore.tid import TID_MAX, tid_at

CACHE_LIMIT = 65_536  # distinct numbers, times kept for parsing (cleared past it; no result depends on it)


class TidReserver:
    """The last TID reserved per meter (by PAN, as the workers key it), and the reservation of a row."""

    def __init__(self, columns: dict[str, int], default_at: datetime) -> None:
        self.at_column = columns.get("at", -1)
        self.last_column = columns.get("last_tid", -1)
        self.base_column = columns.get("base_date", -1)
        self.needed = max(self.at_column, self.last_column, self.base_column) + 1  # fields to split out
        self.default_at = default_at
        self.reserved: dict[str, int] = {}  # PAN -> last TID reserved; never cleared
        self.pans: dict[str, str | None] = {}  # meter number as written -> PAN (None: not a meter number)
        self.minutes: dict[tuple[str, str], int | None] = {}  # (at, base date) as written -> minute

    def reserve(self, number: str, row: list[str]) -> tuple[str, int | None] | None:
        """Reserve the TID of one row: (its meter's PAN, the TID to start that meter from before this row,
        or None to take the row's own last_tid), or None for a row no worker can issue."""
        pan = self.pans.get(number, "")
        if pan == "":
            pan = self._pan(number)
        minute = self._minute(self._field(row, self.at_column), self._field(row, self.base_column))
        if pan is None or minute is None:
            return None
        before = self.reserved.get(pan)
        last = self._last_tid(self._field(row, self.last_column))
        if last is not None and (before is None or last > before):
            before = last
        self.reserved[pan] = minute if before is None or before < minute else before + 1
        return pan, before

    @staticmethod
    def _last_tid(text: str) -> int | None:
        """The last_tid column as a worker reads it; None when empty or one the worker refuses."""
        if not text or text.isspace():
            return None
        try:
            value = int(text)
        except ValueError:
            return None
        return value if 0 <= value <= TID_MAX else None

    @staticmethod
    def _field(row: list[str], column: int) -> str:
        return row[column] if 0 <= column < len(row) else ""

    def _pan(self, number: str) -> str | None:
        if len(self.pans) >= CACHE_LIMIT:
            self.pans.clear()
        try:
            pan: str | None = meter_from_number(number).pan
        except (TokenError, ValueError):
            pan = None
        self.pans[number] = pan
        return pan

    def _minute(self, at_text: str, base_text: str) -> int | None:
        key = (at_text, base_text)
        if key in self.minutes:
            return self.minutes[key]
        if len(self.minutes) >= CACHE_LIMIT:
            self.minutes.clear()
        try:
            at = parse_time(at_text.strip()) if at_text.strip() else self.default_at
            minute: int | None = tid_at(at, BaseDate.from_year(base_text.strip() or "2014"))
        except (TokenError, UsageError, ValueError):
            minute = None
        self.minutes[key] = minute
        return minute
