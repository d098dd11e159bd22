"""Decision 766/QĐ-TTg's indicators on the real database: a simulated morning stored by the
sink, read back per province, centre and agency through the aggregate, equal to the counts
of the events themselves; and `ioc indicators --json` reports them."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.db import WRITER_ROLE, connect, connect_async, role_url
from ioc.indicators import COUNTS, load_indicator_set, read_scopes
from ioc.province import load_province
from ioc_command.cli import build_parser
from ioc_command.commands.indicators import run as cmd_indicators
from simulators.generator import ProvinceSimulator
from streams.sink import EventSink

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Vietnam
DAY_START = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # local midnight of Monday 2/3/2026


def _counts(events) -> dict[tuple[str, str | None], Counter]:
    """What each scope should count, from the events themselves."""
    scopes: dict[tuple[str, str | None], Counter] = {}
    for e in events:
        d = e.data
        c = Counter()
        if e.event_type == "dossier.received":
            c.update(received=1, received_online=d.channel == "online",
                     received_digitised=bool(d.digitised),
                     received_digitised_known=d.digitised is not None,
                     received_fee=d.payment in ("online", "in_person"),
                     received_paid_online=d.payment == "online")
        else:
            c.update(resolved=1, resolved_on_time=e.occurred_at <= d.due_at,
                     resolved_e_result=bool(d.e_result),
                     resolved_e_result_known=d.e_result is not None)
        for key in (("province", None), ("centre", d.centre_code), ("agency", d.agency_code)):
            scopes.setdefault(key, Counter()).update(c)
    return scopes


def test_indicators_per_province_centre_and_agency_equal_the_events(migrated, capsys):
    province = load_province(migrated.province_file)
    records = ProvinceSimulator(province, seed=3, feeds=("portal",)).events_between(
        MONDAY, MONDAY + timedelta(hours=3))
    events = [contract.decode(r.value, r.feed, MONDAY + timedelta(hours=4)) for r in records]
    events = [e for e in events if e.event_type.startswith("dossier.")]
    assert len(events) > 300
    url = role_url(migrated.database_url, WRITER_ROLE, migrated.writer_password)

    async def store() -> None:
        sink = EventSink(lambda: connect_async(url, migrated.db_schema))
        try:
            await sink.write(events)
        finally:
            await sink.close()

    asyncio.run(store())
    expected = _counts(events)
    with connect(migrated.database_url, migrated.db_schema) as conn:
        scopes = read_scopes(conn, DAY_START, DAY_START + timedelta(days=1))
    got = {(s.level, s.code): {k: v for k, v in s.counts.items() if v} for s in scopes}
    assert got == {k: {n: v for n, v in c.items() if n in COUNTS and v}
                   for k, c in expected.items()}
    # the province first, then the centres (the provincial one among communes'), then agencies
    assert [s.level for s in scopes][:2] == ["province", "centre"]
    assert ("centre", "ttphvhcc") in got and len(got) > 20

    args = build_parser().parse_args(["indicators", "--day", "2026-03-02", "--json"])
    assert cmd_indicators(args, migrated) == 0
    doc = json.loads(capsys.readouterr().out)
    indicators = load_indicator_set()
    assert [g["computed"] for g in doc["groups"]] == [False, True, True, True, False]
    top = doc["scopes"][0]
    assert top["level"] == "province"
    counts = expected[("province", None)]
    for i in indicators.indicators:
        reading = top["indicators"][i.key]
        assert (reading["numerator"], reading["denominator"]) == (
            counts[i.numerator], counts[i.denominator])
        assert reading["value"] == pytest.approx(counts[i.numerator] / counts[i.denominator])
        assert reading["met"] == (reading["value"] >= reading["target"])
    names = {s["code"]: s["name"] for s in doc["scopes"] if s["level"] == "centre"}
    assert names["ttphvhcc"] == province.service_centre.name_vi
