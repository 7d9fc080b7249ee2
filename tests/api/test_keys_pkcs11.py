"""The PKCS#11 key store on SoftHSM2 (issue 13): DKGA 04 in the token gives the published decoder keys and
tokens, the vending key cannot be read, wrapped out or re-flagged, keys enter only wrapped, DKGA 02 meters
vend only with a decoder key from the key management centre, and no secret shows in a repr or a log."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from conftest import SETUP, Clock, make_settings, seed_tariffs_and_subscriber
from softhsm import TRANSPORT, Hsm, init_token
from sqlalchemy import Engine, select

from api.db import reading, transaction
from api.errors import Conflict, FieldErrors, InvalidInput
from api.hsm import VENDING_KEY_ID, Dkga02Refused, Pin, Pkcs11Config, Pkcs11Store
from api.keyimport import import_decoder_key, import_vending_key
from api.keyring import Keyring, SoftwareStore, profile_of
from api.keystore import Kek, KeystoreError
from api.models import Meter, Payment, PaymentStatus, Token, VendingKeyRecord
from api.payments.base import PaymentEvent
from api.payments.base import PaymentStatus as S
from api.registry import MeterSpec, add_vending_key, register_meter
from api.service import Service
from api.settings import Settings, SettingsError
from api.wrapped import WrappedKey, check_value, wrap_decoder_key, wrap_vending_key
from tests.vectorfiles import at, load
from tests.vectorfiles import profile_of as vector_profile
from tokencore import Issuer, VendingKey, decode_token, derive_decoder_key

VK = "ABABABABABABABAB949494949494949401234567"  # the published DKGA 04 vending key (sts-notes §4.2)
DKGA04_DRN = "01234567897"
DKGA02_DRN = "01234567905"


def label() -> str:
    return f"vk-{secrets.token_hex(4)}"


def imported(hsm: Hsm, store: Pkcs11Store, key_hex: str = VK) -> str:
    name = label()
    store.import_vending_key(
        name, TRANSPORT, wrap_vending_key(hsm.transport_key, VendingKey.from_hex(key_hex))
    )
    return name


def test_published_dkga04_vectors_give_the_same_decoder_keys_and_tokens_in_the_token(hsm: Hsm) -> None:
    store = hsm.store(Kek.generate()[0])
    names: dict[str, str] = {}
    vectors = [v for v in load("kdf.json")["vectors"] if v["dkga"] == "04"]
    assert vectors
    for v in vectors:
        name = names.setdefault(v["vending_key"], imported(hsm, store, v["vending_key"]))
        profile = vector_profile(v)
        ours = store.decoder_key(VendingKeyRecord(label=name, sealed=b""), profile)
        assert ours.hex() == v["decoder_key"]
        assert ours == derive_decoder_key(VendingKey.from_hex(v["vending_key"]), profile)
    for v in load("ea11.json")["vectors"]:
        spec = v["issue"]
        name = names.setdefault(spec["vending_key"], imported(hsm, store, spec["vending_key"]))
        issuer = Issuer(
            vector_profile(spec), store.decoder_key(VendingKeyRecord(label=name), vector_profile(spec))
        )
        assert issuer.credit(spec["units"], at=at(spec["at"]), rnd=spec["rnd"]).token == v["token"]


def _attempts(session: Any, name: str) -> dict[str, str]:
    """Every way to get at a vending key or loosen it, run on the process's PKCS#11 thread."""
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    [key] = session.get_objects({Attribute.LABEL: name, Attribute.ID: VENDING_KEY_ID})
    outcome: dict[str, str] = {}

    def attempt(what: str, fn: Any) -> None:
        try:
            fn()
            outcome[what] = "allowed"
        except pkcs11.PKCS11Error as exc:
            outcome[what] = type(exc).__name__

    attempt("read", lambda: key[Attribute.VALUE])
    for attr, value in (
        (Attribute.SENSITIVE, False),
        (Attribute.EXTRACTABLE, True),
        (Attribute.DERIVE, True),
        (Attribute.ENCRYPT, True),
        (Attribute.WRAP, True),
        (Attribute.MODIFIABLE, True),
    ):
        attempt(f"set {attr.name}", lambda a=attr, v=value: key.__setitem__(a, v))
    wrapper = session.generate_key(KeyType.AES, 256, store=False, capabilities=None)
    attempt("wrap out", lambda: wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD))
    attempt("copy", lambda: key.copy({Attribute.SENSITIVE: False}))
    # python-pkcs11 offers derive_key only on keys whose CKA_DERIVE is true: this one has none (flags).
    wrapper.destroy()
    flags = {
        a.name: key[a]
        for a in (Attribute.SIGN, Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.MODIFIABLE)
    }
    flags |= {
        a.name: key[a] for a in (Attribute.DERIVE, Attribute.WRAP, Attribute.ENCRYPT, Attribute.DECRYPT)
    }
    outcome["flags"] = repr(sorted(flags.items()))
    assert key.key_type is KeyType.GENERIC_SECRET and key.object_class is ObjectClass.SECRET_KEY
    return outcome


