"""Vending keys at rest: AES-256-GCM under a key-encryption key (KEK) from the settings.

The vending key is the utility's master secret: with it anyone can make tokens for every meter of the
supply group. It is stored only as `nonce || ciphertext+tag`, bound to its row label by the GCM associated
data (so a ciphertext copied onto another row does not decrypt), and decrypted only inside the vend path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
_AAD_PREFIX = b"nguvu/vending-key/v1:"


class KeystoreError(Exception):
    """A stored vending key does not decrypt under this KEK (wrong KEK, or tampered data)."""

    code = "vending_key_unreadable"


class Kek:
    """A 256-bit key-encryption key. Its repr never shows the key."""

    __slots__ = ("_aead", "_derive_root")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a KEK is 32 bytes")
        self._aead = AESGCM(key)
        # Other keys the service needs (the back office's cookie signing key) come from the KEK, so every
        # worker process agrees on them without another secret to configure; the KEK itself stays here.
        self._derive_root = hmac.new(key, b"nguvu/derived-keys/v1", hashlib.sha256).digest()

    @classmethod
    def from_hex(cls, text: str) -> Kek:
        text = text.strip()
        if len(text) != 64:
            raise ValueError("a KEK is 64 hex digits")
        return cls(bytes.fromhex(text))

    @classmethod
    def generate(cls) -> tuple[Kek, str]:
        """A fresh random KEK and its hex form (to be stored by the caller, e.g. the demo's data dir)."""
        text = secrets.token_hex(32)
        return cls.from_hex(text), text

    def __repr__(self) -> str:
        return "Kek(<hidden>)"

    def derive(self, purpose: str) -> bytes:
        """A 256-bit key for `purpose` (e.g. "admin-cookie"), independent of the KEK and of other purposes."""
        return hmac.new(self._derive_root, purpose.encode(), hashlib.sha256).digest()

    def seal(self, label: str, secret: bytes) -> bytes:
        """Encrypt `secret` for the row named `label`: returns nonce || ciphertext || tag."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, _AAD_PREFIX + label.encode())

    def open(self, label: str, sealed: bytes) -> bytes:
        """Decrypt what `seal` produced for the same label. Raises KeystoreError."""
        if len(sealed) <= NONCE_BYTES:
            raise KeystoreError("stored vending key is truncated")
        try:
            return self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _AAD_PREFIX + label.encode()
            )
        except InvalidTag:
            raise KeystoreError(
                f"vending key {label!r} does not decrypt: wrong NGUVU_KEK or tampered row"
            ) from None
