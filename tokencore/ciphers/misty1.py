"""MISTY1 block cipher (RFC 2994), used by STS encryption algorithm EA11.

MISTY1 enciphers a 64-bit block under a 128-bit key in 8 rounds of the FO function, with an FL layer on
both halves before every second round and after the last one. This module follows the description in
RFC 2994 section 2; the STS conventions around it (the block read big-endian, the class transposition
afterwards) belong to the token layer, not here.

The S-boxes S7 and S9 are the published RFC 2994 tables (S7TABLE, S9TABLE), transcribed as data in
decimal, in the RFC's order; the copy they were taken from is the table data of Debian's Botan 2.19
library, as the RFC text itself was not at hand. They are checked in ``tests/test_misty1.py``: each is
a permutation, S7 has algebraic degree 3 and S9 degree 2, and both are almost perfect nonlinear (every
non-zero input difference gives each output difference at most twice), as the MISTY design from the
power maps x^81 in GF(2^7) and x^5 in GF(2^9) requires; and the RFC 2994 and STS known-answer vectors
pass.

Speed: the FI function is S9, S7, key addition, S9. Everything before the key addition depends on the
16-bit input alone, and everything after it on the 16-bit keyed value alone, so both halves are
precomputed as 65 536-entry tables (built once, on first use, from S7 and S9). One FI is then two list
look-ups and an XOR, and one FO is six look-ups.
"""

from __future__ import annotations

from functools import cache

__all__ = ["Misty1"]

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
_KEY_BYTES = 16

# RFC 2994, S7TABLE (7-bit in, 7-bit out) and S9TABLE (9-bit in, 9-bit out).
# fmt: off
_S7 = (
     27,  50,  51,  90,  59,  16,  23,  84,  91,  26, 114, 115, 107,  44, 102,  73,
     31,  36,  19, 108,  55,  46,  63,  74,  93,  15,  64,  86,  37,  81,  28,   4,
     11,  70,  32,  13, 123,  53,  68,  66,  43,  30,  65,  20,  75, 121,  21, 111,
     14,  85,   9,  54, 116,  12, 103,  83,  40,  10, 126,  56,   2,   7,  96,  41,
     25,  18, 101,  47,  48,  57,   8, 104,  95, 120,  42,  76, 100,  69, 117,  61,
     89,  72,   3,  87, 124,  79,  98,  60,  29,  33,  94,  39, 106, 112,  77,  58,
      1, 109, 110,  99,  24, 119,  35,   5,  38, 118,   0,  49,  45, 122, 127,  97,
     80,  34,  17,   6,  71,  22,  82,  78, 113,  62, 105,  67,  52,  92,  88, 125,
)
_S9 = (
    451, 203, 339, 415, 483, 233, 251,  53, 385, 185, 279, 491, 307,   9,  45, 211,
    199, 330,  55, 126, 235, 356, 403, 472, 163, 286,  85,  44,  29, 418, 355, 280,
    331, 338, 466,  15,  43,  48, 314, 229, 273, 312, 398,  99, 227, 200, 500,  27,
      1, 157, 248, 416, 365, 499,  28, 326, 125, 209, 130, 490, 387, 301, 244, 414,
    467, 221, 482, 296, 480, 236,  89, 145,  17, 303,  38, 220, 176, 396, 271, 503,
    231, 364, 182, 249, 216, 337, 257, 332, 259, 184, 340, 299, 430,  23, 113,  12,
     71,  88, 127, 420, 308, 297, 132, 349, 413, 434, 419,  72, 124,  81, 458,  35,
    317, 423, 357,  59,  66, 218, 402, 206, 193, 107, 159, 497, 300, 388, 250, 406,
    481, 361, 381,  49, 384, 266, 148, 474, 390, 318, 284,  96, 373, 463, 103, 281,
    101, 104, 153, 336,   8,   7, 380, 183,  36,  25, 222, 295, 219, 228, 425,  82,
    265, 144, 412, 449,  40, 435, 309, 362, 374, 223, 485, 392, 197, 366, 478, 433,
    195, 479,  54, 238, 494, 240, 147,  73, 154, 438, 105, 129, 293,  11,  94, 180,
    329, 455, 372,  62, 315, 439, 142, 454, 174,  16, 149, 495,  78, 242, 509, 133,
    253, 246, 160, 367, 131, 138, 342, 155, 316, 263, 359, 152, 464, 489,   3, 510,
    189, 290, 137, 210, 399,  18,  51, 106, 322, 237, 368, 283, 226, 335, 344, 305,
    327,  93, 275, 461, 121, 353, 421, 377, 158, 436, 204,  34, 306,  26, 232,   4,
    391, 493, 407,  57, 447, 471,  39, 395, 198, 156, 208, 334, 108,  52, 498, 110,
    202,  37, 186, 401, 254,  19, 262,  47, 429, 370, 475, 192, 267, 470, 245, 492,
    269, 118, 276, 427, 117, 268, 484, 345,  84, 287,  75, 196, 446, 247,  41, 164,
     14, 496, 119,  77, 378, 134, 139, 179, 369, 191, 270, 260, 151, 347, 352, 360,
    215, 187, 102, 462, 252, 146, 453, 111,  22,  74, 161, 313, 175, 241, 400,  10,
    426, 323, 379,  86, 397, 358, 212, 507, 333, 404, 410, 135, 504, 291, 167, 440,
    321,  60, 505, 320,  42, 341, 282, 417, 408, 213, 294, 431,  97, 302, 343, 476,
    114, 394, 170, 150, 277, 239,  69, 123, 141, 325,  83,  95, 376, 178,  46,  32,
    469,  63, 457, 487, 428,  68,  56,  20, 177, 363, 171, 181,  90, 386, 456, 468,
     24, 375, 100, 207, 109, 256, 409, 304, 346,   5, 288, 443, 445, 224,  79, 214,
    319, 452, 298,  21,   6, 255, 411, 166,  67, 136,  80, 351, 488, 289, 115, 382,
    188, 194, 201, 371, 393, 501, 116, 460, 486, 424, 405,  31,  65,  13, 442,  50,
     61, 465, 128, 168,  87, 441, 354, 328, 217, 261,  98, 122,  33, 511, 274, 264,
    448, 169, 285, 432, 422, 205, 243,  92, 258,  91, 473, 324, 502, 173, 165,  58,
    459, 310, 383,  70, 225,  30, 477, 230, 311, 506, 389, 140, 143,  64, 437, 190,
    120,   0, 172, 272, 350, 292,   2, 444, 162, 234, 112, 508, 278, 348,  76, 450,
)
# fmt: on


