"""Where a meter keeps its state between power cuts.

The state is one JSON document holding the decoder state (credit registers, TID memory, keys, pending
key-change sections, lockout) and the emulator's own registers. It is written as a whole, atomically:
a temporary file beside the target is written and fsynced, renamed over the target, then the directory is
fsynced. A kill at any instant leaves either the old or the new document, never a mix, which is what
makes "credit and TID memory are one atomic write" true.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol


class StateStore(Protocol):
    """Persistent storage of one meter's state document (the meter's EEPROM)."""

    def load(self) -> bytes | None:
        """The last saved document, or None when nothing was ever saved."""
        ...

    def save(self, data: bytes) -> None:
        """Replace the document; when this returns, the new document survives a crash."""
        ...


class StorageError(Exception):
    """The state could not be written; the meter refuses the change that needed it."""


class FileStore:
    """An atomic-replace JSON file. `durable=False` skips the fsyncs (only for throw-away load tests)."""

    __slots__ = ("durable", "path")

    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = path
        self.durable = durable

    def load(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def save(self, data: bytes) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            if self.durable:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(f"cannot write the meter state to {self.path}: {exc.strerror}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MemoryStore:
    """State kept in memory only: fleet meters for load tests that need no persistence."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | None = None) -> None:
        self.data = data

    def load(self) -> bytes | None:
        return self.data

    def save(self, data: bytes) -> None:
        self.data = data
