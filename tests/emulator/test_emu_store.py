"""Atomic state files."""

import os
from pathlib import Path

import pytest

from meter_emulator.store import FileStore, StorageError


def test_save_then_load(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "m.json")
    assert store.load() is None
    store.save(b'{"a": 1}')
    store.save(b'{"a": 2}')
    assert store.load() == b'{"a": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temp file left behind
    assert (tmp_path / "m.json").stat().st_mode & 0o077 == 0  # it holds a key: owner only


def test_failed_write_keeps_the_old_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "m.json")
    store.save(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match="No space left"):
        store.save(b"new")
    monkeypatch.undo()
    assert store.load() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_unwritable_location_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    with pytest.raises(StorageError):
        FileStore(tmp_path / "plain" / "m.json").save(b"x")