@cache
def _fi_tables() -> tuple[list[int], list[int]]:
    """Return the two FI half-tables ``(before_key, after_key)``, each indexed by a 16-bit value.

    ``FI(x, ki) == after_key[before_key[x] ^ ki]``: the key's 7 high bits meet d7 in bits 15..9 and its 9
    low bits meet d9 in bits 8..0, exactly where RFC 2994 XORs them in.
    """
    s7, s9 = _S7, _S9
    before_key = [0] * 0x10000
    after_key = [0] * 0x10000
    for x in range(0x10000):
        d9 = s9[x >> 7] ^ (x & 0x7F)
        d7 = (s7[x & 0x7F] ^ d9) & 0x7F
        before_key[x] = (d7 << 9) | d9
        d7 = x >> 9
        after_key[x] = (d7 << 9) | (s9[x & 0x1FF] ^ d7)
    return before_key, after_key


def _fi(x: int, ki: int) -> int:
    """FI of RFC 2994 on a 16-bit input under a 16-bit subkey (used by the key schedule only)."""
    before_key, after_key = _fi_tables()
    return after_key[before_key[x] ^ ki]


def _expand_key(key: bytes) -> tuple[list[int], list[int]]:
    """Return the RFC 2994 subkeys: ``k`` = EK[0..7] (the key as 16-bit words), ``kp`` = EK[8..15]."""
    k = [(key[2 * i] << 8) | key[2 * i + 1] for i in range(8)]
    kp = [_fi(k[i], k[(i + 1) % 8]) for i in range(8)]
    return k, kp


def _fo_keys(k: list[int], kp: list[int], r: int) -> tuple[int, ...]:
    """Subkeys of FO round ``r`` (0..7) in order of use: KO1, KI1, KO2, KI2, KO3, KI3, KO4."""
    return (
        k[r],
        kp[(r + 5) % 8],
        k[(r + 2) % 8],
        kp[(r + 1) % 8],
        k[(r + 7) % 8],
        kp[(r + 3) % 8],
        k[(r + 4) % 8],
    )


def _fl_keys(k: list[int], kp: list[int], n: int) -> tuple[int, int]:
    """Subkeys ``(and_key, or_key)`` of FL layer ``n`` (0..9): FL does d1 ^= d0 & and; d0 ^= d1 | or."""
    half = n // 2
    if n % 2 == 0:
        return k[half], kp[(half + 6) % 8]
    return kp[(half + 2) % 8], k[(half + 4) % 8]


