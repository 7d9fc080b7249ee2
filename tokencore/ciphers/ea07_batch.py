"""Bit-sliced EA07 (sts-notes §2.1): many 64-bit blocks at once, each with its own 64-bit key.

Why it is fast. N blocks are held as 64 Python ints, the "bit planes": bit i of plane j is bit j of
block i (the keys likewise). One big-int operation then acts on the same bit of all N blocks, at C speed,
and the cipher maps onto planes as follows:

* the permutation P only renames planes (plane P[i] of the output is plane i of the input), and the
  per-round key rotation only renames key planes: both cost nothing per block;
* the substitution of nibble n is a boolean circuit over its four planes. The circuit for the key-chosen
  S-box pair is derived from the tables at import time: y = B(x) ^ (k & (A(x) ^ B(x))), with A the box the
  key bit 1 selects and B the one for 0, B and A ^ B written in their algebraic normal form (the input
  polarity is chosen to need the fewest gates), shared monomials, and XOR sums factored by Paar's greedy
  common-pair elimination. It costs 45 to 48 big-int operations per nibble (real and sample tables), so
  about 16 x 16 x 48 = 12,300 operations per batch, each one linear in N;
* transposing the blocks into planes and back costs no per-block Python step either: struct.pack, strided
  bytes slices (byte k of every block), 18 big-int operations that transpose all 8 x 8 bit blocks at once,
  strided slices again and int.from_bytes. (That measured 2.5 times faster than mapping each byte to
  "0"/"1" with bytes.translate and int(text, 2), and back with format(plane, "b").)

Complexity: O(N) time and memory, whatever the number of distinct keys: per batch of up to CHUNK blocks,
about 12,300 big-int operations on N-bit planes, 18 on 64N-bit ints, and about 600 calls and bytes
operations. Longer inputs are processed in chunks of CHUNK blocks to keep the planes in the CPU caches.

When to use `Ea07` instead: a batch has a fixed cost of about 0.3 ms (the ~12,300 operations and the calls
around them), which a handful of blocks cannot amortise: one block costs ~350 us here against ~30 us for
`Ea07` including its key set-up. `Ea07` is the better choice below roughly 10-20 blocks. Against one Ea07
object per distinct key (all keys distinct, CPython 3.11) this module is 5 times faster at 100 blocks,
35 times at 1,000 and 70-120 times from 10,000 on (~2.5 million blocks/s; figures in the commit message).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import combinations

from tokencore.ciphers.tables import REAL, TableSet

__all__ = ["CHUNK", "decrypt_many", "encrypt_many"]

# Blocks per bit-sliced batch. Each big-int operation has a fixed cost of some 40 ns besides its linear
# part, so the cost per block keeps falling up to about 10^4 blocks (1,024: ~1.1 us per block; 4,096:
# ~0.5 us; 16,384: ~0.4 us); beyond that the 128 planes (2 KB each at 16,384) and the temporaries leave
# the CPU caches and it stops improving. 8,192 to 65,536 were within measurement noise (CPython 3.11).
CHUNK = 16384

# (x0, x1, x2, x3, k, ones) -> (y0, y1, y2, y3): one nibble of one round, on planes.
NibbleCircuit = Callable[[int, int, int, int, int, int], tuple[int, int, int, int]]

# --------------------------------------------------------------------------------------------------
# Circuit derivation (import time, once per table set and direction).


def _anf(truth: list[int]) -> list[int]:
    """Algebraic normal form of a 4-input boolean function: the coefficient of each monomial, indexed
    by the monomial's variable mask (Moebius transform of the truth table)."""
    coef = list(truth)
    for i in range(4):
        for m in range(16):
            if m >> i & 1:
                coef[m] ^= coef[m ^ (1 << i)]
    return coef


