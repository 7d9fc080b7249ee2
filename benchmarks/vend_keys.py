"""`benchmarks/vend.py --keystore kek|pkcs11|both`: the vend service with its vending key sealed under the
KEK (software store) and inside a PKCS#11 token (SoftHSM2 in a temporary directory), side by side.

Meters are DKGA 04 (160-bit vending key, EA07), so every decoder key the service needs is an HMAC: in
this process (software) or a C_Sign in the token through the PKCS#11 thread (pkcs11). A decoder key is
derived once per meter and then cached with its issuer, so the store matters for the first vend of a
meter: the "cold meters" phase vends each meter once, the full-load phase then runs warm. The in-process
figure is decoder keys derived per second by the store alone (distinct meters, one thread).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from api import migrate
from api.actors import Actor
from api.db import transaction
from api.hsm import Pin, Pkcs11Config
from api.keyimport import import_vending_key
from api.keyring import profile_of
from api.keystore import Kek
from api.models import Meter, VendingKeyRecord
from api.registry import MeterSpec, add_subscriber, add_vending_key, register_meter, set_tariff
from api.service import Service
from api.settings import Settings
from api.wrapped import wrap_vending_key
from tokencore import VendingKey

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "nguvu-bench"
TRANSPORT = "transport"


class SoftHsm:
    """A SoftHSM2 token in `directory`, with a transport key whose value this benchmark (the KMC) keeps."""

    def __init__(self, directory: Path) -> None:
        (directory / "tokens").mkdir()
        conf = directory / "softhsm2.conf"
        conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
        os.environ["SOFTHSM2_CONF"] = str(conf)  # before this process loads the library
        pin = secrets.token_hex(8)
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", pin, "--pin", pin],
            check=True,
            capture_output=True,
        )
        self.pin_file = directory / "pin"
        self.pin_file.write_text(pin)
        self.config = Pkcs11Config(MODULE, TOKEN, Pin(pin))
        parts = [secrets.token_bytes(32), secrets.token_bytes(32)]
        self.transport_key = bytes(a ^ b for a, b in zip(*parts, strict=True))
        from api.hsm import Pkcs11Store

        Pkcs11Store(self.config, Kek.generate()[0]).create_transport_key(TRANSPORT, parts)

    def env(self) -> dict[str, str]:
        return {
            "NGUVU_KEYSTORE": "pkcs11",
            "NGUVU_PKCS11_MODULE": str(MODULE),
            "NGUVU_PKCS11_TOKEN": TOKEN,
            "NGUVU_PKCS11_PIN_FILE": str(self.pin_file),
        }


def seed(service: Service, meters: int, hsm: SoftHsm | None) -> list[int]:
    """DKGA 04 meters on one 160-bit vending key, in the service's store."""
    import vend

    vk = VendingKey(secrets.token_bytes(20))
    label = f"vk-{secrets.token_hex(3)}"
    with transaction(service.engine) as s:
        if hsm is None:
            add_vending_key(s, service.keyring, label, vk.hex(), actor=Actor.cli())
        else:
            text = wrap_vending_key(hsm.transport_key, vk).to_json()
            import_vending_key(s, service.keyring, label, text, transport_key=TRANSPORT, actor=Actor.cli())
        set_tariff(
            s,
            actor=Actor.cli(),
            name="residential",
            currency="CDF",
            price_per_kwh=Decimal(400),
            vat_rate=Decimal("0.16"),
            min_amount=Decimal(500),
            max_amount=Decimal(500000),
        )
        add_subscriber(
            s, actor=Actor.cli(), customer_code="ENK-1", name="Kahindo", post_name="Masika", phone=vend.PHONE
        )
        ids = []
        for i in range(meters):
            spec = MeterSpec(
                number=vend.drn(i), sgc=123457, ti=1, krn=1, dkga=4, vending_key=label, customer_code="ENK-1"
            )
            m = register_meter(s, spec, actor=Actor.cli())
            assert m.id is not None
            ids.append(m.id)
    return ids