class Misty1:
    """MISTY1 (RFC 2994) under one 128-bit key, enciphering 64-bit blocks given as integers.

    The key schedule is expanded once, in the constructor; the raw key is not kept, and the ``repr``
    shows no key material.
    """

    __slots__ = ("_after_key", "_before_key", "_dec_rounds", "_enc_rounds", "_fl_outer")

    # Round keys, flattened in the order the round loops consume them (see `__init__`).
    _enc_rounds: tuple[tuple[int, ...], ...]
    _dec_rounds: tuple[tuple[int, ...], ...]
    _fl_outer: tuple[int, ...]
    # The shared FI half-tables of `_fi_tables`, held per instance so the hot loops reach them quickly.
    _before_key: list[int]
    _after_key: list[int]

    def __init__(self, key: bytes) -> None:
        """Expand ``key``, 16 bytes (128 bits; byte 0 is the most significant, as in RFC 2994).

        Raises:
            TypeError: ``key`` is not bytes-like.
            ValueError: ``key`` is not exactly 16 bytes long.
        """
        if not isinstance(key, bytes | bytearray | memoryview):
            raise TypeError("MISTY1 key must be bytes")
        key = bytes(key)
        if len(key) != _KEY_BYTES:
            raise ValueError(f"MISTY1 key must be {_KEY_BYTES} bytes, got {len(key)}")
        k, kp = _expand_key(key)
        fl = [_fl_keys(k, kp, n) for n in range(10)]
        fo = [_fo_keys(k, kp, r) for r in range(8)]
        # Encryption runs 4 double rounds, each: FL on both halves, FO of the left half into the right,
        # FO of the right half into the left; then the outer FL layer (layers 8 and 9) closes.
        self._enc_rounds = tuple(fl[2 * i] + fl[2 * i + 1] + fo[2 * i] + fo[2 * i + 1] for i in range(4))
        self._fl_outer = fl[8] + fl[9]
        # Decryption undoes the same steps in reverse order, with FLINV in place of FL.
        self._dec_rounds = tuple(
            fo[2 * i + 1] + fo[2 * i] + fl[2 * i] + fl[2 * i + 1] for i in reversed(range(4))
        )
        self._before_key, self._after_key = _fi_tables()

    def __repr__(self) -> str:
        """Return a representation that never shows the key."""
        return "Misty1(<key hidden>)"

    def encrypt_block(self, block: int) -> int:
        """Encipher one 64-bit block (bits 63..56 are the first byte on the wire) and return the result.

        Raises:
            ValueError: ``block`` is outside 0 .. 2**64 - 1.
        """
        if not 0 <= block <= _MASK64:
            raise ValueError("MISTY1 block must be a 64-bit unsigned integer")
        # Hot path of EA11 token issuing: the block is held as four 16-bit words (w0 w1 | w2 w3) so that
        # FL and FO never pack or unpack 32-bit halves, and the tables are local names.
        a, b = self._before_key, self._after_key
        w0, w1, w2, w3 = block >> 48, (block >> 32) & 0xFFFF, (block >> 16) & 0xFFFF, block & 0xFFFF
        for fa0, fb0, fa1, fb1, p1, q1, p2, q2, p3, q3, p4, r1, s1, r2, s2, r3, s3, r4 in self._enc_rounds:
            w1 ^= w0 & fa0
            w0 ^= w1 | fb0
            w3 ^= w2 & fa1
            w2 ^= w3 | fb1
            t0 = b[a[w0 ^ p1] ^ q1] ^ w1
            t1 = b[a[w1 ^ p2] ^ q2] ^ t0
            t0 = b[a[t0 ^ p3] ^ q3] ^ t1
            w2 ^= t1 ^ p4
            w3 ^= t0
            t0 = b[a[w2 ^ r1] ^ s1] ^ w3
            t1 = b[a[w3 ^ r2] ^ s2] ^ t0
            t0 = b[a[t0 ^ r3] ^ s3] ^ t1
            w0 ^= t1 ^ r4
            w1 ^= t0
        fa0, fb0, fa1, fb1 = self._fl_outer
        w1 ^= w0 & fa0
        w0 ^= w1 | fb0
        w3 ^= w2 & fa1
        w2 ^= w3 | fb1
        # The halves swap on output: C = D1 || D0.
        return (w2 << 48) | (w3 << 32) | (w0 << 16) | w1

    def decrypt_block(self, block: int) -> int:
        """Decipher one 64-bit block (the inverse of `encrypt_block`) and return the plaintext block.

        Raises:
            ValueError: ``block`` is outside 0 .. 2**64 - 1.
        """
        if not 0 <= block <= _MASK64:
            raise ValueError("MISTY1 block must be a 64-bit unsigned integer")
        a, b = self._before_key, self._after_key
        # D0 is the low half of the ciphertext, D1 the high half (the swap of `encrypt_block`, undone).
        w2, w3, w0, w1 = block >> 48, (block >> 32) & 0xFFFF, (block >> 16) & 0xFFFF, block & 0xFFFF
        fa0, fb0, fa1, fb1 = self._fl_outer
        w0 ^= w1 | fb0
        w1 ^= w0 & fa0
        w2 ^= w3 | fb1
        w3 ^= w2 & fa1
        for r1, s1, r2, s2, r3, s3, r4, p1, q1, p2, q2, p3, q3, p4, fa0, fb0, fa1, fb1 in self._dec_rounds:
            t0 = b[a[w2 ^ r1] ^ s1] ^ w3
            t1 = b[a[w3 ^ r2] ^ s2] ^ t0
            t0 = b[a[t0 ^ r3] ^ s3] ^ t1
            w0 ^= t1 ^ r4
            w1 ^= t0
            t0 = b[a[w0 ^ p1] ^ q1] ^ w1
            t1 = b[a[w1 ^ p2] ^ q2] ^ t0
            t0 = b[a[t0 ^ p3] ^ q3] ^ t1
            w2 ^= t1 ^ p4
            w3 ^= t0
            w0 ^= w1 | fb0
            w1 ^= w0 & fa0
            w2 ^= w3 | fb1
            w3 ^= w2 & fa1
        return (w0 << 48) | (w1 << 32) | (w2 << 16) | w3
