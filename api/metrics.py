"""Prometheus metrics of one service instance (a registry per app, so tests can build many apps).

With several uvicorn worker processes each process exposes its own counters; point Prometheus at each,
or run one worker per port (docs/service.md).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
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
            "Time to apply one payment event (token + SMS queued, committed)",
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
        self.outbox_depth = Gauge("nguvu_sms_outbox_depth", "SMS waiting to be sent", registry=r)
        self.push_depth = Gauge("nguvu_meter_push_depth", "Serial pushes waiting", registry=r)
