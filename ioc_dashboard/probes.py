"""What watches the wall from outside: `/healthz` (200 while the database answers) and the
token-protected `/metrics`, the wall's own figures exposed through prometheus_client, as
the worker's are."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

from ioc_dashboard.context import WallContext
from ioc_dashboard.i18n import t


class WallCollector(Collector):
    """Reads the figures off the wall's shared reader (`WallData`) at each scrape: how often
    and how long it reads the database, and whether the newest read succeeded."""

    def __init__(self, live: Any):
        self.live = live

    def collect(self) -> Iterator[Metric]:
        snap = self.live.snapshot()
        yield CounterMetricFamily("ioc_wall_reads", "Snapshot reads of the database (shared by "
                                  "all walls).", value=self.live.reads)
        yield CounterMetricFamily("ioc_wall_statements", "Statements the wall ran on the "
                                  "database.", value=self.live.statements)
        # base units, as Prometheus names them (promtool refuses _ms)
        yield GaugeMetricFamily("ioc_wall_read_seconds", "Duration of the newest snapshot "
                                "read.", value=(snap.read_ms or 0) / 1000)
        yield GaugeMetricFamily("ioc_wall_database_up", "1 when the newest read succeeded.",
                                value=0 if snap.lost_since else 1)


def wall_registry(live: Any) -> CollectorRegistry:
    """A registry of the wall's own (not the process-wide default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WallCollector(live))
    return registry


def register(server: Flask, ctx: WallContext) -> None:
    """`/healthz` and `/metrics` on the wall's server."""
    settings = ctx.settings
    registry = wall_registry(ctx.live)

    @server.get("/healthz")
    def healthz() -> Any:
        ok = ctx.live.ping()
        return jsonify(ok=ok, database="reachable" if ok else "unreachable"), 200 if ok else 503

    @server.get("/metrics")
    def metrics() -> Any:
        token = settings.wall_metrics_token
        if not token:
            return Response(t("http.not_found", settings.wall_language), status=404)
        if not secrets.compare_digest(request.headers.get("Authorization", ""),
                                      f"Bearer {token}"):
            return Response(t("http.unauthorized", settings.wall_language), status=401)
        # the text format every Prometheus reads (the worker's too)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
