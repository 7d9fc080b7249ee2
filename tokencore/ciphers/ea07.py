"""EA07, the Standard Transfer Algorithm (sts-notes §2.1): a 16-round SP network, 64-bit block and key.

The rounds are computed with lookup tables over bytes (two nibbles): the permutation is linear, so a
round is `OR over bytes j of T[j][sel][byte_j]`, where T folds the byte's two nibble substitutions
(chosen by one key bit per nibble, `sel`) into the permutation. A cipher object selects, once per key,
the table each round uses, so a block costs 16 x 8 lookups. (Wider 12-bit chunks need fewer lookups
but 20 times the table memory, and measured slower: the lookups then miss the CPU caches.)
`reference_encrypt` and `reference_decrypt` are the same algorithm bit by bit, straight from the prose:
the tests check one against the other, and the benchmark uses them as its baseline.
"""

from __future__ import annotations

from functools import lru_cache

from tokencore.ciphers.tables import REAL, TableSet

MASK64 = (1 << 64) - 1


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (64 - n))) & MASK64


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & MASK64


def _permute_bits(x: int, perm: tuple[int, ...]) -> int:
    out = 0
    for i in range(64):
        if (x >> i) & 1:
            out |= 1 << perm[i]
    return out


# (shift, nibble count) of each chunk: the eight bytes.
CHUNKS = tuple((8 * j, 2) for j in range(8))
ChunkTables = tuple[tuple[tuple[int, ...], ...], ...]  # [chunk][sel][chunk value] -> 64-bit word


def _spread(perm: tuple[int, ...] | None) -> list[list[int]]:
    """[nibble position][value] -> that nibble placed at its position, then permuted by `perm`."""
    return [
        [_permute_bits(v << (4 * n), perm) if perm else v << (4 * n) for v in range(16)] for n in range(16)
    ]


def _chunk_tables(spread: list[list[int]], box0: tuple[int, ...], box1: tuple[int, ...]) -> ChunkTables:
    tables = []
    for shift, width in CHUNKS:
        first = shift // 4
        # placed[n][s][v]: nibble value v at chunk nibble n, substituted by box s, placed and permuted.
        placed = [
            [[spread[first + n][box[v]] for v in range(16)] for box in (box0, box1)] for n in range(width)
        ]
        per_sel = []
        for sel in range(1 << width):
            low, high = (placed[n][(sel >> n) & 1] for n in range(width))
            per_sel.append(tuple(h | lo for h in high for lo in low))
        tables.append(tuple(per_sel))
    return tuple(tables)


@lru_cache(maxsize=8)
def _encrypt_tables(tables: TableSet) -> ChunkTables:
    return _chunk_tables(_spread(tables.perm), tables.s1, tables.s2)


@lru_cache(maxsize=8)
def _decrypt_tables(tables: TableSet) -> tuple[ChunkTables, ChunkTables, ChunkTables]:
    """P^-1 alone; inverse substitution followed by P^-1; inverse substitution alone (the last step).
    Decryption picks S2^-1 when the key bit is 0 and S1^-1 when it is 1."""
    identity = tuple(range(16))
    spread_inv = _spread(tables.perm_inv)
    first = _chunk_tables(spread_inv, identity, identity)
    middle = _chunk_tables(spread_inv, tables.s2_inv, tables.s1_inv)
    last = _chunk_tables(_spread(None), tables.s2_inv, tables.s1_inv)
    return first, middle, last


def _gather(offset: int) -> tuple[int, ...]:
    """[key byte] -> its bits (4n + offset), n = 0..1, packed as a 2-bit selector."""
    return tuple(((v >> offset) & 1) | (((v >> (4 + offset)) & 1) << 1) for v in range(256))


_GATHER_ENC = _gather(3)
_GATHER_DEC = _gather(0)


KeyTables = tuple[tuple[tuple[int, ...], ...], ...]  # [byte position][key byte] -> a round's chunk table


def _by_key_byte(chunks: ChunkTables, gather: tuple[int, ...]) -> KeyTables:
    """Per byte position j: key byte value -> the chunk table its two key bits select. A key schedule
    then costs one int.to_bytes and eight lookups per round (half the time of gathering the bits)."""
    return tuple(tuple(chunks[j][gather[v]] for v in range(256)) for j in range(8))


@lru_cache(maxsize=8)
def _encrypt_key_tables(tables: TableSet) -> KeyTables:
    return _by_key_byte(_encrypt_tables(tables), _GATHER_ENC)


