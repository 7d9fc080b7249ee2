"""Byte stream to request lines, with the framing rules of `docs/serial-protocol.md` §2.

It keeps at most 64 bytes per meter, like the firmware's buffer: an over-long line is dropped up to its
LF and reported once, a line with a non-printable byte is reported when its LF arrives, CR is ignored,
and empty lines are skipped (the host's resync).
"""

from __future__ import annotations

MAX_LINE = 64
LF = 0x0A
CR = 0x0D

# What `feed` yields for a line that cannot be a request: the reason of the `ERROR` reply.
TOO_LONG = "too_long"
BAD_CHAR = "bad_char"


class LineFramer:
    """Accumulates bytes; `feed` returns the complete lines (str) or framing errors (`FramingError`)."""

    __slots__ = ("_bad", "_buf", "_overflow")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._bad = False
        self._overflow = False

    def reset(self) -> None:
        """Forget a partial line (the host went away)."""
        self._buf.clear()
        self._bad = self._overflow = False

    def feed(self, data: bytes) -> list[str | FramingError]:
        out: list[str | FramingError] = []
        for byte in data:
            if byte == LF:
                item = self._end_line()
                if item is not None:
                    out.append(item)
            elif byte == CR or self._overflow:
                continue
            elif len(self._buf) >= MAX_LINE:
                self._overflow = True
            else:
                if not 0x20 <= byte <= 0x7E:
                    self._bad = True
                self._buf.append(byte)
        return out

    def _end_line(self) -> str | FramingError | None:
        try:
            if self._overflow:
                return FramingError(TOO_LONG)
            if self._bad:
                return FramingError(BAD_CHAR)
            text = self._buf.decode("ascii").strip(" ")
            return text or None
        finally:
            self.reset()


class FramingError:
    """A line that is not a request; `reason` is the word after `ERROR`."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FramingError) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(self.reason)

    def __repr__(self) -> str:
        return f"FramingError({self.reason!r})"
