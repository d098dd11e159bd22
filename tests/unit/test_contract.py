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
        event_id=c.new_event_id(), schema_version=1, occurred_at=NOW, unit_codes=["ba-thuoc"],
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
