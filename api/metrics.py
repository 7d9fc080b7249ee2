"""Prometheus metrics of the service: one registry per app in one process, or the sum over worker processes.

prometheus_client decides once, when it is first imported, where metric values live: in memory, or in
per-process files under $PROMETHEUS_MULTIPROC_DIR. `nguvu serve --workers N` (N > 1) points that variable
at a fresh directory before uvicorn spawns its workers, so each worker writes its counts there and a
scrape, whichever worker answers it, reads and sums the files of all of them (docs/service.md). Without
the variable (one worker, tests, `nguvu demo`) every `Metrics` keeps its own registry, so several apps in
one process never share counters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The queue depths are counted in the database by the scrape handler, which sets them right before it
# reads the files: the most recent sample is that fresh count. ("max" would keep a stale, higher count of
# a worker that answered a scrape an hour ago; "all"/"liveall" give one series per process id.) "live"
# lets a worker that exits remove its samples (`mark_process_dead`); one that crashed leaves older
# samples, which never win.
GAUGE_MODE: Final = "livemostrecent"


def multiprocess_dir() -> Path | None:
    """The directory this process writes its metric values to, or None when they stay in memory."""
    if values.ValueClass is values.MutexValue:
        # In memory, even if the variable was set after prometheus_client was imported: then this
        # process's own registry is the truth, and reading the directory would miss its counts.
        return None
    raw = os.environ.get(MULTIPROC_ENV)
    if not raw:
        raise RuntimeError(f"{MULTIPROC_ENV} was unset after prometheus_client started writing there")
    return Path(raw)


class Metrics:
    """The service's metrics. In multiprocess mode, build one per process (the worker's app): two
    instances in one process would write the same entries of the same file and lose counts."""

    def __init__(self) -> None:
        self.multiprocess_dir = multiprocess_dir()
        # This process's own metrics; in multiprocess mode `render` reads the directory instead.
        self.registry = CollectorRegistry()
        r = self.registry
        self.vend_outcomes = Counter(
            "nguvu_vend_outcomes",
            "Payment events applied, by outcome and reason",
            ["outcome", "reason"],
            registry=r,
        )
        self.vend_latency = Histogram(
            "nguvu_vend_seconds",
            "Time from a verified payment event entering the vend queue to its committed result (token "
            "+ SMS queued), the wait for the running vend transaction included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ussd_latency = Histogram(
            "nguvu_ussd_step_seconds", "Time to answer one USSD step", buckets=LATENCY_BUCKETS, registry=r
        )
        self.http_errors = Counter(
            "nguvu_http_errors", "Refused HTTP requests by stable error code", ["code"], registry=r
        )
        self.sms_sent = Counter("nguvu_sms", "SMS send attempts by result", ["result"], registry=r)
        self.pushes = Counter("nguvu_meter_pushes", "Serial pushes by meter outcome", ["result"], registry=r)
        self.collections = Counter(
            "nguvu_collections", "Collections started by result", ["result"], registry=r
        )
        self.outbox_depth = Gauge(
            "nguvu_sms_outbox_depth", "SMS waiting to be sent", registry=r, multiprocess_mode=GAUGE_MODE
        )
        self.push_depth = Gauge(
            "nguvu_meter_push_depth", "Serial pushes waiting", registry=r, multiprocess_mode=GAUGE_MODE
        )

    def render(self) -> bytes:
        """The Prometheus text exposition: this registry, or the sum over all workers' files."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        # A fresh registry per scrape, as prometheus_client documents: the collector re-reads every file.
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def mark_process_dead(self) -> None:
        """On a worker's exit: drop its gauge samples (its counts stay in the sums, which never go down)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
