"""`nguvu demo`: one whole purchase, end to end, on this machine.

The service runs in-process (uvicorn on a loopback port, SQLite under a data directory, the sandbox
wallet, the console SMS provider). A simulated phone walks the USSD menu over HTTP, the wallet approves,
the token SMS arrives, and a connected emulated meter (on a pty) receives the token over its serial link
and closes its relay. A second meter, not connected, gets its token typed on its keypad.
"""

from __future__ import annotations

import contextlib
import queue
import re
import secrets
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from sqlalchemy import select
from sqlmodel import col

from api.actors import Actor
from api.app import create_app
from api.db import reading, transaction
from api.keystore import Kek
from api.meterlink import BAUD
from api.models import Meter as MeterRow
from api.models import MeterPush, Payment, PaymentStatus, Subscriber
from api.registry import MeterSpec, add_subscriber, add_vending_key, register_meter, set_tariff
from api.service import Service
from api.settings import Settings
from api.sms.base import SMS_INBOUND_PATH
from cli.apps import app
from meter_emulator.clock import SystemClock
from meter_emulator.hub import Hub
from meter_emulator.links import PtyLink
from meter_emulator.meter import Meter, MeterSettings
from meter_emulator.provision import Identity, create_meter, decoder_key_for
from meter_emulator.sensor import parse_profile
from meter_emulator.store import FileStore
from tokencore import KeyParams, VendingKey, pan_from_drn

CONNECTED_DRN = "01234567897"
KEYPAD_DRN = "01234567905"
PHONE = "+243990000001"
PHONE_2 = "+243970000002"
SHORT_CODE = "15055"  # where subscribers text the resend keyword
TOKEN_RE = re.compile(r"\b(\d{4} \d{4} \d{4} \d{4} \d{4})\b")
WAIT_S = 30.0


class DemoError(Exception):
    """A step of the demo did not happen as it should."""


def say(text: str = "") -> None:
    print(text, flush=True)


def phone_screen(title: str, body: str) -> None:
    width = 24
    lines: list[str] = []
    for raw in body.splitlines() or [""]:
        lines.extend(textwrap.wrap(raw, width) or [""])
    say(f"  .{'-' * (width + 2)}.  {title}")
    for line in lines:
        say(f"  | {line.ljust(width)} |")
    say(f"  '{'-' * (width + 2)}'")


def lcd_box(line1: str, line2: str, note: str = "") -> None:
    say(f"  +{'-' * 18}+  {note}")
    say(f"  | {line1[:16].ljust(16)} |")
    say(f"  | {line2[:16].ljust(16)} |")
    say(f"  +{'-' * 18}+")


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class ServedMeter:
    meter: Meter
    link: PtyLink
    hub: Hub
    thread: threading.Thread
    stop: threading.Event


def _emulated_meter(data_dir: Path, drn: str, vending_key: VendingKey) -> Meter:
    identity = Identity(pan_from_drn(drn), KeyParams(sgc=123457, ti=1, krn=1))
    store = FileStore(data_dir / "meters" / f"{drn}.json")
    store.path.parent.mkdir(parents=True, exist_ok=True)
    settings = MeterSettings(profile=parse_profile("constant:230"), time_factor=60.0)
    now = SystemClock().now_ms()
    if store.load() is not None:
        return Meter.load(store, settings, now)
    return create_meter(store, identity, decoder_key_for(identity, vending_key), settings, now)


@contextlib.contextmanager
def served_meter(meter: Meter) -> Iterator[ServedMeter]:
    link = PtyLink()
    hub = Hub(SystemClock(), tick_ms=100)
    hub.add(meter, link)
    stop = threading.Event()
    thread = threading.Thread(target=hub.run, args=(stop.is_set,), name="demo-meter", daemon=True)
    thread.start()
    try:
        yield ServedMeter(meter, link, hub, thread, stop)
    finally:
        stop.set()
        thread.join(5)
        hub.close()


