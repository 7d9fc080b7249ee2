"""Talking to the fleet's meters over loopback TCP (the serial protocol): a keypad typing a token from an
SMS, reading a meter's credit at the end, and holding a meter's link busy (a link that drops)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from benchmarks.soaking.load import TOKEN_IN_SMS, Ledger


async def request(port: int, line: str, timeout: float = 5.0) -> str:
    """One request, one reply line (EVENT lines skipped). Raises OSError / TimeoutError."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(b"\n" + line.encode("ascii") + b"\n")
        await writer.drain()
        deadline = time.monotonic() + timeout
        while True:
            raw = await asyncio.wait_for(reader.readline(), max(0.01, deadline - time.monotonic()))
            if not raw:
                raise OSError("meter closed the link")
            text = raw.decode("ascii", "replace").strip()
            if text and not text.startswith("EVENT") and not text.startswith("ERROR framing"):
                if text.startswith("ERROR") and "empty" in text:
                    continue
                return text
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def request_retrying(port: int, line: str, deadline: float) -> tuple[str, int]:
    """The reply and how many attempts it took (a retried TOKEN may find it already applied)."""
    attempts = 0
    while True:
        attempts += 1
        try:
            return await request(port, line), attempts
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


class Keypads:
    """Subscribers with keypad meters: each token SMS that reaches them is typed in (its first copy; a
    duplicate copy is typed too and must be refused as used)."""

    def __init__(self, ports: dict[str, int], ledger: Ledger) -> None:
        self.ports, self.ledger = ports, ledger
        self.seen = 0
        self.locks = {drn: asyncio.Lock() for drn in ports}

    async def follow(self, sent: list[dict[str, str]], stop: asyncio.Event) -> None:
        while True:
            done = stop.is_set()
            while self.seen < len(sent):
                message = sent[self.seen]["message"]
                self.seen += 1
                await self._type(message)
            if done:
                return
            await asyncio.sleep(0.3)

    async def _type(self, message: str) -> None:
        found = TOKEN_IN_SMS.search(message)
        drn = next((d for d in self.ports if d in message), None)
        if found is None or drn is None:
            return
        digits = found.group(1).replace(" ", "")
        async with self.locks[drn]:
            reply, attempts = await request_retrying(
                self.ports[drn], f"TOKEN {digits}", time.monotonic() + 120
            )
        if digits in self.ledger.keypad_typed:
            self.ledger.keypad_again[digits] = reply
        elif reply == "RESULT used" and attempts > 1:
            # The link (the fleet) went down after the meter took the token, before it answered.
            self.ledger.keypad_typed[digits] = "RESULT accept (then used on a retry)"
        else:
            self.ledger.keypad_typed[digits] = reply


async def hold_link(port: int, seconds: float) -> None:
    """Connect to a meter and say nothing: the link is taken, pushes to it wait and time out."""
    with contextlib.suppress(OSError, TimeoutError):
        _reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        await asyncio.sleep(seconds)
        writer.close()


async def credits(ports: dict[str, int], deadline: float) -> dict[str, str]:
    """Every meter's credit register (STATUS), as the protocol prints it (kWh, one decimal)."""
    out: dict[str, str] = {}
    sem = asyncio.Semaphore(32)

    async def one(drn: str, port: int) -> None:
        async with sem:
            reply, _ = await request_retrying(port, "STATUS", deadline)
        fields = dict(w.split("=", 1) for w in reply.split()[1:] if "=" in w)
        out[drn] = fields.get("credit", "?")

    await asyncio.gather(*(one(d, p) for d, p in ports.items()))
    return out


def pick(rng: random.Random, ports: dict[str, int], n: int) -> list[int]:
    return rng.sample(sorted(ports.values()), min(n, len(ports)))