def test_the_vending_key_cannot_be_read_wrapped_out_or_reflagged(hsm: Hsm) -> None:
    store = hsm.store(Kek.generate()[0])
    name = imported(hsm, store)
    outcome = store._call(lambda session: _attempts(session, name))
    flags = outcome.pop("flags")
    assert outcome["read"] == "AttributeSensitive" and outcome["wrap out"] == "KeyUnextractable"
    assert len(outcome) == 9 and "allowed" not in outcome.values(), outcome
    assert flags == repr(
        sorted(
            {
                "SIGN": True,
                "SENSITIVE": True,
                "EXTRACTABLE": False,
                "MODIFIABLE": False,
                "DERIVE": False,
                "WRAP": False,
                "ENCRYPT": False,
                "DECRYPT": False,
            }.items()
        )
    )


def _count(store: Pkcs11Store, name: str) -> int:
    from pkcs11 import Attribute

    return store._call(lambda s: len(list(s.get_objects({Attribute.LABEL: name}))))


def test_a_key_enters_only_wrapped_under_the_transport_key_and_a_bad_file_leaves_nothing(hsm: Hsm) -> None:
    store = hsm.store(Kek.generate()[0])
    good = wrap_vending_key(hsm.transport_key, VendingKey.from_hex(VK))
    name = label()
    with pytest.raises(KeystoreError, match="does not unwrap under transport key"):
        store.import_vending_key(
            name, TRANSPORT, wrap_vending_key(secrets.token_bytes(32), VendingKey.from_hex(VK))
        )
    with pytest.raises(KeystoreError, match="check value does not match"):
        store.import_vending_key(name, TRANSPORT, replace(good, check="000000"))
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    unpadded = WrappedKey(
        "vending-key", 160, aes_key_wrap_with_padding(hsm.transport_key, bytes.fromhex(VK)), good.check
    )
    with pytest.raises(KeystoreError, match="zero-padded to 32 bytes"):
        store.import_vending_key(name, TRANSPORT, unpadded)
    with pytest.raises(KeystoreError, match="transport key 'nope' is not in"):
        store.import_vending_key(name, "nope", good)
    assert _count(store, name) == 0
    store.import_vending_key(name, TRANSPORT, good)
    with pytest.raises(KeystoreError, match="exists in the token"):
        store.import_vending_key(name, TRANSPORT, good)
    assert _count(store, name) == 1


@pytest.fixture
def pk_service(engine: Engine, tmp_path: Path, hsm: Hsm) -> Iterator[Service]:
    settings = make_settings(tmp_path, keystore="pkcs11", pkcs11=hsm.config)
    service = Service(settings, engine=engine, clock=Clock(), sms_write=lambda _line: None)
    with transaction(engine) as s:
        seed_tariffs_and_subscriber(s, usd=False)
    yield service


def _pay(service: Service, drn: str, ref: str) -> Any:
    with transaction(service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == drn)).one()
        s.add(
            Payment(
                reference=ref,
                provider="sandbox",
                status=PaymentStatus.PENDING,
                msisdn="+243990000001",
                meter_id=meter.id,
                account=drn,
                amount=Decimal(5000),
                currency="CDF",
                language="fr",
            )
        )
    event = PaymentEvent("sandbox", f"TX-{ref}", ref, S.SUCCEEDED, Decimal(5000), "CDF", "+243990000001")
    return service.vendor.apply_event(event)


def test_a_plain_vending_key_is_refused_and_a_wrapped_one_vends_dkga04(pk_service: Service, hsm: Hsm) -> None:
    keyring = pk_service.keyring
    with transaction(pk_service.engine) as s, pytest.raises(InvalidInput, match="only wrapped"):
        add_vending_key(s, keyring, "plain", VK, actor=SETUP)
    name = label()
    text = wrap_vending_key(hsm.transport_key, VendingKey.from_hex(VK)).to_json()
    with transaction(pk_service.engine) as s:
        import_vending_key(s, keyring, name, text, transport_key=TRANSPORT, actor=SETUP)
        register_meter(
            s,
            MeterSpec(number=DKGA04_DRN, sgc=123457, ti=1, krn=1, dkga=4, ea=11, vending_key=name),
            actor=SETUP,
        )
    with transaction(pk_service.engine) as s, pytest.raises(Conflict):
        import_vending_key(s, keyring, name, text, transport_key=TRANSPORT, actor=SETUP)
    result = _pay(pk_service, DKGA04_DRN, "r1")
    assert result.outcome == "vended"
    with reading(pk_service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == DKGA04_DRN)).one()
        record = s.get(VendingKeyRecord, meter.vending_key_id)
        assert record is not None and record.sealed == b"" and record.store == "pkcs11" and record.bits == 160
        software = derive_decoder_key(VendingKey.from_hex(VK), profile_of(meter))
    decoded = decode_token(result.token, software, profile_of(meter).key.ea)
    assert decoded.crc_ok