@contextlib.contextmanager
def running_service(service: Service, settings: Settings, port: int = 0) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings, service=service),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-service", daemon=True)
    thread.start()
    wait_for("the service to start", lambda: server.started or not thread.is_alive(), timeout=20)
    if not server.started:
        raise DemoError("the service did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _serial_request(url: str, line: str) -> str:
    import serial

    port = serial.serial_for_url(url, baudrate=BAUD, timeout=2)
    try:
        port.write(b"\n")
        time.sleep(0.1)
        port.reset_input_buffer()
        port.write(line.encode() + b"\n")
        while True:
            raw: str = port.readline().decode("ascii", "replace").strip()
            if not raw:
                raise DemoError(f"the meter did not answer {line}")
            if not raw.startswith("EVENT"):
                return raw
    finally:
        port.close()


def _setup(service: Service, vending_key: VendingKey, serial_url: str) -> None:
    actor = Actor.cli()  # the demo sets the utility up as `nguvu` commands would
    with transaction(service.engine) as s:
        if s.scalars(select(Subscriber)).first() is None:
            add_vending_key(s, service.keyring, "demo", vending_key.hex(), actor=actor)
            set_tariff(
                s,
                actor=actor,
                name="residential",
                currency="CDF",
                price_per_kwh=Decimal(400),
                vat_rate=Decimal("0.16"),
                min_amount=Decimal(500),
                max_amount=Decimal(500000),
            )
            set_tariff(
                s,
                actor=actor,
                name="residential",
                currency="USD",
                price_per_kwh=Decimal("0.15"),
                vat_rate=Decimal("0.16"),
                min_amount=Decimal(1),
                max_amount=Decimal(200),
            )
            add_subscriber(
                s,
                actor=actor,
                customer_code="ENK-0001",
                name="Kahindo",
                post_name="Masika",
                phone=PHONE,
                quarter="Mabakanga",
                cell="Kanzuli",
                avenue="Matonge",
            )
            add_subscriber(
                s,
                actor=actor,
                customer_code="ENK-0002",
                name="Paluku",
                post_name="Kambale",
                phone=PHONE_2,
                language="en",
            )
            for drn, code in ((CONNECTED_DRN, "ENK-0001"), (KEYPAD_DRN, "ENK-0002")):
                register_meter(
                    s,
                    MeterSpec(
                        number=drn,
                        sgc=123457,
                        ti=1,
                        krn=1,
                        vending_key="demo",
                        customer_code=code,
                        serial_number=f"SM_{drn[-3:]}",
                        latitude=0.4917,
                        longitude=29.4731,
                    ),
                    actor=actor,
                )
        meter = s.scalars(select(MeterRow).where(col(MeterRow.drn) == CONNECTED_DRN)).one()
        meter.connected, meter.serial_url = True, serial_url  # the pty path changes on every run


class Phone:
    def __init__(self, base_url: str, number: str, interactive: bool) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.number = number
        self.interactive = interactive
        self.session = "ATUid_" + secrets.token_hex(6)

    def dial(self, keys: list[str]) -> str:
        """Walk the menu; `keys` are the scripted presses (a person types them with --interactive)."""
        inputs: list[str] = []
        say(f"\n[phone {self.number}] dials *384*1234#")
        while True:
            r = self.http.post(
                "/ussd",
                data={
                    "sessionId": self.session,
                    "serviceCode": "*384*1234#",
                    "phoneNumber": self.number,
                    "networkCode": "63002",
                    "text": "*".join(inputs),
                },
            )
            kind, body = r.text[:3], r.text[4:]
            phone_screen("USSD", body)
            if kind == "END":
                return body
            if self.interactive:
                try:
                    key = input("  your answer > ").strip()
                except EOFError:
                    raise DemoError("the phone was hung up (end of input)") from None
            else:
                if len(inputs) >= len(keys):
                    raise DemoError("the menu asked for more input than scripted")
                key = keys[len(inputs)]
                say(f"   > {key}")
            inputs.append(key)

    def close(self) -> None:
        self.http.close()


def _await_payment(service: Service, msisdn: str) -> Payment:
    def latest() -> Payment | None:
        with reading(service.engine) as s:
            return s.scalars(
                select(Payment).where(col(Payment.msisdn) == msisdn).order_by(col(Payment.id).desc())
            ).first()

    payment = wait_for("the payment", latest)
    say(
        f"[wallet] PIN prompt on {msisdn}: pay {payment.amount.normalize():f} {payment.currency} to Nguvu? "
        "(the sandbox payer approves)"
    )
    done: Payment = wait_for(
        "the wallet's answer",
        lambda: (p := latest()) is not None and p.status not in ("queued", "pending") and p,
    )
    if done.status != PaymentStatus.VENDED:
        raise DemoError(f"payment ended {done.status} ({done.reason})")
    say(f"[service] payment {done.reference} confirmed by the wallet: token issued")
    return done


def _await_sms(inbox: queue.Queue[str], to: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            line = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if to in line and TOKEN_RE.search(line):
            text = line.split("] ", 1)[-1]
            phone_screen(f"SMS to {to}", text)
            return text
    raise DemoError(f"no token SMS reached {to}")


def run_demo(
    data_dir: Path,
    interactive: bool,
    *,
    port: int = 0,
    then: Callable[[Service, str, Path], None] | None = None,
) -> None:
    """The whole purchase; then, if given, `then(service, base_url, data_dir)` while the service, the
    connected meter and the demo's data are still up (`nguvu demo --serve` keeps serving there)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    kek_file, vk_file = data_dir / "demo-kek.hex", data_dir / "demo-vending-key.hex"
    if not kek_file.exists():
        kek_file.write_text(Kek.generate()[1])
        vk_file.write_text(secrets.token_hex(8))
        kek_file.chmod(0o600)
        vk_file.chmod(0o600)
    vending_key = VendingKey.from_hex(vk_file.read_text().strip())
    settings = Settings(
        kek=Kek.from_hex(kek_file.read_text()),
        data_dir=data_dir,
        worker_poll_seconds=0.1,
        provider_env={"NGUVU_SANDBOX_DELAY_S": "1.0"},
    )
    inbox: queue.Queue[str] = queue.Queue()
    service = Service(settings, sms_write=inbox.put)
    connected = _emulated_meter(data_dir, CONNECTED_DRN, vending_key)
    keypad = _emulated_meter(data_dir, KEYPAD_DRN, vending_key)
    say(f"Nguvu demo: data in {data_dir} (SQLite, sandbox wallet, console SMS)")
    with served_meter(connected) as served, running_service(service, settings, port) as base_url:
        from api import migrate

        migrate.upgrade(service.engine)
        _setup(service, vending_key, served.link.name)
        say(f"[service] listening on {base_url}; meter {CONNECTED_DRN} connected on {served.link.name}")
        before = _serial_request(served.link.name, "STATUS")
        say(f"[meter {CONNECTED_DRN}] {before}")

        phone = Phone(base_url, PHONE, interactive)
        try:
            phone.dial(["1", "1", "1", CONNECTED_DRN, "5000", "1"])
        finally:
            phone.close()
        _await_payment(service, PHONE)
        first = _await_sms(inbox, PHONE)
        push = wait_for("the serial push", lambda: _push_done(service))
        say(f"[service] pushed the token over serial: meter answered '{push.detail}'")
        if push.result != "accept":
            raise DemoError(f"the connected meter answered {push.result}")
        lcd = _serial_request(served.link.name, "LCD")
        parts = lcd.split("|")
        lcd_box(parts[1], parts[2], f"meter {CONNECTED_DRN} (LCD over serial)")
        status = _serial_request(served.link.name, "STATUS")
        say(f"[meter {CONNECTED_DRN}] {status}")
        if " relay=on" not in status:
            raise DemoError("the relay did not close")

        say(f"\nA second meter, {KEYPAD_DRN}, is not connected: its owner types the token.")
        phone2 = Phone(base_url, PHONE_2, interactive)
        try:
            phone2.dial(["2", "1", "1", KEYPAD_DRN, "2000", "1"])
        finally:
            phone2.close()
        _await_payment(service, PHONE_2)
        sms = _await_sms(inbox, PHONE_2)
        _type_token(keypad, sms)

        say(f"\nThe first subscriber lost the SMS: {PHONE} texts JETON to the short code.")
        _text_short_code(base_url, PHONE, "JETON")
        again = _await_sms(inbox, PHONE)
        if _token_in(again) != _token_in(first):
            raise DemoError("the resend SMS does not carry the last token")
        say("\nDone: both meters accepted their tokens; the last token came again by SMS.")
        if then is not None:
            then(service, base_url, data_dir)


def _token_in(sms: str) -> str | None:
    match = TOKEN_RE.search(sms)
    return match.group(1) if match else None


def _text_short_code(base_url: str, sender: str, text: str) -> None:
    """An incoming SMS as the gateway delivers it (Africa's Talking's form, here to the console provider)."""
    form = {"from": sender, "to": SHORT_CODE, "text": text, "id": f"demo-{secrets.token_hex(6)}"}
    say(f"[phone {sender}] SMS to {SHORT_CODE}: {text}")
    url = base_url + SMS_INBOUND_PATH.format(provider="console")
    answer = httpx.post(url, data=form, timeout=10)
    if answer.status_code != 200:
        raise DemoError(f"the service refused the incoming SMS: {answer.status_code}")


def _push_done(service: Service) -> MeterPush | None:
    with reading(service.engine) as s:
        push = s.scalars(select(MeterPush).order_by(col(MeterPush.id).desc())).first()
    return push if push is not None and push.status in ("done", "failed") else None


def _type_token(meter: Meter, sms: str) -> None:
    match = TOKEN_RE.search(sms)
    if match is None:
        raise DemoError("no token in the SMS")
    digits = match.group(1).replace(" ", "")
    clock = SystemClock()
    say(f"[keypad {KEYPAD_DRN}] types {match.group(1)} then #")
    for key in digits:
        meter.press(key, clock.now_ms())
    screen = meter.screen(clock.now_ms())
    lcd_box(screen.line1, screen.line2, "while typing")
    outcome = meter.press("#", clock.now_ms())
    screen = meter.screen(clock.now_ms())
    lcd_box(screen.line1, screen.line2, f"meter {KEYPAD_DRN} after #")
    if outcome is None or outcome.outcome != "accept":
        raise DemoError(f"the keypad meter answered {outcome.outcome if outcome else 'nothing'}")
    idle = meter.screen(clock.now_ms() + 6_000)
    lcd_box(idle.line1, idle.line2, "a few seconds later")


@app.command("demo")
def demo(
    interactive: Annotated[bool, typer.Option(help="Press the phone keys yourself.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the demo's data here (default: a temporary directory).")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            help="Then keep the service running: the back office shows the purchase (Ctrl-C stops)."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="With --serve: the loopback port to serve on.")] = 8000,
) -> None:
    """Watch a whole purchase: USSD menu, mobile-money approval, token SMS, meters recharged."""
    temp = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="nguvu-demo-")) if data_dir is None else data_dir
    try:
        if serve:
            from cli.demo_serve import keep_serving

            run_demo(directory, interactive, port=port, then=keep_serving)
        else:
            run_demo(directory, interactive)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        if temp:
            shutil.rmtree(directory, ignore_errors=True)
