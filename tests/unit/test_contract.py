"""The event contract: valid events pass; each kind of bad input gets its own reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract as c
from ioc.errors import ContractError

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _payment(**data) -> c.Payment:
    return c.Payment(
        event_id=c.new_event_id(), schema_version=1, occurred_at=NOW, unit_codes=["14923"],
        feed="payments", event_type="payment.completed",
        data={"payment_id": "tt-1", "category": "hospital_fee", "channel": "qr_code",
              "amount_vnd": 150000, "status": "succeeded", **data})


def test_round_trip():
    event = _payment()
    assert c.decode(c.encode(event), "payments", NOW) == event


def _mutated(**changes) -> bytes:
    body = json.loads(c.encode(_payment()))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "undecodable"),
    (b"[1, 2]", "Input should be an object"),
    (_mutated(event_type="payment.refunded"), "unknown event_type 'payment.refunded'"),
    (_mutated(schema_version=2), "unknown schema version 2"),
    (_mutated(occurred_at="2026-03-02T02:00:00"), "occurred_at"),  # no offset
    (_mutated(unit_codes=[]), "unit_codes"),
    (_mutated(extra_field=1), "extra_field"),
    (_mutated(occurred_at=(NOW + timedelta(hours=1)).isoformat()), "in the future"),
    (_mutated(feed="portal"), "feed"),
    (b"{" + b" " * c.MAX_EVENT_BYTES + b"}", "oversize"),
])
def test_bad_input_is_refused_with_a_reason(raw, reason):
    with pytest.raises(ContractError) as err:
        c.decode(raw, "payments", NOW)
    assert reason in str(err.value)


def test_missing_event_type():
    body = json.loads(c.encode(_payment()))
    del body["event_type"]
    with pytest.raises(ContractError, match="missing event_type"):
        c.decode(json.dumps(body).encode(), "payments", NOW)


def test_event_on_the_wrong_topic_is_refused():
    with pytest.raises(ContractError, match="'payments' sent on the 'portal' topic"):
        c.decode(c.encode(_payment()), "portal", NOW)


def test_every_event_type_has_a_feed_and_a_schema():
    assert set(c.FEED_OF.values()) == set(c.FEEDS)
    schemas = c.json_schemas()
    for name in c.EVENT_TYPES:
        props = schemas[name]["properties"]
        for field in ("event_id", "schema_version", "occurred_at", "unit_codes", "feed",
                      "event_type", "data"):
            assert field in props, (name, field)
    assert schemas["event"]["discriminator"]["propertyName"] == "event_type"


def _heartbeat_raw(**data) -> bytes:
    event = c.LinkHeartbeat(
        event_id=c.new_event_id(), schema_version=1, occurred_at=NOW, unit_codes=["14923"],
        feed="telemedicine", event_type="link.heartbeat",
        data={"link_id": "bv-ba-thuoc--bach-mai", "hospital_code": "bv-ba-thuoc",
              "hub_code": "bach-mai", "status": "up", "latency_ms": 45.5})
    return c.encode(event).replace(b'"latency_ms":45.5', b'"latency_ms":' + data["latency"])


@pytest.mark.parametrize("latency, reason", [
    (b"Infinity", "data.latency_ms: Input should be a finite number"),
    (b"-Infinity", "data.latency_ms: Input should be a finite number"),
    (b"NaN", "data.latency_ms: Input should be a finite number"),
    (b"1e308", "data.latency_ms: Input should be less than or equal to 600000"),
    (b"-1", "data.latency_ms: Input should be greater than or equal to 0"),
])
def test_a_measure_is_finite_and_within_its_physical_range(latency, reason):
    with pytest.raises(ContractError) as err:
        c.decode(_heartbeat_raw(latency=latency), "telemedicine", NOW)
    assert str(err.value) == reason


def test_a_measure_at_its_bound_passes():
    event = c.decode(_heartbeat_raw(latency=b"600000"), "telemedicine", NOW)
    assert event.data.latency_ms == c.MAX_LATENCY_MS


@pytest.mark.parametrize("occurred_at", [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC: PostgreSQL stores it, Python cannot read it
    "1999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
])
def test_times_outside_the_readable_range_are_refused(occurred_at):
    # beyond the future limit too: the range is checked first, and names the field
    with pytest.raises(ContractError, match=r"^occurred_at: Input should be"):
        c.decode(_mutated(occurred_at=occurred_at), "payments", NOW)


def test_an_old_event_is_still_accepted_without_a_past_limit():
    """Replays: an event of years ago is valid."""
    event = c.decode(_mutated(occurred_at="2001-03-02T09:00:00+07:00"), "payments", NOW)
    assert event.occurred_at.year == 2001


def test_the_live_past_limit_refuses_only_what_is_older_than_it():
    limit = timedelta(days=1100)
    just_inside = (NOW - limit + timedelta(seconds=1)).isoformat()
    assert c.decode(_mutated(occurred_at=just_inside), "payments", NOW, limit)
    just_outside = (NOW - limit - timedelta(seconds=1)).isoformat()
    with pytest.raises(ContractError, match=r"more than 1100 days in the past \(the live limit"):
        c.decode(_mutated(occurred_at=just_outside), "payments", NOW, limit)


@pytest.mark.parametrize("text", ["gateway\x7ftimeout", "gateway\x9b31mtimeout",
                                  "gateway\x1b[31mtimeout", "abc\u202edcba", "line\u2028two"])
def test_free_text_without_control_characters(text):
    body = json.loads(c.encode(_payment(status="failed")))
    body["data"]["failure_reason"] = text
    with pytest.raises(ContractError, match="data.failure_reason"):
        c.decode(json.dumps(body).encode(), "payments", NOW)


def test_vietnamese_free_text_passes():
    event = _payment(status="failed", failure_reason="Ngân hàng từ chối: quá hạn mức")
    assert c.decode(c.encode(event), "payments", NOW) == event


@pytest.mark.parametrize("repeat", [
    b'"status":"failed","status":',          # compact
    b'"status" : "failed", "status" :',      # spaced
    b'"status":"failed",\n"status":',        # a line break between
    b'"st\\u0061tus":"failed","status":',    # the key written with an escape
])
def test_duplicate_keys_are_refused(repeat):
    raw = c.encode(_payment()).replace(b'"status":', repeat, 1)
    with pytest.raises(ContractError, match="^duplicate key 'status'$"):
        c.decode(raw, "payments", NOW)


def test_keys_counted_right_when_text_holds_quotes_and_colons():
    """An escaped quote and a colon in a string value take the slow way, and pass."""
    event = _payment(status="failed", failure_reason='gateway said "busy": retry ')
    assert c.decode(c.encode(event), "payments", NOW) == event
    pretty = json.dumps(json.loads(c.encode(event)), indent=2).encode()
    assert c.decode(pretty, "payments", NOW) == event


def test_a_portal_window_has_no_more_errors_than_requests():
    event = c.PortalHealth(
        event_id=c.new_event_id(), schema_version=1, occurred_at=NOW, unit_codes=["14923"],
        feed="portal", event_type="portal.health",
        data={"portal_code": "dvc", "window_seconds": 60, "requests": 10, "errors": 3,
              "p95_latency_ms": 200.0})
    raw = c.encode(event).replace(b'"errors":3', b'"errors":11')
    with pytest.raises(ContractError, match=r"errors \(11\) exceed requests \(10\)"):
        c.decode(raw, "portal", NOW)
