"""One event loop (a selector) that serves any number of meters, each on its own serial endpoint.

A meter costs one framer, one output buffer and its `Meter` object; there is no thread per meter.
Every `tick_ms` the loop advances all meters (load, credit, relay) and sends their events.

With `workers > 0` the requests of each meter are answered on a small thread pool, one job per meter at
a time, while the loop keeps serving the others: a token's reply still waits for its fsynced state
file, but the fsyncs of different meters overlap (the disk commits them together). The loop thread
alone reads and writes the links and never touches a meter while a job holds it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from meter_emulator import protocol
from meter_emulator.clock import Clock
from meter_emulator.framing import FramingError, LineFramer
from meter_emulator.links import Link
from meter_emulator.meter import Meter

MAX_PENDING = 8192  # bytes queued for a host that does not read; events beyond it are dropped


class Endpoint:
    """One meter on one link. `busy` while a worker answers its requests; `generation` counts host
    reconnections, so replies meant for a host that left are not sent to the next one."""

    __slots__ = ("backlog", "busy", "fd", "framer", "generation", "link", "meter", "out", "writing")

    def __init__(self, meter: Meter, link: Link) -> None:
        self.meter = meter
        self.link = link
        self.fd = link.fileno()
        self.framer = LineFramer()
        self.out = bytearray()
        self.writing = False
        self.busy = False
        self.backlog: list[str | FramingError] = []
        self.generation = 0


Done = tuple[Endpoint, int, list[str], BaseException | None]


class Hub:
    def __init__(self, clock: Clock, tick_ms: int = 250, workers: int = 0) -> None:
        self.clock = clock
        self.tick_ms = tick_ms
        self.endpoints: list[Endpoint] = []
        self._selector = selectors.DefaultSelector()
        self._next_tick = 0
        self.on_change: Callable[[], None] | None = None  # the terminal UI redraws on this
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="meter") if workers > 0 else None
        self._done: queue.SimpleQueue[Done] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._collect)

    def add(self, meter: Meter, link: Link) -> Endpoint:
        endpoint = Endpoint(meter, link)
        self.endpoints.append(endpoint)
        self._selector.register(endpoint.fd, selectors.EVENT_READ, endpoint)
        self._flush_events(endpoint)
        return endpoint

    def add_reader(self, fileno: int, callback: Callable[[], None]) -> None:
        """Watch another file descriptor (the terminal UI's keyboard)."""
        self._selector.register(fileno, selectors.EVENT_READ, callback)

    def run(self, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            self.step()

    def step(self, max_wait_ms: int | None = None) -> None:
        """Wait for input (at most until the next tick), serve it, and tick when due."""
        now = self.clock.now_ms()
        wait = min(max(0, self._next_tick - now), self.tick_ms)  # also when the clock was set back
        if max_wait_ms is not None:
            wait = min(wait, max_wait_ms)
        for key, mask in self._selector.select(wait / 1000):
            target = key.data
            if isinstance(target, Endpoint):
                if mask & selectors.EVENT_READ:
                    self._serve(target)
                if mask & selectors.EVENT_WRITE:
                    self._send(target)
            else:
                target()
        now = self.clock.now_ms()
        if now >= self._next_tick or self._next_tick - now > self.tick_ms:
            self._next_tick = now + self.tick_ms
            self.tick(now)

    def tick(self, now_ms: int) -> None:
        for endpoint in self.endpoints:
            if endpoint.busy:
                continue  # a worker holds this meter; it catches up at the next tick
            endpoint.meter.advance(now_ms)
            self._flush_events(endpoint)
        if self.on_change is not None:
            self.on_change()

    def _serve(self, endpoint: Endpoint) -> None:
        try:
            data = endpoint.link.read()
        except EOFError:
            self._reconnect(endpoint)
            return
        self._follow_fd(endpoint)
        if not data:
            return
        items = endpoint.framer.feed(data)
        if not items:
            return
        if self._pool is None:
            self._deliver(endpoint, self._answer(endpoint, items))
            return
        endpoint.backlog += items
        if not endpoint.busy:
            self._dispatch(endpoint)

    def _answer(self, endpoint: Endpoint, items: list[str | FramingError]) -> list[str]:
        return [protocol.handle(endpoint.meter, item, self.clock.now_ms()) for item in items]

    def _deliver(self, endpoint: Endpoint, replies: list[str]) -> None:
        self._flush_events(endpoint)
        if replies:
            self._queue(endpoint, "".join(line + "\n" for line in replies).encode("ascii"), force=True)
        if self.on_change is not None:
            self.on_change()

    def _dispatch(self, endpoint: Endpoint) -> None:
        assert self._pool is not None
        items, endpoint.backlog = endpoint.backlog, []
        endpoint.busy = True
        self._pool.submit(self._work, endpoint, endpoint.generation, items)

    def _work(self, endpoint: Endpoint, generation: int, items: list[str | FramingError]) -> None:
        """On a worker thread: answer, then hand the replies back to the loop thread."""
        try:
            self._done.put((endpoint, generation, self._answer(endpoint, items), None))
        except BaseException as exc:  # re-raised on the loop thread, as without workers
            self._done.put((endpoint, generation, [], exc))
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"!")

    def _collect(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while True:
            try:
                endpoint, generation, replies, error = self._done.get_nowait()
            except queue.Empty:
                return
            endpoint.busy = False
            if error is not None:
                raise error
            if generation == endpoint.generation:
                self._deliver(endpoint, replies)
            if endpoint.backlog:
                self._dispatch(endpoint)

    def _reconnect(self, endpoint: Endpoint) -> None:
        """The host went away: forget its partial line and reopen the endpoint (or drop it)."""
        endpoint.framer.reset()
        endpoint.out.clear()
        endpoint.backlog.clear()
        endpoint.generation += 1
        self._selector.unregister(endpoint.fd)
        if endpoint.link.reconnect():
            endpoint.writing = False
            endpoint.fd = endpoint.link.fileno()
            self._selector.register(endpoint.fd, selectors.EVENT_READ, endpoint)
            if not endpoint.busy:
                endpoint.meter.announce()
                self._flush_events(endpoint)
        else:
            self.endpoints.remove(endpoint)
            if not endpoint.busy:  # a busy meter is saved by its job
                endpoint.meter.save(self.clock.now_ms())

    def _follow_fd(self, endpoint: Endpoint) -> None:
        """A TCP endpoint moves from its listening socket to the accepted connection."""
        fd = endpoint.link.fileno()
        if fd != endpoint.fd:
            self._selector.unregister(endpoint.fd)
            endpoint.fd = fd
            endpoint.writing = False
            self._selector.register(fd, selectors.EVENT_READ, endpoint)

    def _flush_events(self, endpoint: Endpoint) -> None:
        events = endpoint.meter.drain_events()
        if events:
            self._queue(endpoint, "".join(line + "\n" for line in events).encode("ascii"), force=False)

    def _queue(self, endpoint: Endpoint, data: bytes, force: bool) -> None:
        if not force and len(endpoint.out) + len(data) > MAX_PENDING:
            return
        endpoint.out += data
        self._send(endpoint)

    def _send(self, endpoint: Endpoint) -> None:
        try:
            while endpoint.out:
                sent = endpoint.link.write(bytes(endpoint.out))
                if sent <= 0:
                    break
                del endpoint.out[:sent]
        except EOFError:
            endpoint.out.clear()
        want_write = bool(endpoint.out)
        if want_write != endpoint.writing:
            endpoint.writing = want_write
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
            self._selector.modify(endpoint.fd, events, endpoint)

    def close(self) -> None:
        """Finish the running jobs, save every meter and close every link (orderly shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        now = self.clock.now_ms()
        for endpoint in self.endpoints:
            with contextlib.suppress(Exception):
                endpoint.meter.save(now)
            with contextlib.suppress(Exception):
                self._selector.unregister(endpoint.fd)
            endpoint.link.close()
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
