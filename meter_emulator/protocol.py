"""Request lines to reply lines: the `TOKEN`, `KEY`, `STATUS`, `INFO`, `LCD` and `PROVISION` requests of
`docs/serial-protocol.md` §3, answered from one `Meter`.
"""

from __future__ import annotations

from meter_emulator.framing import FramingError
from meter_emulator.keypad import KEYS
from meter_emulator.meter import Meter
from meter_emulator.provisioning import NoKey, ProvisionRefused
from meter_emulator.store import StorageError

TOKEN_DIGITS = 20
_TOKEN_CHARS = frozenset("0123456789 -")


def fields(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"{key}={value}" for key, value in pairs)


def handle(meter: Meter, item: str | FramingError, now_ms: int) -> str:
    """The one reply line (without LF) to one request line or framing error."""
    if isinstance(item, FramingError):
        return f"ERROR {item.reason}"
    keyword, _, arg = item.partition(" ")
    keyword, arg = keyword.upper(), arg.strip(" ")
    try:
        if keyword == "TOKEN":
            return _token(meter, arg, now_ms)
        if keyword == "KEY":
            return _key(meter, arg, now_ms)
        if keyword == "PROVISION":
            return _provision(meter, arg, now_ms)
        if keyword in ("STATUS", "INFO", "LCD"):
            if arg:
                return "ERROR bad_argument"
            meter.advance(now_ms)
            if keyword == "STATUS":
                return "STATUS " + fields(meter.status_fields(now_ms))
            if keyword == "INFO":
                return "INFO " + fields(meter.info_fields())
            return "LCD " + meter.screen(now_ms).framed()
    except StorageError:
        return "ERROR storage"
    except NoKey:
        return "ERROR no_key"
    return "ERROR unknown_command"


def _token(meter: Meter, arg: str, now_ms: int) -> str:
    if not arg or not set(arg) <= _TOKEN_CHARS:
        return "ERROR bad_argument"
    digits = arg.replace(" ", "").replace("-", "")
    if not digits:
        return "ERROR bad_argument"
    return meter.enter_token(digits, now_ms).line()


def _key(meter: Meter, arg: str, now_ms: int) -> str:
    key = arg.upper()
    if len(key) != 1 or key not in KEYS:
        return "ERROR bad_argument"
    outcome = meter.press(key, now_ms)
    return "OK" if outcome is None else outcome.line()


def _provision(meter: Meter, arg: str, now_ms: int) -> str:
    """§3.6, in the firmware's order: provisioned first, then `ID <fields>` or `KEY <hex>`."""
    word, sep, rest = arg.partition(" ")
    try:
        if meter.provisioned:
            raise ProvisionRefused("provisioned")
        if word.upper() == "ID" and sep:
            meter.provision_id(rest.lstrip(" "))
        elif word.upper() == "KEY" and sep:
            meter.provision_key(rest.lstrip(" "), now_ms)
        else:
            return "ERROR bad_argument"
    except ProvisionRefused as refused:
        return f"ERROR {refused.reason}"
    return "OK"