class _Builder:
    """Straight-line code over named Python variables; counts the big-int operations it emits."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ops = 0
        self._n = 0

    def emit(self, expr: str, ops: int = 1) -> str:
        name = f"t{self._n}"
        self._n += 1
        self.lines.append(f"    {name} = {expr}")
        self.ops += ops
        return name


def _xor_sums(b: _Builder, sums: list[set[str]]) -> list[str]:
    """Emit the XOR of each set of names, sharing common pairs (Paar's greedy algorithm)."""
    sums = [set(s) for s in sums]
    while True:
        counts: dict[tuple[str, str], int] = {}
        for s in sums:
            for pair in combinations(sorted(s), 2):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair, count = max(counts.items(), key=lambda item: (item[1], item[0]))
        if count < 2:
            break
        name = b.emit(f"{pair[0]} ^ {pair[1]}")
        for s in sums:
            if pair[0] in s and pair[1] in s:
                s -= set(pair)
                s.add(name)
    out = []
    for s in sums:
        terms = sorted(s)
        if not terms:
            out.append("0")
        elif len(terms) == 1:
            out.append(terms[0])
        else:
            out.append(b.emit(" ^ ".join(terms), len(terms) - 1))
    return out


def _circuit_source(box1: tuple[int, ...], box0: tuple[int, ...], polarity: int) -> tuple[str, int]:
    """Python source of `y = box0[x] if k == 0 else box1[x]` on planes, with the ANF taken over the
    inputs complemented by `polarity`; returns (source, number of big-int operations)."""
    b = _Builder()
    var = []
    for i in range(4):
        var.append(b.emit(f"x{i} ^ m") if polarity >> i & 1 else f"x{i}")
    # out[j] = B_j ^ (k & D_j), D = A ^ B, as functions of z = x ^ polarity.
    anfs = []
    for table in (box0, tuple(a ^ c for a, c in zip(box1, box0, strict=True))):
        for j in range(4):
            anfs.append(_anf([table[z ^ polarity] >> j & 1 for z in range(16)]))
    needed = {m for coef in anfs for m in range(16) if coef[m] and bin(m).count("1") >= 2}
    # Degree-3 (and 4) monomials reuse a needed degree-2 product where one exists.
    high = sorted((m for m in needed if bin(m).count("1") >= 3), key=lambda m: bin(m).count("1"))
    parent: dict[int, int] = {}
    for m in high:
        subs = [m ^ (1 << i) for i in range(4) if m >> i & 1]
        have = [s for s in subs if s in needed]
        if have:
            parent[m] = have[0]
        else:
            # Create the sub-product used by the most other high monomials.
            best = max(subs, key=lambda s: sum(1 for h in high if h & s == s))
            needed.add(best)
            parent[m] = best
    name: dict[int, str] = {0: "m"}
    for i in range(4):
        name[1 << i] = var[i]
    for m in sorted(needed, key=lambda m: (bin(m).count("1"), m)):
        if m in parent:
            p = parent[m]
            extra = (m ^ p).bit_length() - 1
            name[m] = b.emit(f"{name[p]} & {var[extra]}")
        else:
            i, j = (i for i in range(4) if m >> i & 1)
            name[m] = b.emit(f"{var[i]} & {var[j]}")
    sums = [{name[m] for m in range(16) if coef[m]} for coef in anfs]
    terms = _xor_sums(b, sums)
    outs = []
    for j in range(4):
        base, diff = terms[j], terms[4 + j]
        if diff == "0":
            outs.append(base)
        elif base == "0":
            outs.append(b.emit(f"k & {diff}"))
        else:
            outs.append(b.emit(f"{base} ^ (k & {diff})", 2))
    head = "def circuit(x0: int, x1: int, x2: int, x3: int, k: int, m: int) -> tuple[int, int, int, int]:"
    return "\n".join([head, *b.lines, f"    return ({', '.join(outs)})", ""]), b.ops


@lru_cache(maxsize=16)
def _circuit(box1: tuple[int, ...], box0: tuple[int, ...]) -> tuple[NibbleCircuit, int, str]:
    """The cheapest circuit over the 16 input polarities: (function, operation count, source)."""
    source, ops = min((_circuit_source(box1, box0, p) for p in range(16)), key=lambda so: so[1])
    namespace: dict[str, object] = {}
    exec(compile(source, f"<ea07_batch circuit {box1} {box0}>", "exec"), namespace)
    function = namespace["circuit"]
    assert callable(function)
    return function, ops, source


def _selector(box1: tuple[int, ...], box0: tuple[int, ...]) -> tuple[NibbleCircuit, bool]:
    """The circuit choosing box1 when the key bit is 1, box0 when 0, or, when cheaper, the circuit with
    the boxes swapped plus True: the key planes must then be complemented (64 operations per batch)."""
    straight, swapped = _circuit(box1, box0), _circuit(box0, box1)
    return (swapped[0], True) if swapped[1] < straight[1] else (straight[0], False)


# --------------------------------------------------------------------------------------------------
# Transposition between 64-bit ints and bit planes.

# Transposing a column of bytes (row i = byte i) in 8 x 8 blocks: stage s swaps bit (r, c) with
# (r + s, c - s) for r & s == 0 and c & s != 0, a move of 7s bit positions; these are the masked bits.
_STAGES = ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0))


@lru_cache(maxsize=4)
def _stage_masks(groups: int) -> tuple[tuple[int, int], ...]:
    return tuple((d, int.from_bytes(m.to_bytes(8, "little") * groups, "little")) for d, m in _STAGES)


def _transpose8(x: int, masks: tuple[tuple[int, int], ...]) -> int:
    """Transpose every 8 x 8 bit block of x (bytes as rows): 18 big-int operations (an involution)."""
    for d, m in masks:
        t = ((x >> d) ^ x) & m
        x ^= t ^ (t << d)
    return x


def _to_planes(values: Sequence[int], n8: int, what: str) -> list[int]:
    """64 planes of the 64-bit values, padded with zeros to n8 (a multiple of 8) values: bit i of plane
    8k + b is bit b of byte k of values[i]."""
    n = len(values)
    try:
        data = struct.pack(f"<{n}Q", *values) + bytes(8 * (n8 - n))
    except struct.error:
        raise ValueError(f"EA07 {what} must be 64-bit unsigned integers") from None
    # Columns: byte k of every value (data[k::8]), one after the other; transposing each 8 x 8 block
    # then leaves bit b of byte k of values 8g..8g+7 in byte 8g + b of column k, so every 8th byte of
    # column k, starting at b, is plane 8k + b.
    columns = int.from_bytes(b"".join([data[k::8] for k in range(8)]), "little")
    spread = _transpose8(columns, _stage_masks(n8)).to_bytes(8 * n8, "little")
    return [
        int.from_bytes(spread[k * n8 + b : (k + 1) * n8 : 8], "little") for k in range(8) for b in range(8)
    ]


