"""The database engine: SQLite (WAL, one file under the data directory) or PostgreSQL (DATABASE_URL).

Writers are serialised the way each backend does best:
- SQLite: every transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front, so two
  processes never both read-then-write and deadlock on upgrade; `busy_timeout` makes others wait.
- PostgreSQL: rows that decide a vend (the payment, then the meter) are locked with SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
READONLY = "nguvu_readonly"
# SQLite has one writer at a time. Threads of one process queue on this lock instead of on SQLite's
# busy handler, which sleeps in growing steps (up to 100 ms) and turns contention into long tails; the
# busy timeout still arbitrates between processes.
_write_locks: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the engine for `url`; for SQLite, create the directory and set WAL and the pragmas.

    `hide_parameters`: a database error (its message, its log line, a traceback reaching uvicorn) shows
    the SQL without the values bound to it, which can be phone numbers, amounts or a token's digits."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=20,
            hide_parameters=True,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit our BEGIN instead of pysqlite's implicit deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns (a vend is durable), at the price of an fsync.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Reads take no write lock (WAL readers never block); writers take it at BEGIN.
        readonly = conn.get_execution_options().get(READONLY)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _write_lock(engine: Engine) -> threading.RLock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _guard:
        lock = _write_locks.get(engine)
        if lock is None:
            lock = _write_locks[engine] = threading.RLock()
        return lock


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    lock = _write_lock(engine)
    with (
        lock if lock is not None else nullcontext(),
        Session(engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only session (still a transaction; on SQLite it takes the write lock briefly)."""
    # Closing (not rolling back) ends the transaction and keeps loaded objects readable.
    with Session(engine, expire_on_commit=False) as session:
        # The option reaches the "begin" listener: on SQLite this transaction takes no write lock.
        session.connection(execution_options={READONLY: True})
        yield session


def affected(result: object) -> int:
    """Rows matched by an UPDATE/DELETE (the compare-and-set claims of the workers)."""
    return int(getattr(result, "rowcount", 0))
