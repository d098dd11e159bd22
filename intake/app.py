"""The intake's ASGI app (FastAPI): POST /v1/events, GET /healthz, GET /metrics and its
OpenAPI document at /v1/openapi.json. Collaborators are handed in (`create_app`), so tests
give their own."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from intake import body as bodies
from intake.answers import Answer, Health, Problem
from intake.judge import Judged, judge
from intake.keys import KeyRing
from intake.ledger import DatabaseUnavailable, Ledger
from intake.metrics import IntakeMetrics
from intake.publisher import BrokerUnavailable, Publisher
from intake.rate import RateLimit
from ioc import contract
from ioc.errors import ServiceError
from ioc.known_codes import KnownCodes
from ioc.settings import Settings
from ioc.source_health import KEPT_DAYS, SourceTally
from ioc.sources import KEY_PREFIX, Grant

RETRY_SECONDS = 5  # what a 503 asks the client to wait
PRUNE_SECONDS = 3600
log = logging.getLogger(__name__)


class Refused(Exception):
    """A request refused as a whole: its HTTP status, title and what to do about it."""

    def __init__(self, status: int, title: str, detail: str, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


@dataclass
class Parts:
    """What the app works with."""

    keys: KeyRing
    ledger: Ledger
    publisher: Publisher
    codes: KnownCodes
    rate: RateLimit
    registry: CollectorRegistry
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


EVENT = {"$ref": "#/components/schemas/Event"}
REQUEST_BODY = {
    "required": True,
    "description": f"Contract events (docs/events.md, docs/schemas/): a JSON array, one JSON "
                   f"object, or NDJSON (one event a line); at most {bodies.MAX_EVENTS:,} "
                   f"events and {bodies.MAX_BYTES:,} bytes.",
    "content": {
        bodies.JSON: {"schema": {"oneOf": [
            {"type": "array", "minItems": 1, "maxItems": bodies.MAX_EVENTS, "items": EVENT},
            EVENT]}},
        bodies.NDJSON[0]: {"schema": {"type": "string",
                                      "description": "One event (JSON) a line."}},
    },
}
PROBLEMS = {status: {"model": Problem, "description": what} for status, what in (
    (400, "Malformed JSON (saying where), or no events."),
    (401, "No key, or a key that is unknown or revoked."),
    (408, "The body did not arrive in time (IOC_INTAKE_BODY_SECONDS)."),
    (413, f"More than {bodies.MAX_EVENTS:,} events or {bodies.MAX_BYTES:,} bytes."),
    (415, "Neither JSON nor NDJSON."),
    (429, "Over the source's rate (IOC_INTAKE_RATE): try again after Retry-After seconds."),
    (503, "The broker or the database did not answer: nothing was accepted; send the same "
          "events again after Retry-After seconds."))}


def _problem(status: int, title: str, detail: str, headers: dict | None = None) -> Response:
    return JSONResponse(Problem(title=title, status=status, detail=detail).model_dump(),
                        status, headers=headers, media_type="application/problem+json")


def _key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX) or len(key) > 128:
        raise Refused(401, "No key", "send the source's key as `Authorization: Bearer ioc_...` "
                      "(`ioc sources add` makes one)", {"WWW-Authenticate": "Bearer"})
    return key


async def _body(request: Request, seconds: float) -> bytes:
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > bodies.MAX_BYTES:
        raise bodies.too_big(int(size))
    chunks, total = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                total += len(chunk)
                if total > bodies.MAX_BYTES:
                    raise bodies.too_big()
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, "Too slow", f"the body did not arrive within {seconds:g} s") from None
    return b"".join(chunks)


def _result(j: Judged, new: set[str]) -> dict:
    """One event's result as `EventResult` documents it, made as a plain dict: building a
    model per event cost a fifth of a 1,000-event request."""
    status = j.status
    if status == "accepted" and j.event_id not in new:
        status = "duplicate"  # accepted by an earlier request
    out: dict = {"index": j.index, "status": status}
    if j.event_id is not None:
        out["event_id"] = j.event_id
    r = j.refusal
    if r is not None:
        out["reason"] = r.reason
        if r.field is not None:
            out["field"] = r.field
        out["detail"] = r.detail
    return out


def _feed(j: Judged) -> str:
    """The feed a refused event says it belongs to, if it says one the IOC has."""
    try:
        feed = json.loads(j.raw).get("feed")
    except (ValueError, AttributeError):
        return "unknown"
    return feed if feed in contract.FEEDS else "unknown"


async def _count_refused(parts: Parts, tally: SourceTally) -> None:
    """The request's refusals, in its source's health (`source_minutes`); a database that
    fails here costs the count, never the answer."""
    if not tally:
        return
    try:
        await parts.ledger.count(tally)
    except (psycopg.Error, ServiceError) as exc:
        log.warning("counting refused events: %s", exc)


async def _prune_hourly(parts: Parts, max_age: timedelta) -> None:
    """The accepted ids of events past the live limit, and the sources' health minutes past
    KEPT_DAYS, forgotten every hour (on TimescaleDB and plain PostgreSQL alike: the intake
    always runs)."""
    while True:
        try:
            pruned = await parts.ledger.prune(parts.clock() - max_age)
            if pruned:
                log.info("forgot %d accepted event ids older than %d days", pruned,
                         max_age.days)
            await parts.ledger.prune_minutes(parts.clock() - timedelta(days=KEPT_DAYS))
        except (ServiceError, psycopg.Error) as exc:  # tried again in an hour
            log.warning("pruning accepted event ids: %s", exc)
        await asyncio.sleep(PRUNE_SECONDS)


def create_app(settings: Settings, parts: Parts | None) -> FastAPI:
    """The app on `parts`; None: an app good only for its OpenAPI document (`document`)."""
    max_age = timedelta(days=settings.max_event_age_days)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pruning = asyncio.create_task(_prune_hourly(parts, max_age)) if parts else None
        yield
        if pruning is not None:
            pruning.cancel()

    app = FastAPI(title="IOC intake", lifespan=lifespan, version=str(contract.SCHEMA_VERSION),
                  description="Events from the province's systems (one-stop information "
                              "system, payment gateways, hospitals) over HTTP: docs/intake.md.",
                  openapi_url="/v1/openapi.json", docs_url=None, redoc_url=None)
    metrics = IntakeMetrics(parts.registry if parts else CollectorRegistry())

    async def answer(request: Request) -> dict:
        assert parts is not None, "an app made for its document only"
        key = _key(request)
        try:
            grant: Grant | None = await parts.keys.grant(key)
        except DatabaseUnavailable as exc:
            raise Refused(503, "Database unavailable", str(exc),
                          {"Retry-After": str(RETRY_SECONDS)}) from None
        if grant is None:
            raise Refused(401, "Unknown key", "the key is unknown or revoked (`ioc sources "
                          "list` shows the sources)", {"WWW-Authenticate": "Bearer"})
        request.state.source = grant.source
        try:
            kind = bodies.media_type(request.headers.get("content-type"))
            raws = bodies.events_of(await _body(request, settings.intake_body_seconds), kind)
        except bodies.BodyError as exc:
            raise Refused(exc.status, "Unreadable body", str(exc)) from None
        wait = parts.rate.take(grant.source, len(raws))
        if wait:
            raise Refused(429, "Too many events", f"source {grant.source!r} may send "
                          f"{settings.intake_rate:g} events a second (IOC_INTAKE_RATE)",
                          {"Retry-After": str(max(1, round(wait + 0.5)))})
        judged = judge(raws, grant, parts.codes, parts.clock(), max_age)
        sendable = [j for j in judged if j.event is not None]
        try:
            async with parts.ledger.claim(grant.source, [
                    (j.event_id, j.event.occurred_at) for j in sendable]) as new:  # type: ignore[union-attr, misc]
                await parts.publisher.publish(grant.source, [
                    (j.event, j.raw) for j in sendable if j.event_id in new])  # type: ignore[misc]
        except (DatabaseUnavailable, BrokerUnavailable) as exc:
            raise Refused(503, "Not accepted", f"{exc}; nothing of this request was accepted: "
                          "send it again", {"Retry-After": str(RETRY_SECONDS)}) from None
        results = [_result(j, new) for j in judged]
        statuses = Counter(r["status"] for r in results)
        counts = {s: statuses[s] for s in ("accepted", "duplicate", "refused")}
        for status, n in counts.items():
            if n:
                metrics.events.labels(grant.source, status).inc(n)
        refused = SourceTally()
        arrived = parts.clock()
        for j in judged:
            if j.refusal is not None:
                metrics.refused.labels(grant.source, j.refusal.reason).inc()
                refused.refused(grant.source, _feed(j), arrived, j.refusal.reason)
        await _count_refused(parts, refused)
        return {"source": grant.source, **counts, "results": results}

    @app.post("/v1/events", response_model=Answer, responses=PROBLEMS,  # type: ignore[arg-type]
              openapi_extra={"requestBody": REQUEST_BODY},
              summary="Send events", description="Each event is answered: accepted (on Kafka "
              "before this answer), duplicate (its id was accepted before) or refused (with "
              "the reason and the field at fault). Send a request again after a time-out or a "
              "503: nothing is stored twice.")
    async def post_events(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response: Response = JSONResponse(await answer(request))
        except Refused as exc:
            response = _problem(exc.status, exc.title, exc.detail, exc.headers)
        source = getattr(request.state, "source", "unknown")
        metrics.requests.labels(source, str(response.status_code)).inc()
        metrics.seconds.observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        registry = parts.registry if parts else CollectorRegistry()
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict:
        if app.openapi_schema is None:  # the contract's own schemas, as docs/schemas/ has them
            schema = FastAPI.openapi(app)
            event = contract.event_schema("#/components/schemas/{model}")
            schema["components"]["schemas"].update(event.pop("$defs"), Event=event)
            schema["components"]["securitySchemes"] = {"sourceKey": {
                "type": "http", "scheme": "bearer",
                "description": "A source's key, from `ioc sources add` (ioc_...)."}}
            schema["paths"]["/v1/events"]["post"]["security"] = [{"sourceKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def document() -> dict:
    """The OpenAPI document the intake serves (docs/intake.openapi.json is this)."""
    return create_app(Settings(), None).openapi()
