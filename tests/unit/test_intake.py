"""The intake's parts that need no server (issue 41): reading a body (where it is malformed,
how much it may hold), a source's rate, the verdict on each event and the key's scope, and
the app itself driven over ASGI with its database and broker held in memory (the real ones:
tests/integration/test_intake.py)."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from intake import body as bodies
from intake.answers import Answer
from intake.app import Parts, create_app
from intake.judge import judge
from intake.rate import RateLimit
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.refusals import Refusal, field_of
from ioc.settings import Settings
from ioc.sources import Grant
from ioc.units import UnitsDataset
from tests.unit.test_events_doc import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=1100)
PROVINCE = load_province("38")
CODES = KnownCodes(PROVINCE, UnitsDataset())
VALID = [json.loads(e.raw) for e in EXAMPLES]
KEY = "ioc_test-key-of-the-one-stop-system"
EVERYTHING = Grant("motcua", frozenset({"portal", "telemedicine", "payments"}), frozenset())


def _read(raw: str, kind: str = bodies.JSON) -> list[bytes]:
    return bodies.events_of(raw.encode(), kind)


def _refusal(raw: str, kind: str = bodies.JSON) -> tuple[int, str]:
    with pytest.raises(bodies.BodyError) as err:
        _read(raw, kind)
    return err.value.status, str(err.value)


def test_a_body_is_an_array_one_object_or_ndjson_each_event_as_sent():
    assert _read(' [ {"a": "é"} ,\n{"b": [1, 2]} ] ') == ['{"a": "é"}'.encode(),
                                                          b'{"b": [1, 2]}']
    assert _read('{"a": 1}') == [b'{"a": 1}']
    assert _read('{"a": 1}\n\n  {"b": 2}\r\n', bodies.NDJSON[0]) == [b'{"a": 1}', b'{"b": 2}']


def test_a_malformed_body_is_refused_saying_where():
    assert _refusal('[{"a": 1},\n {"b": }]') == (
        400, "malformed JSON at line 2, column 8 (character 19): Expecting value")
    assert _refusal('[{"a": 1} {"b": 2}]')[1].endswith("expected ',' or ']' after an event")
    assert _refusal('{"a": 1}\n{"b": 2', bodies.NDJSON[0])[1].startswith(
        "malformed JSON at line 2, column 8")
    assert _refusal('{"a": 1} {"b": 2}', bodies.NDJSON[0])[1].endswith(
        "one event a line (NDJSON)")
    assert _refusal('[]') == (400, "no events in the body")
    assert _refusal('  ') == (400, "no events in the body")
    assert _refusal('{"a": 1}\n{"b": 2}')[1].endswith("(send an array, or NDJSON)")
    with pytest.raises(bodies.BodyError, match="not UTF-8 .byte 3."):
        bodies.events_of(b'[{\xff', bodies.JSON)


def test_a_body_holds_at_most_5000_events_and_5_mb():
    assert len(_read(json.dumps([{}] * bodies.MAX_EVENTS))) == bodies.MAX_EVENTS
    assert _refusal(json.dumps([{}] * (bodies.MAX_EVENTS + 1)))[0] == 413
    assert _refusal("\n".join(["{}"] * (bodies.MAX_EVENTS + 1)), bodies.NDJSON[0])[0] == 413
    assert _refusal(" " * (bodies.MAX_BYTES + 1))[0] == 413


def test_only_json_and_ndjson_are_read():
    assert bodies.media_type(None) == bodies.JSON
    assert bodies.media_type("application/json; charset=utf-8") == bodies.JSON
    assert bodies.media_type("Application/X-NDJSON") == "application/x-ndjson"
    with pytest.raises(bodies.BodyError) as err:
        bodies.media_type("text/csv")
    assert err.value.status == 415


def test_a_source_may_send_its_rate_with_bursts_of_ten_seconds_and_one_full_request():
    now = [0.0]
    rate = RateLimit(100, clock=lambda: now[0])
    assert rate.burst == bodies.MAX_EVENTS  # ten seconds of 100/s is less than one request
    assert rate.take("a", 5_000) == 0
    assert rate.take("a", 100) == pytest.approx(1.0)  # empty: a second for 100 more
    assert rate.take("b", 10) == 0  # each source its own bucket
    now[0] = 1.0
    assert rate.take("a", 100) == 0
    assert RateLimit(2_000).burst == 20_000


def test_a_refusal_names_its_field():
    assert field_of("data.link_id: unknown link 'x'") == "data.link_id"
    assert field_of("unit_codes.0: unknown unit code '1'") == "unit_codes.0"
    assert field_of("occurred_at 2027-01-01T00:00:00+00:00 is more than 300 s in the "
                    "future") == "occurred_at"
    assert field_of("unknown schema version 9 (supported: 1)") == "schema_version"
    assert field_of("unknown event_type 'x'") == "event_type"
    assert field_of("undecodable: EOF while parsing") is None
    assert field_of("event: Input should be an object") is None
    assert field_of("duplicate key 'event_id'") is None
    assert Refusal.of("data.hospital_code: unknown hospital code 'x': ...").reason == \
        "unknown_hospital"


def _example(event_type: str) -> dict:
    return next(v for v in VALID if v["event_type"] == event_type)


def test_a_key_sends_only_its_feeds_and_its_entities():
    beat = _example("link.heartbeat")
    hospital = next(h for h in PROVINCE.hospitals if h.link_id == beat["data"]["link_id"])
    other = next(h for h in PROVINCE.hospitals if h is not hospital)
    theirs = {**beat, "event_id": "other-link-1", "data": {
        **beat["data"], "link_id": other.link_id, "hospital_code": other.code,
        "hub_code": other.hub}}
    payment = _example("payment.completed")
    raws = [json.dumps(v).encode() for v in (beat, theirs, payment, beat)]
    bv = Grant("bv", frozenset({"telemedicine"}), frozenset({hospital.code, hospital.link_id}))
    got = [(j.status, j.refusal and j.refusal.reason, j.refusal and j.refusal.field)
           for j in judge(raws, bv, CODES, NOW, MAX_AGE)]
    assert got == [("accepted", None, None),
                   ("refused", "out_of_scope", "data.hospital_code"),
                   ("refused", "out_of_scope", "event_type"),
                   ("duplicate", None, None)]
    # a source limited to a commune: its events name the commune
    unit = payment["unit_codes"][0]
    commune = Grant("xa", frozenset({"payments"}), frozenset({unit}))
    assert judge(raws[2:3], commune, CODES, NOW, MAX_AGE)[0].status == "accepted"


# --- the app over ASGI, its database and broker in memory ---------------------------------

class _Keys:
    async def grant(self, key: str) -> Grant | None:
        return EVERYTHING if key == KEY else None


class _Ledger:
    def __init__(self):
        self.ids: set[str] = set()
        self.refused = 0

    async def count(self, tally) -> None:
        self.refused += sum(m.refused for m in tally.minutes.values())

    @asynccontextmanager
    async def claim(self, source, events):
        new = {e for e, _ in events if e not in self.ids}
        yield new
        self.ids |= new


class _Publisher:
    def __init__(self):
        self.sent: list[str] = []

    async def publish(self, source, events) -> None:
        self.sent.extend(e.event_id for e, _ in events)


def _app() -> tuple:
    parts = Parts(keys=_Keys(), ledger=_Ledger(), publisher=_Publisher(), codes=CODES,  # type: ignore[arg-type]
                  rate=RateLimit(1e9), registry=CollectorRegistry(), clock=lambda: NOW)
    return create_app(Settings(), parts), parts


def post(app, body: bytes, key: str | None = KEY, content_type: str = bodies.JSON
         ) -> tuple[int, dict]:
    """One POST /v1/events through the app's ASGI interface."""
    headers = [(b"content-type", content_type.encode())]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/events",
             "raw_path": b"/v1/events", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8070)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    text = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(text)


