"""Decoder key generation: DKGA02 (DES) and DKGA04 (HMAC-SHA-256), sts-notes §2.4."""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from tokencore.errors import KeyParameterError
from tokencore.keys import DecoderKey, VendingKey
from tokencore.params import Dkga, Ea, KeyType, MeterProfile


def pan_block(profile: MeterProfile) -> bytes:
    """The 8-byte PANBlock: IIN tail ‖ IAIN as BCD; the IAIN is zeroed for a common key (KT 3)."""
    digits = profile.pan.pan_block_digits(zero_iain=profile.key.kt is KeyType.DCTK)
    return bytes.fromhex(digits)


def control_block(profile: MeterProfile) -> bytes:
    """The 8-byte ControlBlock: KT ‖ SGC(6) ‖ TI(2, BCD) ‖ KRN ‖ FFFFFF."""
    key = profile.key
    return bytes.fromhex(f"{key.kt.value:1d}{key.sgc:06d}{key.ti:02d}{key.krn:1d}FFFFFF")


_local = threading.local()
_CACHE_SIZE = 16


def _des_encrypt(key: bytes, block: bytes) -> bytes:
    """Single DES-ECB of one block: TripleDES with K1 = K2 = K3 (parity bits ignored).

    An ECB encryptor holds no chaining state, so one per vending key is kept (per thread, a few at most)
    and reused: deriving a key per token then costs one block, not a cipher set-up.
    """
    cache: dict[bytes, Any] | None = getattr(_local, "encryptors", None)
    if cache is None:
        cache = _local.encryptors = {}
    encryptor = cache.get(key)
    if encryptor is None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        encryptor = cache[key] = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    result: bytes = encryptor.update(block)
    return result


def dkga02(vending_key: VendingKey, profile: MeterProfile) -> DecoderKey:
    """DK = DES(VK, D) XOR D XOR VK with D = PANBlock XOR ControlBlock. 64-bit key, EA07 only.

    Raises KeyParameterError when the vending key is not 64-bit.
    """
    vk = vending_key.reveal()
    if len(vk) != 8:
        raise KeyParameterError(f"DKGA02 needs a 64-bit vending key, got a {len(vk) * 8}-bit key")
    d = int.from_bytes(pan_block(profile), "big") ^ int.from_bytes(control_block(profile), "big")
    d_bytes = d.to_bytes(8, "big")
    enc = int.from_bytes(_des_encrypt(vk, d_bytes), "big")
    return DecoderKey((enc ^ d ^ int.from_bytes(vk, "big")).to_bytes(8, "big"))


def _field(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([len(raw)]) + raw


def dkga04_message(profile: MeterProfile) -> bytes:
    """The fixed input M of DKGA04 (sts-notes §2.4): label fields, 0x00, context fields, L in bits."""
    key = profile.key
    bits = 128 if key.ea is Ea.EA11 else 64
    label = (
        b"\x04" + _field("04") + _field(key.base_date.value) + _field(key.ea.value) + _field(f"{key.ti:02d}")
    )
    context = (
        b"\x04"
        + _field(f"{key.sgc:06d}")
        + _field(f"{key.kt.value:X}")
        + _field(f"{key.krn:X}")
        + _field(profile.pan.pan)
    )
    return label + b"\x00" + context + bits.to_bytes(4, "big")


def dkga04(vending_key: VendingKey, profile: MeterProfile) -> DecoderKey:
    """DK = first 8 (EA07) or 16 (EA11) bytes of HMAC-SHA256(VK, M). Needs a 160-bit vending key.

    Raises KeyParameterError when the vending key is not 160-bit.
    """
    vk = vending_key.reveal()
    if len(vk) != 20:
        raise KeyParameterError(f"DKGA04 needs a 160-bit vending key, got a {len(vk) * 8}-bit key")
    digest = hmac.new(vk, dkga04_message(profile), hashlib.sha256).digest()
    return DecoderKey(digest[: profile.key.ea.key_bytes])


def derive_decoder_key(vending_key: VendingKey, profile: MeterProfile) -> DecoderKey:
    """Derive the meter's decoder key with the profile's DKGA.

    Raises KeyParameterError when the vending key length does not fit the algorithm.
    """
    if profile.key.dkga is Dkga.DKGA02:
        return dkga02(vending_key, profile)
    return dkga04(vending_key, profile)
