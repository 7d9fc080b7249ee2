"""The ``console`` SMS provider (the default): writes the message to a text stream, sends nothing.

The core has already stored the message in its outbox; this provider only makes it visible (the demo
shows the token SMS this way). It accepts incoming messages in Africa's Talking's form, so the demo
and tests can play a phone texting the short code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from api.sms.africastalking import parse_inbound_form
from api.sms.base import DeliveryReport, InboundSms, SmsMessage, SmsSent

__all__ = ["ConsoleSms"]


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class ConsoleSms:
    name = "console"

    def __init__(self, write: Callable[[str], None] = _stdout) -> None:
        self._write = write

    async def send(self, msg: SmsMessage) -> SmsSent:
        self._write(f"[SMS to {msg.to}] {msg.text}")
        return SmsSent(None, "sent")

    def parse_delivery_report(self, form: Mapping[str, str]) -> DeliveryReport | None:
        return None  # the console never reports delivery

    def parse_inbound(self, form: Mapping[str, str]) -> InboundSms | None:
        return parse_inbound_form(form)
