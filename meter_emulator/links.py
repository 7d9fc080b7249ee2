"""Serial endpoints a meter can be reached through: a pseudo-terminal it creates, or a pyserial URL
(`socket://host:port`, `/dev/ttyUSB0`, `loop://`...). Both are non-blocking and selectable, so one
event loop serves any number of them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import tty
from typing import Protocol

import serial


class Link(Protocol):
    """A byte stream to one host. `read` returns b"" when nothing is waiting; EOFError when closed."""

    @property
    def name(self) -> str: ...

    def fileno(self) -> int: ...

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> int: ...

    def reconnect(self) -> bool:
        """After EOFError: reopen the endpoint; False when it cannot be reopened."""
        ...

    def close(self) -> None: ...


class PtyLink:
    """A pseudo-terminal in raw mode. Hosts open `name` (e.g. /dev/pts/7) as they would /dev/ttyUSB0.

    The emulator keeps the slave side open too, so the master never reports a hang-up between two
    host sessions (which would otherwise spin the event loop).
    """

    __slots__ = ("_master", "_name", "_slave")

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._name = os.ttyname(self._slave)

    @property
    def name(self) -> str:
        return self._name

    def fileno(self) -> int:
        return self._master

    def read(self) -> bytes:
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise EOFError(str(exc)) from None

    def write(self, data: bytes) -> int:
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0

    def reconnect(self) -> bool:
        return True

    def close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class UrlLink:
    """An endpoint opened with pyserial's `serial_for_url` at 115200 8N1."""

    __slots__ = ("_port", "_url")

    def __init__(self, url: str, connect_timeout_s: float = 10.0) -> None:
        self._url = url
        self._open(connect_timeout_s)

    def _open(self, connect_timeout_s: float) -> None:
        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                self._port = serial.serial_for_url(self._url, baudrate=115200, timeout=0, write_timeout=2)
                break
            except serial.SerialException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    @property
    def name(self) -> str:
        return self._url

    def fileno(self) -> int:
        return int(self._port.fileno())

    def read(self) -> bytes:
        try:
            data = self._port.read(4096)
        except (serial.SerialException, OSError) as exc:
            raise EOFError(str(exc)) from None
        return bytes(data)

    def write(self, data: bytes) -> int:
        try:
            return int(self._port.write(data) or 0)
        except (serial.SerialException, OSError) as exc:
            raise EOFError(str(exc)) from None

    def reconnect(self) -> bool:
        self.close()
        try:
            self._open(10.0)
        except serial.SerialException:
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()


class TcpLink:
    """A loopback TCP port that hosts reach with pyserial's `socket://127.0.0.1:PORT`.

    It listens until a host connects, serves that connection, and listens again when it closes (one host
    at a time, like a serial cable; a second one waits in the backlog). `fileno` changes between the two
    states (the hub follows it). A partial line is forgotten when its host disconnects.
    """

    __slots__ = ("_conn", "_listener", "_name")

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._listener = socket.create_server((host, port), backlog=4)
        self._listener.setblocking(False)
        self._conn: socket.socket | None = None
        bound = self._listener.getsockname()
        self._name = f"socket://{bound[0]}:{bound[1]}"

    @property
    def name(self) -> str:
        return self._name

    def fileno(self) -> int:
        return (self._conn or self._listener).fileno()

    def read(self) -> bytes:
        if self._conn is None:
            with contextlib.suppress(BlockingIOError):
                conn, _ = self._listener.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn = conn
            return b""
        try:
            data = self._conn.recv(4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise EOFError(str(exc)) from None
        if not data:
            raise EOFError("host closed the connection")
        return data

    def write(self, data: bytes) -> int:
        if self._conn is None:
            return len(data)  # nobody listening: the bytes are lost, as on an unplugged cable
        try:
            return self._conn.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise EOFError(str(exc)) from None

    def reconnect(self) -> bool:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        return True

    def close(self) -> None:
        self.reconnect()
        with contextlib.suppress(OSError):
            self._listener.close()
