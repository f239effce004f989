"""Prometheus metrics of one process (``GET /metrics``), on a registry of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop
        return 0.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        commands = Counter("atoms_commands_total", "Commands by outcome", ["outcome"], registry=self.registry)
        self.commands_accepted = commands.labels("accepted")
        self.commands_refused = commands.labels("refused")
        self.commands_failed = commands.labels("failed")  # a bug answered 500
        self.sse_open = Gauge("atoms_sse_connections", "Open SSE connections", registry=self.registry)
        self.sse_overflow = Counter("atoms_sse_overflow_total", "SSE subscribers cut off at their buffer bound",
                                    registry=self.registry)
        self.ws_open = Gauge("atoms_ws_connections", "Open WebSocket connections", registry=self.registry)
        self.ws_violations = Counter("atoms_ws_violations_total", "Refused WebSocket frames",
                                     registry=self.registry)
        self.connections_refused = Counter(
            "atoms_connections_refused_total", "SSE and WebSocket connections refused at a connection cap",
            ["kind", "scope"], registry=self.registry)  # kind sse|ws, scope principal|tenant
        for kind in ("sse", "ws"):
            for scope in ("principal", "tenant"):
                self.connections_refused.labels(kind, scope)  # exported as 0 before the first refusal
        self.sse_openings_refused = Counter(
            "atoms_sse_openings_refused_total", "SSE connections refused at the budget for opening frames not "
            "yet written", ["scope"], registry=self.registry)  # scope principal|tenant|process
        for scope in ("principal", "tenant", "process"):
            self.sse_openings_refused.labels(scope)
        self.tickets = Counter("atoms_tickets_issued_total", "Tickets issued", registry=self.registry)
        self.tasks = Gauge("atoms_asyncio_tasks", "Live asyncio tasks in this process", registry=self.registry)
        self.tasks.set_function(_task_count)

    def count_sse_frames(self, inline: Callable[[], int], queued: Callable[[], int]) -> None:
        """Expose the hub's plain counters (an int increment per delivery, no lock on the hot path)."""
        self.registry.register(_SseFrames(inline, queued))

    def count_audit(self, write_errors: Callable[[], int], dropped: Callable[[], int]) -> None:
        """Expose the audit log's plain counters."""
        self.registry.register(_AuditCounters(write_errors, dropped))

    def count_state_cache(self, cached_bytes: Callable[[], int]) -> None:
        Gauge("atoms_state_cache_bytes", "Encoded bytes of the stream states cached by this process "
              "(bounded by state_cache_bytes)", registry=self.registry).set_function(lambda: float(cached_bytes()))

    def count_sse_openings(self, held_bytes: Callable[[], int]) -> None:
        Gauge("atoms_sse_opening_bytes", "Bytes of state_snapshot frames some SSE stream is still writing "
              "(bounded by sse_opening_bytes)", registry=self.registry).set_function(lambda: float(held_bytes()))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SseFrames(Collector):
    def __init__(self, inline: Callable[[], int], queued: Callable[[], int]) -> None:
        self.inline = inline
        self.queued = queued

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("atoms_sse_frames", "SSE deliveries: written in place by the publisher "
                                     "or queued for the subscriber's writer task", labels=["path"])
        family.add_metric(["inline"], self.inline())
        family.add_metric(["queued"], self.queued())
        yield family


class _AuditCounters(Collector):
    def __init__(self, write_errors: Callable[[], int], dropped: Callable[[], int]) -> None:
        self.write_errors = write_errors
        self.dropped = dropped

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("atoms_audit_write_errors", "Failed writes of the audit log (each is retried)",
                                  value=self.write_errors())
        yield CounterMetricFamily("atoms_audit_dropped", "Audit records never written: the buffer was full, "
                                  "or shutdown came while the log could not be written", value=self.dropped())