def _from_planes(planes: list[int], n8: int, n: int) -> list[int]:
    """Inverse of _to_planes: the first n values."""
    size = n8 // 8
    spread = bytearray(8 * n8)
    for k in range(8):
        for b in range(8):
            spread[k * n8 + b : (k + 1) * n8 : 8] = planes[8 * k + b].to_bytes(size, "little")
    columns = _transpose8(int.from_bytes(spread, "little"), _stage_masks(n8)).to_bytes(8 * n8, "little")
    data = bytearray(8 * n8)
    for k in range(8):
        data[k::8] = columns[k * n8 : (k + 1) * n8]
    return list(struct.unpack_from(f"<{n}Q", data))


# --------------------------------------------------------------------------------------------------
# The cipher on planes.


def _encrypt_planes(x: list[int], key: list[int], ones: int, tables: TableSet) -> list[int]:
    # Round r, nibble n selects with bit 4n+3 of ROTL(ROTR(~K, 12), r), i.e. bit (4n + 15 - r) mod 64 of
    # ~K: S1 when that bit is 0, that is when bit (4n + 15 - r) of K is 1.
    circuit, complement = _selector(tables.s1, tables.s2)
    if complement:
        key = [plane ^ ones for plane in key]
    perm = tables.perm
    for r in range(16):
        out = [0] * 64
        for n in range(16):
            i = 4 * n
            y0, y1, y2, y3 = circuit(x[i], x[i + 1], x[i + 2], x[i + 3], key[(i + 15 - r) & 63], ones)
            out[perm[i]] = y0
            out[perm[i + 1]] = y1
            out[perm[i + 2]] = y2
            out[perm[i + 3]] = y3
        x = out
    return x


def _decrypt_planes(x: list[int], key: list[int], ones: int, tables: TableSet) -> list[int]:
    # Step d: inverse permutation (output plane i is input plane P[i]), then nibble n picks S1^-1 when
    # bit (4n + d) mod 64 of K is 1, S2^-1 when it is 0.
    circuit, complement = _selector(tables.s1_inv, tables.s2_inv)
    if complement:
        key = [plane ^ ones for plane in key]
    perm = tables.perm
    for d in range(16):
        x = [x[p] for p in perm]
        out: list[int] = []
        for n in range(16):
            i = 4 * n
            out.extend(circuit(x[i], x[i + 1], x[i + 2], x[i + 3], key[(i + d) & 63], ones))
        x = out
    return x


def _run(
    keys: Sequence[int],
    blocks: Sequence[int],
    tables: TableSet,
    planes_fn: Callable[[list[int], list[int], int, TableSet], list[int]],
    chunk: int,
) -> list[int]:
    if len(keys) != len(blocks):
        raise ValueError(f"EA07 batch: {len(keys)} keys for {len(blocks)} blocks")
    result: list[int] = []
    for start in range(0, len(blocks), chunk):
        key_part = keys[start : start + chunk]
        block_part = blocks[start : start + chunk]
        n = len(block_part)
        n8 = (n + 7) & ~7
        block_planes = _to_planes(block_part, n8, "blocks")
        key_planes = _to_planes(key_part, n8, "keys")
        planes = planes_fn(block_planes, key_planes, (1 << n8) - 1, tables)
        result.extend(_from_planes(planes, n8, n))
    return result


def encrypt_many(keys: Sequence[int], blocks: Sequence[int], tables: TableSet = REAL) -> list[int]:
    """EA07-encrypt blocks[i] with keys[i] for every i (keys may repeat); equals
    [Ea07(k, tables).encrypt_block(b) for k, b in zip(keys, blocks)].

    O(N), bit-sliced in chunks of CHUNK blocks (see the module docstring); prefer `Ea07` for fewer than a
    few dozen blocks. Raises ValueError if the lengths differ or a key or block is not a 64-bit unsigned
    integer.
    """
    return _run(keys, blocks, tables, _encrypt_planes, CHUNK)


def decrypt_many(keys: Sequence[int], blocks: Sequence[int], tables: TableSet = REAL) -> list[int]:
    """EA07-decrypt blocks[i] with keys[i] for every i (keys may repeat); equals
    [Ea07(k, tables).decrypt_block(b) for k, b in zip(keys, blocks)].

    O(N), bit-sliced in chunks of CHUNK blocks (see the module docstring); prefer `Ea07` for fewer than a
    few dozen blocks. Raises ValueError if the lengths differ or a key or block is not a 64-bit unsigned
    integer.
    """
    return _run(keys, blocks, tables, _decrypt_planes, CHUNK)
