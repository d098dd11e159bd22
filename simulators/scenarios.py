"""Incident scenarios: timed incidents layered on a normal simulated day (YAML, validated).

A scenario file names its incidents, each with a kind, when it starts (an offset from the
simulation start), how long it lasts and what it hits. `resolve()` checks the targets
against a province and turns offsets into absolute times for the generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ioc.contract import FEEDS, Code, PaymentData
from ioc.datafile import load_yaml
from ioc.errors import SettingsError
from ioc.province import Province
from ioc.resources import shipped_path

SCENARIOS_DIR = shipped_path("simulators", "scenarios")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
Feed = Literal["portal", "telemedicine", "payments"]
PaymentChannel = PaymentData.model_fields["channel"].annotation
Ratio = Annotated[float, Field(ge=0, le=1)]
BAD_KINDS = ("not_json", "wrong_type", "missing_field", "unknown_version", "future_time",
             "oversize", "wrong_feed", "unknown_type", "control_chars")
BadKind = Literal["not_json", "wrong_type", "missing_field", "unknown_version", "future_time",
                  "oversize", "wrong_feed", "unknown_type", "control_chars"]


def seconds(raw: str | int | float) -> float:
    """'90s', '15m', '2h', '1d' or a number of seconds."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if raw < 0:
            raise ValueError("must not be negative")
        return float(raw)
    match = _DURATION.match(str(raw).strip())
    if not match:
        raise ValueError(f"{raw!r} is not a duration such as 90s, 15m, 2h or 1d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class _Incident(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: float = Field(description="Start, as an offset from the simulation start (e.g. 10m).")
    duration: float = Field(description="How long it lasts (e.g. 20m).")

    @field_validator("at", "duration", mode="before")
    @classmethod
    def _seconds(cls, raw: object) -> float:
        return seconds(raw)  # type: ignore[arg-type]


class LinkDown(_Incident):
    """A hospital's telemedicine link fails: its heartbeats and consultations stop."""

    kind: Literal["link_down"]
    hospital: Code | None = None  # default: the province's first hospital
    report: Literal["silent", "down"] = "silent"  # silent: no heartbeats; down: status=down


class LinkDegraded(_Incident):
    """A link stays up but with high latency, jitter and loss."""

    kind: Literal["link_degraded"]
    hospital: Code | None = None
    latency_ms: Annotated[float, Field(gt=0)] = 450.0
    jitter_ms: Annotated[float, Field(ge=0)] = 90.0
    loss_pct: Annotated[float, Field(ge=0, le=100)] = 8.0


class PortalOutage(_Incident):
    """A portal fails: errors and latency rise and online dossiers stop arriving."""

    kind: Literal["portal_outage"]
    portal: Code | None = None  # default: the province's first portal
    error_ratio: Ratio = 0.7
    p95_latency_ms: Annotated[float, Field(gt=0)] = 9000.0
    stops_online_dossiers: bool = True


class AgencyBacklog(_Incident):
    """An agency stops resolving dossiers; its queue clears late after the incident."""

    kind: Literal["agency_backlog"]
    agency: Code | None = None  # default: the agency of the province's first procedure
    recovery: float = Field(default=4 * 3600, description="Time to clear the queue after.")

    @field_validator("recovery", mode="before")
    @classmethod
    def _recovery(cls, raw: object) -> float:
        return seconds(raw)  # type: ignore[arg-type]


class PaymentGatewayFailure(_Incident):
    """A payment gateway fails: the success rate of payments (of one channel) falls."""

    kind: Literal["payment_gateway_failure"]
    channel: PaymentChannel | None = None  # type: ignore[valid-type]  # None: every channel
    success_ratio: Ratio = 0.35


class FeedSilence(_Incident):
    """A producer stops sending one feed; with `then: resend` it catches up afterwards."""

    kind: Literal["feed_silence"]
    feed: Feed
    then: Literal["drop", "resend"] = "drop"


class BadDataBurst(_Incident):
    """Malformed events on a feed's topic (each must be dead-lettered with its reason)."""

    kind: Literal["bad_data_burst"]
    feed: Feed
    per_second: Annotated[float, Field(gt=0, le=10_000)] = 5.0
    kinds: Annotated[list[BadKind], Field(min_length=1)] = list(BAD_KINDS)  # type: ignore[valid-type]


Incident = Annotated[LinkDown | LinkDegraded | PortalOutage | AgencyBacklog
                     | PaymentGatewayFailure | FeedSilence | BadDataBurst,
                     Field(discriminator="kind")]


class Scenario(BaseModel):
    """A named set of timed incidents."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1]
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title_vi: str
    title_en: str
    description: str = ""
    suggested_duration: float | None = Field(
        default=None, description="A run length that shows the whole scenario.")
    incidents: Annotated[list[Incident], Field(min_length=1)]

    @field_validator("suggested_duration", mode="before")
    @classmethod
    def _duration(cls, raw: object) -> float | None:
        return None if raw is None else seconds(raw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Active:
    """One incident with absolute start/end (Unix seconds) and its resolved target."""

    incident: _Incident
    start: float
    end: float
    target: str | None

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


def known_scenarios(folder: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def scenario_path(name_or_path: str, folder: Path = SCENARIOS_DIR) -> Path:
    """A shipped scenario's file by name, or the given path; `SettingsError` if neither."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    shipped = folder / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise SettingsError(f"--scenario {name_or_path!r}: no such scenario file; shipped scenarios "
                        f"are {', '.join(known_scenarios(folder))}")


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; `SettingsError` names file, path and problem."""
    scenario = load_yaml(path, Scenario, "scenario file")
    for i, inc in enumerate(scenario.incidents):
        if isinstance(inc, FeedSilence | BadDataBurst) and inc.feed not in FEEDS:
            raise SettingsError(f"{path}: incidents.{i}.feed: unknown feed {inc.feed!r}")
    return scenario


def resolve(scenario: Scenario, province: Province, start: float,
            source: Path | str = "scenario") -> list[Active]:
    """Absolute incidents for a run starting at `start`; targets checked against `province`."""
    choices = {
        "hospital": ([h.code for h in province.hospitals], "hospitals"),
        "portal": ([p.code for p in province.portals], "portals"),
        "agency": ([p.agency for p in province.procedures], "agencies with procedures"),
    }
    out = []
    for i, inc in enumerate(scenario.incidents):
        target = None
        for field, (codes, what) in choices.items():
            if field in type(inc).model_fields:
                wanted = getattr(inc, field)
                if wanted is None:
                    if not codes:
                        raise SettingsError(f"{source}: incidents.{i}: province "
                                            f"{province.province.code} has no {what}")
                    wanted = codes[0]
                elif wanted not in codes:
                    raise SettingsError(
                        f"{source}: incidents.{i}.{field}: {wanted!r} is not one of the "
                        f"{what} of province {province.province.code}")
                target = wanted
        if isinstance(inc, FeedSilence | BadDataBurst):
            target = inc.feed
        out.append(Active(inc, start + inc.at, start + inc.at + inc.duration, target))
    return out
