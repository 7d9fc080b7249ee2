"""From a plaintext block to the 20-digit token and back: encryption plus class transposition."""

from __future__ import annotations

from tokencore.blocks import CLASS_TEST
from tokencore.ciphers import BlockCipher
from tokencore.digits import parse_digits, to_digits, transpose_class, untranspose_class


def encode_token(token_class: int, block: int, cipher: BlockCipher | None) -> str:
    """Encrypt (every class but 1) and transpose the class bits: the 20-digit token."""
    encrypted = block if token_class == CLASS_TEST else _require(cipher).encrypt_block(block)
    return to_digits(transpose_class(token_class, encrypted))


def open_token(text: str, cipher: BlockCipher | None) -> tuple[int, int]:
    """Parse 20 digits, untranspose and decrypt (every class but 1): (class, plaintext block).

    Raises TokenFormatError for anything that is not a 20-digit, 66-bit value; ValueError when a key is
    needed and `cipher` is None.
    """
    token_class, encrypted = untranspose_class(parse_digits(text))
    if token_class == CLASS_TEST:
        return token_class, encrypted
    return token_class, _require(cipher).decrypt_block(encrypted)


def _require(cipher: BlockCipher | None) -> BlockCipher:
    if cipher is None:
        raise ValueError("a decoder key is needed for encrypted token classes")
    return cipher
