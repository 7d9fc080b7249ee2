"""The EA07 (STA) substitution and permutation tables (sts-notes §2.1).

Two sets:
- REAL: the tables deployed meters use; the same in three unrelated public sources, and they reproduce
  every compliance vector. They are operational data of the STS Association: a utility deploying them
  commercially settles their use with the STSA (see docs/engine.md).
- SAMPLE: the illustrative tables printed in the IEC text. No meter in the field uses them; they exist
  for laboratories and for anyone the STSA has not licensed. Tokens made with them interoperate only
  with decoders configured with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


@dataclass(frozen=True, eq=False)  # identity: the sets are module-level singletons, hashed per cipher
class TableSet:
    """S1, S2 (encryption substitutions) and P (input bit i goes to output bit P[i])."""

    name: str
    s1: tuple[int, ...]
    s2: tuple[int, ...]
    perm: tuple[int, ...]
    s1_inv: tuple[int, ...] = field(init=False)
    s2_inv: tuple[int, ...] = field(init=False)
    perm_inv: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        if sorted(self.s1) != list(range(16)) or sorted(self.s2) != list(range(16)):
            raise ValueError(f"{self.name}: S-boxes must be permutations of 0..15")
        if sorted(self.perm) != list(range(64)):
            raise ValueError(f"{self.name}: P must be a permutation of 0..63")
        object.__setattr__(self, "s1_inv", _inverse(self.s1))
        object.__setattr__(self, "s2_inv", _inverse(self.s2))
        object.__setattr__(self, "perm_inv", _inverse(self.perm))


REAL = TableSet(
    name="real",
    s1=(14, 10, 7, 9, 12, 3, 2, 5, 13, 0, 15, 1, 4, 8, 6, 11),
    s2=(12, 8, 2, 13, 7, 6, 1, 3, 11, 5, 9, 15, 0, 4, 10, 14),
    perm=(
        55, 42, 10, 18, 24, 21, 44, 35, 2, 22, 56, 43, 27, 58, 9, 50,
        6, 36, 12, 61, 37, 38, 53, 16, 62, 3, 7, 4, 32, 20, 63, 25,
        51, 52, 54, 33, 49, 19, 46, 29, 48, 31, 23, 30, 41, 28, 13, 5,
        40, 60, 39, 11, 15, 17, 1, 0, 57, 34, 59, 8, 47, 14, 45, 26,
    ),
)  # fmt: skip

SAMPLE = TableSet(
    name="sample",
    s1=(12, 10, 8, 4, 3, 15, 0, 2, 14, 1, 5, 13, 6, 9, 7, 11),
    s2=(6, 9, 7, 4, 3, 10, 12, 14, 2, 13, 1, 15, 0, 11, 8, 5),
    perm=(
        29, 27, 34, 9, 16, 62, 55, 2, 40, 49, 38, 25, 33, 61, 30, 23,
        1, 41, 21, 57, 42, 15, 5, 58, 19, 53, 22, 17, 48, 28, 24, 39,
        3, 60, 36, 14, 11, 52, 54, 12, 31, 51, 10, 26, 0, 45, 37, 43,
        44, 6, 59, 4, 7, 35, 56, 50, 13, 18, 32, 47, 46, 63, 20, 8,
    ),
)  # fmt: skip

TABLE_SETS = {REAL.name: REAL, SAMPLE.name: SAMPLE}


def table_set(name: str) -> TableSet:
    """Look up a table set by name ('real' or 'sample'); raises ValueError for anything else."""
    try:
        return TABLE_SETS[name]
    except KeyError:
        raise ValueError(f"EA07 table set must be one of {sorted(TABLE_SETS)}, got {name!r}") from None
