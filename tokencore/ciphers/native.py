"""Which EA07 runs: the compiled one, or pure Python.

`tokencore.ciphers._ea07c` is a small C extension (`_ea07c.c`: the same table-driven EA07, a whole
credit token in one call, and many blocks at once). `pip install` builds it when a C compiler and the
Python headers are present (setup.py); it is optional, and without it everything runs in pure Python.
Both paths give bit-identical tokens: the tests run every vector and property test on each.

The compiled path is used when it was built, unless the environment sets NGUVU_PURE_PYTHON=1 (read once,
when this module is imported). It is the one environment variable tokencore reads, and it selects an
implementation, never a result. `use_path` switches at run time (tests and benchmarks run both paths in
one process); `active_path` tells which one runs (`nguvu --version` prints it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from tokencore.ciphers.tables import TableSet

__all__ = ["COMPILED", "PURE", "active_path", "compiled_available", "engine_path_text", "use_path"]

COMPILED = "compiled"
PURE = "pure"


class Cipher(Protocol):
    def encrypt_block(self, block: int) -> int: ...

    def decrypt_block(self, block: int) -> int: ...


def _load() -> ModuleType | None:
    try:
        from tokencore.ciphers import _ea07c  # type: ignore[attr-defined]
    except ImportError:  # not built: no compiler or headers at install time, or a source checkout
        return None
    return _ea07c  # type: ignore[no-any-return]


_compiled = _load()
_active = COMPILED if _compiled is not None and os.environ.get("NGUVU_PURE_PYTHON", "") in ("", "0") else PURE
_on_switch: list[Callable[[], None]] = []  # caches of ciphers built on the previous path


def compiled_available() -> bool:
    """True when the compiled EA07 was built at install time."""
    return _compiled is not None


def active_path() -> str:
    """`"compiled"` or `"pure"`: the EA07 that new ciphers use."""
    return _active


def engine_path_text() -> str:
    """One line for `nguvu --version`: which EA07 runs, and why when it is the pure one."""
    if _active == COMPILED:
        return "compiled EA07 (C)"
    if _compiled is None:
        return "pure Python (the compiled EA07 was not built at install time)"
    return "pure Python (selected: NGUVU_PURE_PYTHON=1 or use_path)"


def use_path(path: str) -> None:
    """Select the EA07 for ciphers built from now on (`"compiled"` or `"pure"`); clears the cipher cache.

    Raises ValueError for another name, or for `"compiled"` when the extension was not built.
    """
    global _active
    if path not in (COMPILED, PURE):
        raise ValueError(f"path must be {COMPILED!r} or {PURE!r}, got {path!r}")
    if path == COMPILED and _compiled is None:
        raise ValueError("the compiled EA07 was not built (no C compiler or Python headers at install time)")
    _active = path
    for clear in _on_switch:
        clear()


def on_switch(clear: Callable[[], None]) -> None:
    """Register a cache to clear when the path changes (tokencore.ciphers does, for its ciphers)."""
    _on_switch.append(clear)


_tables: dict[TableSet, object] = {}  # table set (hashed by identity) -> its compiled round tables, 208 KB


def compiled_tables(tables: TableSet) -> object:
    """The compiled round tables of a table set, built on first use."""
    assert _compiled is not None
    built = _tables.get(tables)
    if built is None:
        built = _tables[tables] = _compiled.Tables(bytes(tables.s1), bytes(tables.s2), bytes(tables.perm))
    return built


def compiled_ea07(key: int, tables: TableSet) -> Cipher | None:
    """A compiled EA07 cipher for the key when the compiled path is active, else None."""
    if _active != COMPILED or _compiled is None:
        return None
    return _compiled.Ea07(compiled_tables(tables), key)  # type: ignore[no-any-return]


# credit_token(cipher, subclass, rnd, tid, amount field) -> (20 digits, plaintext block)
CompiledCredit = Callable[[Cipher, int, int, int, int], tuple[str, int]]


def compiled_credit(cipher: Any) -> CompiledCredit | None:
    """The compiled whole-credit-token function when `cipher` is a compiled EA07, else None."""
    if _compiled is not None and type(cipher) is _compiled.Ea07:
        return _compiled.credit_token  # type: ignore[no-any-return]
    return None


def compiled_encrypt_many(keys: list[int], blocks: list[int], tables: TableSet) -> list[int] | None:
    """Block i encrypted under key i by the compiled EA07 when that path is active, else None (the
    caller then uses the bit-sliced pure-Python batch, `ea07_batch.encrypt_many`)."""
    if _active != COMPILED or _compiled is None:
        return None
    return _compiled.encrypt_many(compiled_tables(tables), keys, blocks)  # type: ignore[no-any-return]
