"""Token encryption algorithms: EA07 (STA) and EA11 (MISTY1). EA09 (DEA) is not supported: it has no
public definition or vector (sts-notes §2.2), and guessing would issue tokens no meter accepts."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

from tokencore.ciphers.ea07 import Ea07
from tokencore.ciphers.misty1 import Misty1
from tokencore.ciphers.native import compiled_ea07, on_switch
from tokencore.ciphers.tables import REAL, SAMPLE, TableSet, table_set
from tokencore.errors import KeyParameterError, UnsupportedError
from tokencore.keys import DecoderKey
from tokencore.params import Ea

__all__ = ["REAL", "SAMPLE", "BlockCipher", "TableSet", "make_cipher", "table_set"]


class BlockCipher(Protocol):
    def encrypt_block(self, block: int) -> int: ...

    def decrypt_block(self, block: int) -> int: ...


def make_cipher(key: DecoderKey, ea: Ea, tables: TableSet = REAL) -> BlockCipher:
    """A block cipher for the decoder key: EA07 with a 64-bit key, EA11 with a 128-bit key.

    `tables` selects the EA07 table set (the deployed "real" tables by default). Ciphers are immutable
    and the last 1,024 are kept, so a service building an Issuer per request, or a meter decoding each
    entry, pays the key schedule once per key (the cache holds key schedules in memory, as any live
    cipher does). Raises KeyParameterError when the key length does not match the algorithm,
    UnsupportedError for EA09.
    """
    return _cipher(key.reveal(), ea, tables)


@lru_cache(maxsize=1024)
def _cipher(material: bytes, ea: Ea, tables: TableSet) -> BlockCipher:
    if ea is Ea.EA07:
        if len(material) != 8:
            raise KeyParameterError(f"EA07 needs a 64-bit decoder key, got {len(material) * 8}-bit")
        key = int.from_bytes(material, "big")
        return compiled_ea07(key, tables) or Ea07(key, tables)
    if ea is Ea.EA11:
        if len(material) != 16:
            raise KeyParameterError(f"EA11 needs a 128-bit decoder key, got {len(material) * 8}-bit")
        return Misty1(material)
    raise UnsupportedError("EA09 (DEA) token encryption has no public definition or test vector")


on_switch(_cipher.cache_clear)  # a cipher cached on one path must not be served after a switch
