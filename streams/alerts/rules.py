"""Alert rules as data: the YAML rules file, validated into typed rules.

A rules file holds the evaluation step, flap detection, notification grouping, inhibition
and the rules themselves, keyed by name so every error names the rule and the field
(`rules.link_heartbeat_missing.silent_seconds: ...`).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.datafile import load_yaml

Seconds = Annotated[float, Field(ge=0, le=90 * 86400)]
PositiveSeconds = Annotated[float, Field(gt=0, le=90 * 86400)]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Severity = Literal["critical", "warning", "info"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Model):
    severity: Severity
    for_seconds: Seconds = 0
    # evaluate only at steps that are multiples of this (heavy queries over long windows);
    # unset: every step. Must be a multiple of evaluation.step_seconds.
    every_seconds: PositiveSeconds | None = None
    summary_vi: Annotated[str, Field(min_length=1)]
    summary_en: Annotated[str, Field(min_length=1)]
    # labels every alert of the rule carries (on top of the per-entity ones)
    labels: dict[LabelName, str] = {}

    # the per-alert labels a summary may name besides {value} and {threshold}
    def entity_labels(self) -> set[str]:
        return set()

    @model_validator(mode="after")
    def _placeholders(self) -> _Rule:
        known = self.entity_labels() | set(self.labels) | {"value", "threshold", "unit_name",
                                                             "province_name", "category_name"}
        for field in ("summary_vi", "summary_en"):
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(getattr(self, field))
                         if name is not None}
            except ValueError as exc:
                raise ValueError(f"{field}: not a valid template: {exc}") from None
            unknown = sorted(n for n in names if n.split(".")[0] not in known)
            if unknown:
                raise ValueError(f"{field}: unknown placeholder {{{unknown[0]}}}; "
                                 f"known: {', '.join(sorted(known))}")
        return self


Op = Literal["<", ">"]


class _Compared(_Rule):
    """A value compared with a threshold; `clear` is the hysteresis bound to resolve."""

    op: Op
    threshold: float | None = None
    # 'target:NAME' takes the threshold from the province file's targets
    threshold_from: Literal["target:dossier_on_time_ratio", "target:online_receipt_ratio",
                            "target:payment_success_ratio",
                            "target:telemedicine_links_up_ratio"] | None = None
    clear: float | None = None
    # when the threshold comes from a target: clear at threshold + clear_margin (op '<')
    clear_margin: float = 0.0

    @model_validator(mode="after")
    def _bounds(self) -> _Compared:
        if (self.threshold is None) == (self.threshold_from is None):
            raise ValueError("give exactly one of threshold or threshold_from")
        wrong_side = self.threshold is not None and self.clear is not None and (
            (self.op == "<" and self.clear < self.threshold)
            or (self.op == ">" and self.clear > self.threshold))
        if wrong_side:
            raise ValueError(
                f"clear: {self.clear} must be on the healthy side of the threshold "
                f"{self.threshold} ({'>=' if self.op == '<' else '<='} it)")
        if self.clear_margin < 0:
            raise ValueError("clear_margin: must be >= 0")
        return self


class ThresholdRule(_Compared):
    """A windowed aggregate per entity against a threshold (e.g. on-time ratio per agency)."""

    kind: Literal["threshold"]
    measure: Literal["dossier_on_time_ratio", "dossier_overdue_open", "portal_error_ratio",
                     "portal_latency_p95_ms", "payment_success_ratio"]
    window_seconds: PositiveSeconds
    min_count: Annotated[int, Field(ge=0)] = 1

    def entity_labels(self) -> set[str]:
        return {"dossier_on_time_ratio": {"agency", "agency_name"},
                "dossier_overdue_open": {"agency", "agency_name"},
                "portal_error_ratio": {"portal", "portal_name"},
                "portal_latency_p95_ms": {"portal", "portal_name"},
                "payment_success_ratio": {"category"}}[self.measure]


class BaselineRule(_Rule):
    """A count against the same window of previous weeks (e.g. payments halved)."""

    kind: Literal["baseline"]
    measure: Literal["payments_count", "dossiers_received_count"]
    window_seconds: PositiveSeconds
    weeks: Annotated[int, Field(ge=1, le=12)] = 4
    # fires when current / baseline < ratio_below; resolves at >= clear_ratio
    ratio_below: Annotated[float, Field(gt=0, lt=1)]
    clear_ratio: Annotated[float, Field(gt=0, le=1)] | None = None
    min_baseline: Annotated[float, Field(ge=0)] = 10

    @model_validator(mode="after")
    def _clear(self) -> BaselineRule:
        if self.clear_ratio is not None and self.clear_ratio < self.ratio_below:
            raise ValueError("clear_ratio: must be >= ratio_below")
        return self


class AbsenceRule(_Rule):
    """One alert per expected entity (from the province file) that sends nothing for N s."""

    kind: Literal["absence"]
    entities: Literal["telemedicine_links"]
    silent_seconds: PositiveSeconds
    clear_seconds: PositiveSeconds | None = None
    lookback_seconds: PositiveSeconds = 86400

    def entity_labels(self) -> set[str]:
        return {"link_id", "hospital", "hospital_name", "unit", "unit_name"}


class LinkQualityRule(_Compared):
    """Latency, loss or down-reports of each telemedicine link over a window."""

    kind: Literal["link_quality"]
    measure: Literal["latency_ms", "loss_pct", "down_ratio"]
    window_seconds: PositiveSeconds
    min_count: Annotated[int, Field(ge=1)] = 1

    def entity_labels(self) -> set[str]:
        return {"link_id", "hospital", "hospital_name", "unit", "unit_name"}


class StalenessRule(_Rule):
    """No events on a feed for N seconds; optionally only during working hours."""

    kind: Literal["staleness"]
    source: Literal["dossiers", "portal_health", "heartbeats", "consultations", "payments"]
    feed: Literal["portal", "telemedicine", "payments"]
    silent_seconds: PositiveSeconds
    working_hours_only: bool = False

    def entity_labels(self) -> set[str]:
        return {"feed", "source"}


class PipelineRule(_Compared):
    """Health of the pipeline itself, on wall time (not replayed): dead letters in a window,
    seconds since anything was stored, the workers' consumer lag (messages not yet stored),
    per feed the seconds its backlog has waited with nothing committed (a stalled agent or
    worker), per kiosk wall seen in the last `window_seconds` the seconds since its last
    heartbeat (a frozen wall), per alert rule the evaluations in a row that failed on the
    stored data (the rule is set aside, the others go on), per part of `ioc up` the times it
    was restarted within `window_seconds`, per Kafka broker its copies of the feeds'
    partitions out of sync (a broker down, stopped or catching up). Evaluated every
    `every_seconds` of wall time (default 5)."""

    kind: Literal["pipeline"]
    measure: Literal["dead_letters", "ingest_stalled_seconds", "consumer_lag",
                     "backlog_stalled_seconds", "wall_silent_seconds", "rule_errors",
                     "part_restarts", "replicas_out_of_sync"]
    window_seconds: PositiveSeconds = 300

    def entity_labels(self) -> set[str]:
        return {"backlog_stalled_seconds": {"feed"},
                "wall_silent_seconds": {"wall", "page"},
                "rule_errors": {"rule"},
                "part_restarts": {"part"},
                "replicas_out_of_sync": {"broker"}}.get(self.measure, set())


class WatchdogRule(_Rule):
    """Always firing: proves the notification path end to end."""

    kind: Literal["watchdog"]


Rule = Annotated[ThresholdRule | BaselineRule | AbsenceRule | LinkQualityRule | StalenessRule
                 | PipelineRule | WatchdogRule, Field(discriminator="kind")]


class Evaluation(_Model):
    step_seconds: Annotated[float, Field(ge=1, le=3600)] = 10
    # event time the watermark stays behind the slowest live feed (out-of-order allowance)
    lateness_seconds: Seconds = 30
    # wall seconds without new rows after which a feed no longer holds the watermark back
    idle_feed_seconds: PositiveSeconds = 20
    # wall seconds with no new rows at all after which everything stored is complete
    settle_seconds: PositiveSeconds = 3
    # steps evaluated per transaction while catching up
    batch_steps: Annotated[int, Field(ge=1, le=100_000)] = 360
    # a live engine starting on old data begins at most this far behind the watermark
    # (a replay engine always starts at the first event)
    max_catchup_seconds: PositiveSeconds = 3600


class Flapping(_Model):
    window_seconds: PositiveSeconds = 900
    # firing<->resolved changes within the window to call it flapping ...
    min_changes: Annotated[int, Field(ge=2)] = 4
    # ... and at most this many (in the window) to leave flapping
    clear_changes: Annotated[int, Field(ge=0)] = 1

    @model_validator(mode="after")
    def _order(self) -> Flapping:
        if self.clear_changes >= self.min_changes:
            raise ValueError("clear_changes: must be below min_changes")
        return self


class Notifications(_Model):
    group_by: list[LabelName] = ["alertname"]
    group_wait_seconds: Seconds = 10
    group_interval_seconds: Seconds = 60
    repeat_interval_seconds: PositiveSeconds = 4 * 3600
    # Alertmanager push: re-sent while firing this often
    alertmanager_resend_seconds: PositiveSeconds = 60
    # delivery retries: backoff doubles from min to max
    retry_min_seconds: PositiveSeconds = 1
    retry_max_seconds: PositiveSeconds = 30
    timeout_seconds: PositiveSeconds = 5


class Inhibit(_Model):
    """While a source alert fires, matching target alerts are inhibited (not notified)."""

    source: dict[LabelName, str]
    target: dict[LabelName, str]
    equal: list[LabelName] = []


class RulesFile(_Model):
    schema_version: Literal[1]
    evaluation: Evaluation = Evaluation()
    flapping: Flapping = Flapping()
    notifications: Notifications = Notifications()
    inhibit: list[Inhibit] = []
    rules: Annotated[dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], Rule],
                     Field(min_length=1)]


    @model_validator(mode="after")
    def _every(self) -> RulesFile:
        step = self.evaluation.step_seconds
        for name, rule in self.rules.items():
            if rule.every_seconds is not None and (rule.every_seconds % step
                                                   or rule.every_seconds < step):
                raise ValueError(f"rules.{name}.every_seconds: must be a multiple of "
                                 f"evaluation.step_seconds ({step:g})")
        return self


def load_rules(path: Path) -> RulesFile:
    """Read and validate a rules file; `SettingsError` names the file, rule and field."""
    return load_yaml(path, RulesFile, "alert rules file")