def _dkga02_meter(service: Service, key_label: str) -> None:
    with transaction(service.engine) as s:
        register_meter(
            s,
            MeterSpec(number=DKGA02_DRN, sgc=123457, ti=1, krn=1, dkga=2, ea=7, vending_key=key_label),
            actor=SETUP,
        )


def test_a_dkga02_meter_with_a_kmc_decoder_key_vends_and_one_without_is_refused(
    pk_service: Service, hsm: Hsm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keyring = pk_service.keyring
    profile = profile_of(
        Meter(sgc=123457, ti=1, krn=1, kt=2, dkga=2, ea=7, vending_key_id=0, **_pan(DKGA02_DRN))
    )
    dk = derive_decoder_key(VendingKey.from_hex("0123456789abcdef"), profile)  # what the KMC computed
    file = wrap_decoder_key(hsm.transport_key, dk, profile).to_json()
    # A DKGA 02 meter cannot be registered on a vending key in the token.
    vk_label = label()
    with transaction(pk_service.engine) as s:
        import_vending_key(
            s,
            keyring,
            vk_label,
            wrap_vending_key(hsm.transport_key, VendingKey.from_hex(VK)).to_json(),
            transport_key=TRANSPORT,
            actor=SETUP,
        )
    with pytest.raises(FieldErrors) as refused:
        _dkga02_meter(pk_service, vk_label)
    assert refused.value.errors == {"vending_key": "dkga02_needs_decoder_key"}
    # One carried over from the software store (its 64-bit key sealed under the KEK) is held, clearly.
    with transaction(pk_service.engine) as s:
        kek = pk_service.settings.kek
        s.add(
            VendingKeyRecord(
                label="old-vk", sealed=kek.seal("old-vk", bytes.fromhex("0123456789abcdef")), bits=64
            )
        )
    _dkga02_meter(pk_service, "old-vk")
    held = _pay(pk_service, DKGA02_DRN, "r1")
    assert held.outcome == "held" and held.reason == "dkga02_needs_kmc_decoder_key", held
    with reading(pk_service.engine) as s:
        meter = s.scalars(select(Meter).where(Meter.drn == DKGA02_DRN)).one()
        record = s.get(VendingKeyRecord, meter.vending_key_id)
        assert record is not None
        with pytest.raises(Dkga02Refused, match="DKGA 02, which the PKCS#11 store does not derive"):
            keyring.decoder_key(record, profile_of(meter))
    # With the KMC's decoder key for this meter: it vends, and the token decodes under that key.
    dk_label = label()
    with transaction(pk_service.engine) as s:
        import_decoder_key(s, keyring, dk_label, file, transport_key=TRANSPORT, actor=SETUP)
        meter = s.scalars(select(Meter).where(Meter.drn == DKGA02_DRN)).one()
        meter.vending_key_id = s.scalars(
            select(VendingKeyRecord.id).where(VendingKeyRecord.label == dk_label)
        ).one()
    result = _pay(pk_service, DKGA02_DRN, "r2")
    assert result.outcome == "vended", result
    assert decode_token(result.token, dk, profile.key.ea).crc_ok
    with reading(pk_service.engine) as s:
        assert len(s.scalars(select(Token)).all()) == 1
    # Another meter cannot be registered on that decoder key.
    with transaction(pk_service.engine) as s, pytest.raises(FieldErrors) as refused:
        register_meter(
            s,
            MeterSpec(number=DKGA04_DRN, sgc=123457, ti=1, krn=1, dkga=2, vending_key=dk_label),
            actor=SETUP,
        )
    assert refused.value.errors == {"vending_key": "decoder_key_other_meter"}
    assert dk.hex() not in caplog.text and dk.hex().lower() not in caplog.text and VK not in caplog.text


def _pan(drn: str) -> dict[str, str]:
    from tokencore import meter_from_number

    pan = meter_from_number(drn)
    return {"pan": pan.pan, "drn": pan.drn}


def test_settings_take_the_pin_from_a_file_and_never_show_it(hsm: Hsm, tmp_path: Path) -> None:
    env = {"NGUVU_KEK": "11" * 32, **hsm.env()}
    settings = Settings.from_env(env)
    pin = hsm.pin_file.read_text().strip()
    assert settings.keystore == "pkcs11" and settings.pkcs11 is not None
    assert settings.pkcs11.pin.reveal() == pin
    for text in (
        repr(settings),
        repr(settings.pkcs11),
        str(settings.pkcs11.pin),
        repr(hsm.store(settings.kek)),
    ):
        assert pin not in text
    for missing in ("NGUVU_PKCS11_MODULE", "NGUVU_PKCS11_TOKEN", "NGUVU_PKCS11_PIN_FILE"):
        with pytest.raises(SettingsError, match=missing):
            Settings.from_env({k: v for k, v in env.items() if k != missing})
    with pytest.raises(SettingsError, match="NGUVU_KEYSTORE must be"):
        Settings.from_env({**env, "NGUVU_KEYSTORE": "vault"})
    # A token nobody in this process has logged in to yet (a PKCS#11 login is per process and token).
    fresh = f"pin-{secrets.token_hex(3)}"
    init_token(hsm.directory, fresh)
    bad = Pkcs11Store(Pkcs11Config(hsm.config.module, fresh, Pin("000000")), settings.kek)
    with pytest.raises(KeystoreError, match="refused the PIN") as refused:
        bad.start()
    assert "000000" not in str(refused.value)


def test_a_token_created_after_the_library_started_is_found_by_reinitialising(hsm: Hsm) -> None:
    store = hsm.store(Kek.generate()[0])
    name = imported(hsm, store)  # the library is running, with a session on the first token
    late = f"late-{secrets.token_hex(3)}"
    pin_file = init_token(hsm.directory, late)
    other = Pkcs11Store(
        Pkcs11Config(hsm.config.module, late, Pin(pin_file.read_text().strip())), Kek.generate()[0]
    )
    other.start()  # NoSuchToken at first: re-initialised, then found
    # The first token's session was re-opened after the re-initialise: its key still signs.
    profile = vector_profile(load("kdf.json")["vectors"][2])
    assert (
        store.decoder_key(VendingKeyRecord(label=name), profile).hex()
        == load("kdf.json")["vectors"][2]["decoder_key"]
    )


def test_the_software_store_is_unchanged_and_refuses_a_token_key(engine: Engine, tmp_path: Path) -> None:
    kek = Kek.generate()[0]
    keyring = Keyring(SoftwareStore(kek))
    record = VendingKeyRecord(label="x", sealed=b"", store="pkcs11", bits=160)
    profile = vector_profile(load("kdf.json")["vectors"][2])
    with pytest.raises(KeystoreError, match="held by the 'pkcs11' key store"):
        keyring.decoder_key(record, profile)
    sealed = VendingKeyRecord(label="y", sealed=kek.seal("y", bytes.fromhex(VK)), bits=160)
    assert keyring.decoder_key(sealed, profile).hex() == load("kdf.json")["vectors"][2]["decoder_key"]
    assert check_value(bytes.fromhex(VK)) == check_value(bytes.fromhex(VK) + bytes(12))


def test_migration_0008_gives_existing_sealed_keys_their_size(tmp_path: Path) -> None:
    from sqlalchemy import text

    from api import migrate
    from api.db import make_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(eng, "0007")
    kek = Kek.generate()[0]
    with eng.begin() as conn:
        for name, size in (("short", 8), ("long", 20)):
            conn.execute(
                text("INSERT INTO vending_keys (label, sealed, created_at) VALUES (:l, :s, '2026-01-01')"),
                {"l": name, "s": kek.seal(name, secrets.token_bytes(size))},
            )
    migrate.upgrade(eng)
    with reading(eng) as s:
        rows = {r.label: (r.store, r.kind, r.bits, r.bound_to) for r in s.scalars(select(VendingKeyRecord))}
    assert rows == {"short": ("kek", "vending", 64, ""), "long": ("kek", "vending", 160, "")}
    eng.dispose()


def test_a_lost_session_is_opened_again(hsm: Hsm, caplog: pytest.LogCaptureFixture) -> None:
    store = hsm.store(Kek.generate()[0])
    name = imported(hsm, store)
    v = load("kdf.json")["vectors"][2]
    record = VendingKeyRecord(label=name)
    assert store.decoder_key(record, vector_profile(v)).hex() == v["decoder_key"]
    store._call(lambda session: session.close())  # as if the HSM dropped it
    assert store.decoder_key(record, vector_profile(v)).hex() == v["decoder_key"]
    assert "session lost, logging in again" in caplog.text
