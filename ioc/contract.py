"""The event contract: every event the feeds send, versioned, in one place.

Producers (simulators, real adapters) build these models; stream processors decode raw
bytes with `decode()`, which names the first problem so the event can be dead-lettered
with a reason. `json_schemas()` exports the contract as JSON Schema (docs/schemas/).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ioc.errors import ContractError

SCHEMA_VERSION = 1
# Vietnam keeps one time zone (UTC+7, no daylight saving): a province's days and hours
VIETNAM_TIMEZONE = "Asia/Ho_Chi_Minh"
FEEDS = ("portal", "telemedicine", "payments")
# the tables each feed's events are stored in (one place for the parts that read them back:
# the alert engine's feed positions, the wall's freshness of a feed)
FEED_TABLES: dict[str, tuple[str, ...]] = {
    "portal": ("dossier_events", "portal_health"),
    "telemedicine": ("link_heartbeats", "consultations"),
    "payments": ("payments",),
}
MAX_EVENT_BYTES = 64 * 1024
MAX_FUTURE = timedelta(minutes=5)
# Every time an event carries lies in this range: PostgreSQL stores far more, but a time
# it holds before year 1 UTC (0001-01-01T00:00+14:00 is one) cannot be read back into Python,
# and no record of this product's feeds can be older than the digital services themselves.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Physical bounds of the measured quantities (docs/events.md): a latency beyond ten minutes
# is a broken probe, not a slow link; an hour's window of a portal serves fewer requests.
MAX_LATENCY_MS = 600_000.0
MAX_REQUESTS = 10_000_000

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


# What a JSON Schema validator can check of those bounds (docs/schemas/): the year, by a
# pattern every validator applies (an integrator's validator then refuses year 0001 as the
# edge does), and the exact instants as `formatMinimum` / `formatExclusiveMaximum`, which
# validators that know the format vocabulary (ajv-formats) apply too. A time in the first or
# last hours of the range written with an offset that moves it across a year's end is
# judged by the edge alone (the bound is in UTC).
INSTANT_SCHEMA = {"pattern": r"^20[0-9]{2}-",
                  "formatMinimum": EARLIEST.isoformat().replace("+00:00", "Z"),
                  "formatExclusiveMaximum": LATEST.isoformat().replace("+00:00", "Z")}
Instant = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST,
                                         json_schema_extra=INSTANT_SCHEMA)]
Latency = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]
# Free text: no control characters (C0, DEL, C1: PostgreSQL text cannot hold NUL, and a
# terminal that shows a log line would obey an ANSI escape), no line or paragraph separators
# and no bidirectional overrides (they reorder what an operator reads).
FreeText = Annotated[str, Field(max_length=200,
                                pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]*$")]


class _Strict(BaseModel):
    # strict: a number sent as a string, or a time sent as a number, is refused (the JSON
    # Schema promises types, and producers should hear about drift, not have it guessed away)
    # Infinity and NaN (Python's json writes and reads them) are refused: no measure is
    # infinite, and one such value stored would break every sum over its column.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Envelope(_Strict):
    """Fields every event carries, whatever its feed."""

    event_id: Annotated[str, Field(min_length=8, max_length=64,
                                   pattern=r"^[A-Za-z0-9._:-]+$")] = Field(
        description="Made by the producer, unique per event; the database keeps one row per id."
    )
    schema_version: Literal[1] = Field(description="Version of this contract.")
    occurred_at: Instant = Field(
        description="When it happened at the source, RFC 3339 with a UTC offset; "
                    "from 2000-01-01 (UTC) up to 5 minutes ahead of the receiver's clock."
    )
    unit_codes: Annotated[list[Code], Field(min_length=1, max_length=16)] = Field(
        description="The commune-level units the event belongs to, by national code "
                    "(14797: Phường Hạc Thành); each must be a unit of the IOC's province."
    )
    unit_code_set: Literal["2025", "pre-2025"] = Field(
        "2025",
        description="Which list `unit_codes` come from: `2025` (the default), the units since "
                    "1/7/2025; `pre-2025`, the communes before the reorganisation, for a "
                    "producer not yet updated: each is mapped to the unit that took it in, "
                    "and the codes as sent are kept on the stored row (`unit_codes_sent`)."
    )
    #: the codes as the producer sent them, when they were pre-2025 codes mapped at the edge
    #: (set on the instance by `KnownCodes.current`). A class attribute, not a pydantic
    #: private attribute: those are set up on every instance, a third of the time a valid
    #: event takes to decode, for a value almost every event leaves empty.
    _unit_codes_sent: ClassVar[list[str] | None] = None


# --- portal: public-service portal dossiers and portal health -------------------------


class DossierReceivedData(_Strict):
    dossier_id: Code
    procedure_code: Code
    agency_code: Code
    service_level: Literal["partial", "full"] = Field(
        description="partial = một phần (level 3), full = toàn trình (level 4)."
    )
    channel: Literal["online", "in_person"]
    due_at: Instant = Field(description="Statutory due time, counted in working days.")
    centre_code: Code | None = Field(
        None,
        description="The Public Administrative Service Centre that received it (Decree "
                    "118/2025/NĐ-CP): the provincial centre's code (`ttphvhcc`) or a commune's "
                    "centre by the commune's code. A dossier may be filed at any centre of the "
                    "province; `agency_code` (and, for a commune procedure, the unit) says who "
                    "resolves it. Optional for producers not yet sending it.")
    digitised: bool | None = Field(
        None,
        description="Whether the dossier's components were digitised at reception (số hóa hồ "
                    "sơ, Decree 107/2021/NĐ-CP): Decision 766/QĐ-TTg's 'Tỷ lệ số hóa hồ sơ'. "
                    "Optional: absent means not reported, counted in no ratio.")
    payment: Literal["none", "online", "in_person"] | None = Field(
        None,
        description="The dossier's fee or charge (nghĩa vụ tài chính): `none` when nothing is "
                    "due, else how it was paid; Decision 766/QĐ-TTg's 'Tỷ lệ thanh toán trực "
                    "tuyến' is online over online + in person. Optional: absent means not "
                    "reported.")


class DossierReceived(Envelope):
    """A dossier (hồ sơ) was received by an agency."""

    feed: Literal["portal"]
    event_type: Literal["dossier.received"]
    data: DossierReceivedData


class DossierResolvedData(_Strict):
    dossier_id: Code
    procedure_code: Code
    agency_code: Code
    due_at: Instant
    result: Literal["approved", "rejected"]
    centre_code: Code | None = Field(
        None,
        description="The centre that received the dossier and returns its result (the "
                    "received event's `centre_code`), so results count per centre. Optional.")
    e_result: bool | None = Field(
        None,
        description="Whether the result was issued as an electronic document (kết quả điện tử): "
                    "Decision 766/QĐ-TTg's 'Tỷ lệ cấp kết quả điện tử'. Optional: absent means "
                    "not reported.")


class DossierResolved(Envelope):
    """A dossier was resolved; on time when `occurred_at <= due_at`."""

    feed: Literal["portal"]
    event_type: Literal["dossier.resolved"]
    data: DossierResolvedData


class PortalHealthData(_Strict):
    portal_code: Code
    window_seconds: Annotated[int, Field(gt=0, le=3600)]
    requests: Annotated[int, Field(ge=0, le=MAX_REQUESTS)]
    errors: Annotated[int, Field(ge=0, le=MAX_REQUESTS)]
    p95_latency_ms: Latency

    @model_validator(mode="after")
    def _errors_among_requests(self) -> PortalHealthData:
        if self.errors > self.requests:
            raise ValueError(f"errors ({self.errors}) exceed requests ({self.requests})")
        return self


class PortalHealth(Envelope):
    """Traffic and health of a portal over a short window ending at `occurred_at`."""

    feed: Literal["portal"]
    event_type: Literal["portal.health"]
    data: PortalHealthData


# --- telemedicine: links from the province's general hospitals to central hospitals -------


class LinkHeartbeatData(_Strict):
    link_id: Code
    hospital_code: Code
    hub_code: Code
    status: Literal["up", "down"]
    latency_ms: Latency | None = None
    jitter_ms: Latency | None = None
    loss_pct: Annotated[float, Field(ge=0, le=100)] | None = None


class LinkHeartbeat(Envelope):
    """A telemedicine link reports it is alive, with its quality."""

    feed: Literal["telemedicine"]
    event_type: Literal["link.heartbeat"]
    data: LinkHeartbeatData


class ConsultationData(_Strict):
    session_id: Code
    link_id: Code
    hospital_code: Code
    hub_code: Code
    specialty: Code


class ConsultationStarted(Envelope):
    """A remote consultation session began."""

    feed: Literal["telemedicine"]
    event_type: Literal["consultation.started"]
    data: ConsultationData


class ConsultationEnded(Envelope):
    """A remote consultation session ended."""

    feed: Literal["telemedicine"]
    event_type: Literal["consultation.ended"]
    data: ConsultationData


# --- payments: cashless payments --------------------------------------------------------


# Names of the payment categories, Vietnamese first (the wall and the alert messages).
PAYMENT_CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "admin_fee": {"vi": "Phí, lệ phí", "en": "Administrative fees"},
    "hospital_fee": {"vi": "Viện phí", "en": "Hospital fees"},
    "tuition": {"vi": "Học phí", "en": "Tuition"},
    "electricity": {"vi": "Tiền điện", "en": "Electricity"},
    "water": {"vi": "Tiền nước", "en": "Water"},
}


class PaymentData(_Strict):
    payment_id: Code
    category: Literal["admin_fee", "hospital_fee", "tuition", "electricity", "water"]
    channel: Literal["bank_transfer", "qr_code", "e_wallet", "card"]
    amount_vnd: Annotated[int, Field(gt=0, le=10_000_000_000)]
    status: Literal["succeeded", "failed"]
    failure_reason: FreeText | None = None


class Payment(Envelope):
    """A cashless payment attempt finished (succeeded or failed)."""

    feed: Literal["payments"]
    event_type: Literal["payment.completed"]
    data: PaymentData


EVENT_TYPES: dict[str, type[Envelope]] = {
    "dossier.received": DossierReceived,
    "dossier.resolved": DossierResolved,
    "portal.health": PortalHealth,
    "link.heartbeat": LinkHeartbeat,
    "consultation.started": ConsultationStarted,
    "consultation.ended": ConsultationEnded,
    "payment.completed": Payment,
}
FEED_OF: dict[str, str] = {
    name: model.model_fields["feed"].annotation.__args__[0]  # type: ignore[union-attr]
    for name, model in EVENT_TYPES.items()
}

Event = Annotated[
    DossierReceived
    | DossierResolved
    | PortalHealth
    | LinkHeartbeat
    | ConsultationStarted
    | ConsultationEnded
    | Payment,
    Field(discriminator="event_type"),
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def new_event_id() -> str:
    """A fresh producer-made event id."""
    return uuid.uuid4().hex


def encode(event: Envelope) -> bytes:
    """The wire form of an event: compact UTF-8 JSON."""
    return event.model_dump_json(exclude_none=True).encode()


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = err["loc"][1:] if err["loc"] and err["loc"][0] in EVENT_TYPES else err["loc"]
    if err["type"] == "union_tag_not_found":
        return "missing event_type"
    if err["type"] == "union_tag_invalid":
        return f"unknown event_type {err['ctx']['tag']!r}"
    if loc == ("schema_version",):
        return f"unknown schema version {err.get('input')!r} (supported: {SCHEMA_VERSION})"
    where = ".".join(str(p) for p in loc) or "event"
    return f"{where}: {err['msg']}"


def _duplicate_key(raw: bytes, event: Envelope) -> str | None:
    """The name of a key the object holding it repeats (JSON parsers keep the last), if any.

    Every key is a field name (unknown fields are refused) and ends in `":`; a string value
    holds that only as `\\":`, which counts one too many (the slow way, then). So as many
    `":` as fields given means no key repeats, unless a key is written `"name" :`: whitespace
    between tokens (a space after a quote, or a tab or line break, which no JSON string holds
    raw) takes the slow way too. That costs a few byte scans; a second parse with a pair
    hook would cost more than the decode itself.
    """
    given = len(event.model_fields_set) + len(event.data.model_fields_set)  # type: ignore[attr-defined]
    if raw.count(b'":') == given and (
            len(raw.translate(None, b" \t\n\r")) == len(raw)  # no whitespace: one scan
            or (b'" ' not in raw and b"\n" not in raw and b"\t" not in raw and b"\r" not in raw)):
        return None
    repeated: list[str] = []

    def pairs(items: list[tuple[str, object]]) -> dict:
        names = [k for k, _ in items]
        repeated.extend(k for k in names if names.count(k) > 1)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    return repeated[0] if repeated else None


def decode(raw: bytes, feed: str | None, now: datetime,
           max_age: timedelta | None = None) -> Envelope:
    """Decode and validate one event read from `feed`'s topic (None: an event of any feed,
    as the HTTP intake takes them); `ContractError` says why not.

    `now` is passed in (not read from a clock here) so replays and tests control it.
    `max_age`: the live path's past limit (`IOC_MAX_EVENT_AGE_DAYS`); None (replays,
    backtests of old recordings) accepts any time the contract's range holds.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise ContractError(f"oversize: {len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        event = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] in ("json_invalid", "json_type"):
            raise ContractError(f"undecodable: {exc.errors()[0]['msg']}") from None
        raise ContractError(_first_problem(exc)) from None
    duplicate = _duplicate_key(raw, event)
    if duplicate:
        raise ContractError(f"duplicate key {duplicate!r}")
    if feed is not None and event.feed != feed:
        raise ContractError(f"feed {event.feed!r} sent on the {feed!r} topic")
    if event.occurred_at - now > MAX_FUTURE:
        raise ContractError(
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{int(MAX_FUTURE.total_seconds())} s in the future"
        )
    if max_age is not None and now - event.occurred_at > max_age:
        raise ContractError(
            f"occurred_at {event.occurred_at.isoformat()} is more than {max_age.days} days in "
            "the past (the live limit, IOC_MAX_EVENT_AGE_DAYS; replay old data with ioc replay)"
        )
    return event


def json_schemas() -> dict[str, dict]:
    """JSON Schema of every event type, keyed by event_type, plus 'event' for the union."""
    schemas = {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}
    schemas["event"] = _ADAPTER.json_schema()
    return schemas


def event_schema(ref_template: str) -> dict:
    """JSON Schema of any event, its definitions referred to by `ref_template` (the HTTP
    intake's OpenAPI document: '#/components/schemas/{model}')."""
    return _ADAPTER.json_schema(ref_template=ref_template)


def write_json_schemas(directory) -> list[str]:
    """Write one `<event_type>.schema.json` per type into `directory`; return the file names."""
    names = []
    for name, schema in json_schemas().items():
        file = directory / f"{name}.schema.json"
        file.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        names.append(file.name)
    return names
