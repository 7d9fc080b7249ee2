"""Secret key material, wrapped so that repr, str, logs and tracebacks never show it.

The bytes are reachable only through `reveal()` (or `hex()`), which callers use at the point where a key
really leaves the process (encrypting it at rest, writing a meter profile the operator asked for).
"""

from __future__ import annotations

import hmac
from typing import ClassVar, Self

from tokencore.errors import KeyParameterError


class _Secret:
    __slots__ = ("_material",)
    kind: ClassVar[str] = "secret"
    lengths: ClassVar[tuple[int, ...]] = ()

    def __init__(self, material: bytes) -> None:
        if not isinstance(material, bytes | bytearray):
            raise TypeError(f"{self.kind} must be bytes")
        if len(material) not in self.lengths:
            allowed = " or ".join(f"{n * 8}-bit ({n} bytes)" for n in self.lengths)
            raise KeyParameterError(f"{self.kind} must be {allowed}, got {len(material)} bytes")
        self._material = bytes(material)

    @classmethod
    def from_hex(cls, text: str) -> Self:
        cleaned = text.strip().replace(" ", "").replace(":", "")
        try:
            material = bytes.fromhex(cleaned)
        except ValueError:
            # Never echo the text: it may be a key with one typo.
            raise KeyParameterError(f"{cls.kind} is not valid hexadecimal") from None
        return cls(material)

    def reveal(self) -> bytes:
        """The raw key bytes. Only for the places that must use or store the key."""
        return self._material

    def hex(self) -> str:
        """The key as upper-case hex. Only for the places that must show or store the key."""
        return self._material.hex().upper()

    @property
    def bits(self) -> int:
        return len(self._material) * 8

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{self.bits}-bit key hidden>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Secret)
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._material))

    def __reduce__(self) -> tuple[type, tuple[bytes]]:
        # Allows multiprocessing to ship keys to worker processes (nguvu token batch).
        return (type(self), (self._material,))


class VendingKey(_Secret):
    """A vending key: 64-bit for DKGA02 (VUDK/VDDK/VCDK), 160-bit for DKGA04."""

    __slots__ = ()
    kind = "vending key"
    lengths = (8, 20)


class DecoderKey(_Secret):
    """A meter's decoder key: 64-bit for EA07 (STA), 128-bit for EA11 (MISTY1)."""

    __slots__ = ()
    kind = "decoder key"
    lengths = (8, 16)

    def as_int(self) -> int:
        """The key as a big-endian integer (sts-notes §2.1 'Key as an integer')."""
        return int.from_bytes(self._material, "big")