def derivations(service: Service, engine: Engine, n: int) -> float:
    """Decoder keys per second by the store alone, over `n` distinct meter profiles (no cache)."""
    with transaction(engine) as s:
        meters = s.query(Meter).limit(n).all()
        record = s.get(VendingKeyRecord, meters[0].vending_key_id)
        assert record is not None
        profiles = [profile_of(m) for m in meters]
    store = service.keyring.store
    reps = max(1, 5000 // len(profiles))
    started = time.perf_counter()
    for _ in range(reps):
        for profile in profiles:
            store.decoder_key(record, profile)
    return reps * len(profiles) / (time.perf_counter() - started)


def signs_on_the_thread(service: Service, engine: Engine, n: int) -> float:
    """C_Sign per second run ON the PKCS#11 thread (no queue hand-off): the token's own cost."""
    from api.hsm import Pkcs11Store
    from tokencore.kdf import dkga04_message

    store = service.keyring.store
    assert isinstance(store, Pkcs11Store)
    with transaction(engine) as s:
        meters = s.query(Meter).limit(n).all()
        label = meters[0].vending_key_id
        record = s.get(VendingKeyRecord, label)
        assert record is not None
        messages = [dkga04_message(profile_of(m)) for m in meters]
    name = record.label

    def loop(session: object) -> float:
        started = time.perf_counter()
        for message in messages * max(1, 5000 // len(messages)):
            store._sign(session, name, message)  # the store's own C_Sign step
        return time.perf_counter() - started

    elapsed = store._call(loop)
    return len(messages) * max(1, 5000 // len(messages)) / elapsed


def one_store(kind: str, args: argparse.Namespace, store: str, hsm: SoftHsm | None) -> dict[str, float]:
    import vend

    with tempfile.TemporaryDirectory() as tmp, vend.database(kind, Path(tmp)) as engine:
        migrate.upgrade(engine)
        kek, kek_hex = Kek.generate()
        settings = Settings(
            kek=kek,
            data_dir=Path(tmp),
            run_workers=False,
            migrate_on_start=False,
            keystore=store,
            pkcs11=hsm.config if hsm else None,
        )
        service = Service(settings, engine=engine, sms_write=lambda _line: None)
        meter_ids = seed(service, args.meters, hsm)
        figures = {"derive": derivations(service, engine, min(args.meters, 500))}
        print(
            f"{kind:8s} {store:6s} decoder keys derived in this process (store alone) {figures['derive']:9.0f} /s"
        )
        if hsm:
            on_thread = signs_on_the_thread(service, engine, min(args.meters, 500))
            print(
                f"{kind:8s} {store:6s} C_Sign on the PKCS#11 thread, no queue hand-off   {on_thread:9.0f} /s"
            )
        env = {"NGUVU_KEK": kek_hex, "NGUVU_DATA_DIR": tmp, "NGUVU_SMS_PROVIDER": "console"}
        env |= hsm.env() if hsm else {}
        if kind == "postgres":
            env["DATABASE_URL"] = str(engine.url.render_as_string(hide_password=False))
        print(f"{kind:8s} {store:6s} nguvu serve --workers {args.workers}, NGUVU_KEYSTORE={store}")
        with vend.Server(env, args.workers) as server:
            measure = vend.Phases(kind, engine, server, args.concurrency)
            measure.warm_up(meter_ids[:10])
            cold = meter_ids[10:]
            figures["cold"] = measure.phase(
                f"first vend of {len(cold)} cold meters", cold, len(cold), "k", None
            )
            figures["warm"] = measure.phase(
                f"paid vends, {args.meters} meters, {args.concurrency} in flight",
                meter_ids,
                args.vends,
                "m",
                None,
            )
        return figures


def run_keystores(kind: str, args: argparse.Namespace) -> None:
    stores = ("kek", "pkcs11") if args.keystore == "both" else (args.keystore,)
    with tempfile.TemporaryDirectory(prefix="nguvu-softhsm-") as directory:
        hsm = SoftHsm(Path(directory)) if "pkcs11" in stores else None
        results = {
            store: one_store(kind, args, store, hsm if store == "pkcs11" else None) for store in stores
        }
    if len(results) == 2:
        kek, p11 = results["kek"], results["pkcs11"]
        print(
            f"{kind:8s} pkcs11 / kek: derivations {p11['derive'] / kek['derive']:.2f}x, "
            f"cold-meter vends {p11['cold'] / kek['cold']:.2f}x, warm vends {p11['warm'] / kek['warm']:.2f}x"
        )