def test_the_app_answers_each_event_and_sends_only_new_valid_ones():
    app, parts = _app()
    status, answer = post(app, json.dumps(VALID).encode())
    assert status == 200 and answer["accepted"] == len(VALID), answer
    Answer.model_validate(answer)  # what the OpenAPI document says it is
    assert parts.publisher.sent == [v["event_id"] for v in VALID]
    status, answer = post(app, "\n".join(json.dumps(v) for v in VALID).encode(),
                          content_type="application/x-ndjson")
    assert (answer["accepted"], answer["duplicate"]) == (0, len(VALID))
    assert len(parts.publisher.sent) == len(VALID)
    status, answer = post(app, json.dumps([{"feed": "portal"}, VALID[0]]).encode())
    assert (answer["refused"], answer["duplicate"]) == (1, 1)
    assert parts.ledger.refused == 1  # counted in the source's health
    status, answer = post(app, b"[]", key="ioc_wrong")
    assert status == 401 and answer["title"] == "Unknown key"
    status, answer = post(app, b"[]", key=None)
    assert status == 401 and "Authorization: Bearer" in answer["detail"]


def test_the_openapi_document_states_the_bounds_the_edge_checks():
    doc = _app()[0].openapi()
    body = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][0]["maxItems"] == bodies.MAX_EVENTS
    assert doc["components"]["schemas"]["Payment"]["properties"]["occurred_at"][
        "formatMinimum"] == "2000-01-01T00:00:00Z"


def test_the_shipped_openapi_document_is_the_one_served():
    from intake.app import document

    shipped = json.loads((REPO / "docs" / "intake.openapi.json").read_text(encoding="utf-8"))
    assert shipped == document(), ("docs/intake.openapi.json is out of date with the intake: "
                                   "run `ioc schemas` and commit it")
    # an integrator's validator reads the events in it as docs/schemas/ states them
    event = json.loads((REPO / "docs" / "schemas" / "link.heartbeat.schema.json").read_text(
        encoding="utf-8"))
    assert shipped["components"]["schemas"]["LinkHeartbeat"]["properties"] == \
        event["properties"] | {"data": {"$ref": "#/components/schemas/LinkHeartbeatData"}}