@lru_cache(maxsize=8)
def _decrypt_key_tables(tables: TableSet) -> tuple[KeyTables, KeyTables]:
    _, middle, last = _decrypt_tables(tables)
    return _by_key_byte(middle, _GATHER_DEC), _by_key_byte(last, _GATHER_DEC)


def _rounds(k: int, by_key: KeyTables, count: int, step: int) -> list[Round]:
    """`count` rounds from the key register `k`, rotated by `step` bits (1: left, 63: right) after each."""
    t0, t1, t2, t3, t4, t5, t6, t7 = by_key
    rounds: list[Round] = []
    for _ in range(count):
        b0, b1, b2, b3, b4, b5, b6, b7 = k.to_bytes(8, "little")
        rounds.append((t0[b0], t1[b1], t2[b2], t3[b3], t4[b4], t5[b5], t6[b6], t7[b7]))
        k = ((k << step) | (k >> (64 - step))) & MASK64
    return rounds


Round = tuple[tuple[int, ...], ...]


class Ea07:
    """EA07 with one decoder key and one table set; immutable, reusable for many blocks."""

    __slots__ = ("_dec_rounds", "_enc_rounds", "_key", "_tables")

    def __init__(self, key: int, tables: TableSet = REAL) -> None:
        if not 0 <= key <= MASK64:
            raise ValueError("EA07 key must be a 64-bit integer")
        self._key = key
        self._tables = tables
        # Round r uses the key register rotated left r times (from ~key rotated right by 12); its bits
        # (4n + 3) select the S-box of nibble n.
        self._enc_rounds = _rounds(_rotr(~key & MASK64, 12), _encrypt_key_tables(tables), 16, 1)
        self._dec_rounds: list[Round] | None = None  # built on first decryption

    def __repr__(self) -> str:
        return "Ea07(<key hidden>)"

    def _build_decryption(self) -> list[Round]:
        first = _decrypt_tables(self._tables)[0]
        middle, last = _decrypt_key_tables(self._tables)
        # P^-1 alone, then 15 rounds of S^-1 and P^-1, then S^-1 alone; the key register starts as the
        # key, rotates right once per round, and its bits (4n) select the inverse S-box of nibble n.
        rounds: list[Round] = [tuple(first[c][0] for c in range(8))]
        rounds += _rounds(self._key, middle, 15, 63)
        rounds += _rounds(_rotr(self._key, 15), last, 1, 63)
        self._dec_rounds = rounds
        return rounds

    def encrypt_block(self, x: int) -> int:
        """Encrypt one 64-bit block (an int). Raises OverflowError outside 0 .. 2**64 - 1."""
        # Each round ORs eight byte lookups. The bytes come from one int.to_bytes per round (C code),
        # not eight shift-and-mask steps: 1.5 times faster on CPython 3.11, and most of a token's cost.
        for t0, t1, t2, t3, t4, t5, t6, t7 in self._enc_rounds:
            b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
            x = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
        return x

    def decrypt_block(self, x: int) -> int:
        """Decrypt one 64-bit block (an int). Raises OverflowError outside 0 .. 2**64 - 1."""
        for t0, t1, t2, t3, t4, t5, t6, t7 in self._dec_rounds or self._build_decryption():
            b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
            x = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
        return x


def reference_encrypt(key: int, block: int, tables: TableSet = REAL) -> int:
    """EA07 encryption exactly as sts-notes §2.1 words it, one bit and one nibble at a time."""
    k = _rotr(~key & MASK64, 12)
    x = block
    for _ in range(16):
        sub = 0
        for n in range(16):
            box = tables.s2 if (k >> (4 * n + 3)) & 1 else tables.s1
            sub |= box[(x >> (4 * n)) & 15] << (4 * n)
        x = _permute_bits(sub, tables.perm)
        k = _rotl(k, 1)
    return x


def reference_decrypt(key: int, block: int, tables: TableSet = REAL) -> int:
    """EA07 decryption exactly as sts-notes §2.1 words it (the baseline of benchmarks/tokens.py)."""
    k = key
    x = block
    for _ in range(16):
        x = _permute_bits(x, tables.perm_inv)
        sub = 0
        for n in range(16):
            box = tables.s1_inv if (k >> (4 * n)) & 1 else tables.s2_inv
            sub |= box[(x >> (4 * n)) & 15] << (4 * n)
        x = sub
        k = _rotr(k, 1)
    return x
