"""Host side of the meter serial protocol (docs/serial-protocol.md) over pyserial: send one token.

Works with a real port (`/dev/ttyUSB0`), a pyserial URL (`socket://host:port`, `loop://`) or the
emulator's pty. Follows the protocol's host rules: resync with a lone LF and drain, one request at a time,
skip `EVENT` lines, give up after the timeout. Tokens are safe to resend: `RESULT used` after a retry
means an earlier attempt was applied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import serial  # pyserial

BAUD = 115200
DRAIN_SECONDS = 0.1


class MeterLinkError(Exception):
    """The meter could not be reached or did not answer in time (retryable)."""

    code = "meter_unreachable"


@dataclass(frozen=True)
class MeterReply:
    outcome: str  # the protocol's outcome word (accept, used, crc_error...) or "error"
    fields: dict[str, str] = field(default_factory=dict)
    line: str = ""


def parse_reply(line: str) -> MeterReply:
    words = line.split()
    if not words:
        raise MeterLinkError("empty reply")
    if words[0] == "RESULT" and len(words) >= 2:
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        return MeterReply(words[1], fields, line)
    if words[0] == "ERROR":
        return MeterReply("error", {"reason": words[1] if len(words) > 1 else ""}, line)
    raise MeterLinkError(f"unexpected reply {words[0][:16]!r}")


def push_token(url: str, token: str, timeout: float = 2.0) -> MeterReply:
    """Send `TOKEN <digits>` and return the meter's RESULT. Raises MeterLinkError."""
    digits = token.replace(" ", "")
    if len(digits) != 20 or not digits.isdigit():
        raise ValueError("a token is 20 digits")
    try:
        port = serial.serial_for_url(url, baudrate=BAUD, timeout=0.05, write_timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise MeterLinkError(f"cannot open meter link: {type(exc).__name__}") from None
    try:
        _resync(port)
        port.write(f"TOKEN {digits}\n".encode("ascii"))
        port.flush()
        return parse_reply(_read_reply(port, timeout))
    except (serial.SerialException, OSError) as exc:
        raise MeterLinkError(f"meter link failed: {type(exc).__name__}") from None
    finally:
        port.close()


def exchange(url: str, requests: list[str], timeout: float = 2.0) -> list[str]:
    """Send request lines one at a time (after a resync) and return each reply line.

    Stops early after an `ERROR` reply (the later requests are not sent). Raises MeterLinkError; its
    message never repeats a request (a PROVISION KEY line holds a decoder key).
    """
    try:
        port = serial.serial_for_url(url, baudrate=BAUD, timeout=0.05, write_timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise MeterLinkError(f"cannot open meter link: {type(exc).__name__}") from None
    replies: list[str] = []
    try:
        _resync(port)
        for request in requests:
            port.write(f"{request}\n".encode("ascii"))
            port.flush()
            replies.append(_read_reply(port, timeout))
            if replies[-1].startswith("ERROR"):
                break
        return replies
    except (serial.SerialException, OSError) as exc:
        raise MeterLinkError(f"meter link failed: {type(exc).__name__}") from None
    finally:
        port.close()


def _resync(port: serial.SerialBase) -> None:
    port.write(b"\n")
    port.flush()
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        port.read(256)


def _read_reply(port: serial.SerialBase, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        chunk = port.read(128)
        if chunk:
            buffer += chunk
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.replace(b"\r", b"").decode("ascii", "replace").strip()
            if line and not line.startswith("EVENT"):
                return line
    raise MeterLinkError("meter did not answer in time")
