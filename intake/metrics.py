"""What the intake counts, per source: requests by answer, events by verdict, refusals by
reason, and how long a request takes (Prometheus, on the intake's /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            "ioc_intake_requests", "Requests to POST /v1/events by source and HTTP status "
            "(source 'unknown': no key, or a key that is not live).",
            ["source", "code"], registry=registry)
        self.events = Counter(
            "ioc_intake_events", "Events by source and verdict (accepted, duplicate, refused).",
            ["source", "status"], registry=registry)
        self.refused = Counter(
            "ioc_intake_refused_events", "Refused events by source and reason (the "
            "dead-letter topic's labels, and out_of_scope).", ["source", "reason"],
            registry=registry)
        self.seconds = Histogram(
            "ioc_intake_request_seconds", "From a request's arrival to its answer.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry)
