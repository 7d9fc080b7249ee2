"""Wrapped key files: how a key management centre (KMC) delivers keys to the PKCS#11 key store.

A file is JSON: the key wrapped under a transport key with AES key wrap with padding (RFC 5649, PKCS#11
`CKM_AES_KEY_WRAP_PAD`), what the key is for, and a check value that lets the operator confirm the
right key arrived without ever showing it. Vending keys (DKGA 04, 160-bit) are wrapped zero-padded to 32
bytes: SoftHSM refuses HMAC keys shorter than 32 bytes, and HMAC pads every key shorter than its block
(64 bytes for SHA-256) with zeros anyway (RFC 2104, section 2), so VK and VK || 0^96 give the same HMAC.

`wrap_vending_key` / `wrap_decoder_key` are the KMC's side of the ceremony, in software: the tests and
a KMC without an HSM use them. The service only ever unwraps, inside the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from api.keystore import KeystoreError
from tokencore import DecoderKey, MeterProfile, VendingKey

FORMAT = "nguvu-wrapped-key/1"
HMAC_KEY_BYTES = 32  # a 160-bit vending key is zero-padded to this before wrapping (RFC 2104)
_MAX_FILE = 4096


def check_value(key: bytes) -> str:
    """The key check value: the first 3 bytes of HMAC-SHA-256(key, 32 zero bytes), in upper-case hex.

    The same figure comes out for a 160-bit key and its zero-padded form, so the KMC and the token agree.
    """
    return hmac.new(key, bytes(32), hashlib.sha256).hexdigest()[:6].upper()


def binding_of(profile: MeterProfile) -> str:
    """What a per-meter decoder key was made for: PAN and every key parameter DKGA 02 depends on."""
    k = profile.key
    return f"{profile.pan.pan}:{k.sgc:06d}:{k.ti:02d}:{k.krn}:{k.kt.value}:{k.dkga.value}:{k.ea.value}"


@dataclass(frozen=True)
class WrappedKey:
    """A parsed wrapped key file. `wrapped` is ciphertext (safe to log); `binding` is set for decoder keys."""

    kind: str  # "vending-key" | "decoder-key"
    bits: int
    wrapped: bytes
    check: str
    binding: str = ""

    def __repr__(self) -> str:
        return f"WrappedKey(kind={self.kind!r}, bits={self.bits}, check={self.check!r})"

    def to_json(self) -> str:
        body: dict[str, object] = {
            "format": FORMAT,
            "kind": self.kind,
            "bits": self.bits,
            "wrapping": "AES key wrap with padding (RFC 5649)",
            "wrapped": self.wrapped.hex(),
            "check": self.check,
        }
        if self.binding:
            body["binding"] = self.binding
        return json.dumps(body, indent=2) + "\n"


def parse(text: str) -> WrappedKey:
    """Read a wrapped key file. Raises KeystoreError naming what is wrong (never any key material)."""
    if len(text) > _MAX_FILE:
        raise KeystoreError("wrapped key file is too large")
    try:
        body = json.loads(text)
    except ValueError:
        raise KeystoreError("wrapped key file is not JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise KeystoreError(f"wrapped key file: format must be {FORMAT!r}")
    kind, bits, check, binding = (
        body.get("kind"),
        body.get("bits"),
        body.get("check"),
        body.get("binding", ""),
    )
    if kind not in ("vending-key", "decoder-key"):
        raise KeystoreError("wrapped key file: kind must be 'vending-key' or 'decoder-key'")
    allowed = (160,) if kind == "vending-key" else (64, 128)
    if not isinstance(bits, int) or bits not in allowed:
        raise KeystoreError(f"wrapped key file: a {kind} here is {' or '.join(map(str, allowed))} bits")
    if not isinstance(check, str) or len(check) != 6:
        raise KeystoreError("wrapped key file: check must be 6 hex digits")
    if kind == "decoder-key" and (not isinstance(binding, str) or binding.count(":") != 6):
        raise KeystoreError("wrapped key file: a decoder key names its meter and key parameters (binding)")
    try:
        wrapped = bytes.fromhex(str(body.get("wrapped", "")))
    except ValueError:
        raise KeystoreError("wrapped key file: wrapped is not hex") from None
    if len(wrapped) < 16 or len(wrapped) % 8:
        raise KeystoreError("wrapped key file: wrapped has not the length of an RFC 5649 output")
    return WrappedKey(kind, bits, wrapped, check.upper(), str(binding))


def wrap_vending_key(transport_key: bytes, key: VendingKey) -> WrappedKey:
    """KMC side: a 160-bit vending key wrapped (zero-padded to 32 bytes) under the transport key."""
    raw = key.reveal()
    if len(raw) != 20:
        raise ValueError("the PKCS#11 key store holds 160-bit (DKGA 04) vending keys only")
    padded = raw + bytes(HMAC_KEY_BYTES - len(raw))
    return WrappedKey("vending-key", 160, aes_key_wrap_with_padding(transport_key, padded), check_value(raw))


def wrap_decoder_key(transport_key: bytes, key: DecoderKey, profile: MeterProfile) -> WrappedKey:
    """KMC side: one meter's decoder key wrapped under the transport key, bound to the meter's keys."""
    raw = key.reveal()
    wrapped = aes_key_wrap_with_padding(transport_key, raw)
    return WrappedKey("decoder-key", len(raw) * 8, wrapped, check_value(raw), binding_of(profile))
