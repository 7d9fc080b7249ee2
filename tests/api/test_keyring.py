"""The keyring's caches: a cold meter costs its key derivation, not a read of the sealed vending key."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from api.keyring import Keyring, profile_of
from api.keystore import Kek, KeystoreError
from api.models import VendingKeyRecord
from api.settings import DEFAULT_ISSUER_CACHE_SIZE, Settings, SettingsError
from tokencore import Issuer, VendingKey, derive_decoder_key, pan_from_drn
from tokencore.identity import luhn_check_digit

VENDING_HEX = "0123456789abcdef"
AT = datetime(2025, 6, 1, 10, 0)


def meter(serial: int, vending_key_id: int = 1, krn: int = 1) -> SimpleNamespace:
    body = f"01{serial:08d}"
    return SimpleNamespace(
        pan=pan_from_drn(body + str(luhn_check_digit(body))).pan,
        sgc=123457,
        ti=1,
        krn=krn,
        kt=2,
        ken=255,
        base_date=2014,
        dkga=2,
        ea=7,
        vending_key_id=vending_key_id,
    )


class Records:
    """The sealed vending-key rows, counting how often the keyring asks for one."""

    def __init__(self, keyring: Keyring) -> None:
        self.rows = {
            1: VendingKeyRecord(
                id=1, label="vk", sealed=keyring.seal("vk", VendingKey.from_hex(VENDING_HEX))
            ),
            2: VendingKeyRecord(id=2, label="vk2", sealed=keyring.seal("vk2", VendingKey.from_hex("f" * 16))),
        }
        self.loads = 0

    def loader(self, m: SimpleNamespace) -> object:
        def load() -> VendingKeyRecord | None:
            self.loads += 1
            return self.rows.get(m.vending_key_id)

        return load


def expected_token(m: SimpleNamespace, key_hex: str = VENDING_HEX) -> str:
    profile = profile_of(m)
    issuer = Issuer(profile, derive_decoder_key(VendingKey.from_hex(key_hex), profile))
    return issuer.credit("5", at=AT, rnd=3).token


def test_cold_meters_reuse_the_unsealed_vending_key() -> None:
    keyring = Keyring(Kek.generate()[0])
    records = Records(keyring)
    meters = [meter(i) for i in range(50)]
    for m in meters:
        token = keyring.issuer(m, records.loader(m)).credit("5", at=AT, rnd=3).token
        assert token == expected_token(m)
    assert records.loads == 1  # the first cold meter read the row; the other 49 only derived their key
    other = meter(99, vending_key_id=2)
    assert keyring.issuer(other, records.loader(other)).credit("5", at=AT, rnd=3).token == expected_token(
        other, "f" * 16
    )
    assert records.loads == 2


def test_key_parameters_are_shared_but_never_mixed_up() -> None:
    keyring = Keyring(Kek.generate()[0])
    records = Records(keyring)
    a, b = meter(1, krn=1), meter(2, krn=2)
    issuer_a = keyring.issuer(a, records.loader(a))
    issuer_b = keyring.issuer(b, records.loader(b))
    assert issuer_a.profile.key.krn == 1 and issuer_b.profile.key.krn == 2
    assert issuer_b.credit("5", at=AT, rnd=3).token == expected_token(b)
    assert keyring.issuer(meter(3, krn=1), records.loader(a)).profile.key is issuer_a.profile.key


def test_a_missing_vending_key_is_an_error_not_a_token() -> None:
    keyring = Keyring(Kek.generate()[0])
    records = Records(keyring)
    lost = meter(5, vending_key_id=7)
    with pytest.raises(KeystoreError, match="#7 is missing"):
        keyring.issuer(lost, records.loader(lost))


def test_the_issuer_cache_keeps_the_most_recent_meters() -> None:
    keyring = Keyring(Kek.generate()[0], issuer_cache_size=2)
    records = Records(keyring)
    a, b, c = meter(1), meter(2), meter(3)
    first_a = keyring.issuer(a, records.loader(a))
    first_b = keyring.issuer(b, records.loader(b))
    assert keyring.issuer(a, records.loader(a)) is first_a  # a hit: b is now the least recently used
    keyring.issuer(c, records.loader(c))  # evicts b
    assert keyring.issuer(b, records.loader(b)) is not first_b  # built again, evicting a
    assert keyring.issuer(a, records.loader(a)) is not first_a
    assert keyring.issuer(a, records.loader(a)).credit("5", at=AT, rnd=3).token == expected_token(a)
    assert "0123" not in repr(keyring) and "hidden" in repr(keyring)


def test_the_cache_size_comes_from_the_settings() -> None:
    kek = "ab" * 32
    assert Settings.from_env({"NGUVU_KEK": kek}).issuer_cache_size == DEFAULT_ISSUER_CACHE_SIZE
    assert (
        Settings.from_env({"NGUVU_KEK": kek, "NGUVU_ISSUER_CACHE_SIZE": "200000"}).issuer_cache_size
        == 200_000
    )
    for bad in ("-1", "lots", "100000000"):
        with pytest.raises(SettingsError, match="NGUVU_ISSUER_CACHE_SIZE"):
            Settings.from_env({"NGUVU_KEK": kek, "NGUVU_ISSUER_CACHE_SIZE": bad})
