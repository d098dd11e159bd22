"""Scenario files: validated with useful errors, and each incident visible in the data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ioc import contract
from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR
from simulators.generator import ProvinceSimulator
from simulators.scenarios import (
    BAD_KINDS,
    SCENARIOS_DIR,
    known_scenarios,
    load_scenario,
    resolve,
    scenario_path,
)

THANH_HOA = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
HUNG_YEN = load_province(PROVINCES_DIR / "hung-yen.yaml")
START = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 09:00 in Vietnam


def _run(name: str | None, seconds: float, province=THANH_HOA, start=START, **kw):
    t0 = start.timestamp()
    incidents = []
    if name:
        incidents = resolve(load_scenario(SCENARIOS_DIR / f"{name}.yaml"), province, t0)
    sim = ProvinceSimulator(province, seed=11, incidents=incidents, **kw)
    return sim.events_between(start, start + timedelta(seconds=seconds)), incidents


def _decode(records):
    out = []
    for r in records:
        try:
            out.append((r, contract.decode(r.value, r.feed,
                                           datetime.fromtimestamp(r.event_time + 1, UTC))))
        except Exception:  # noqa: BLE001 - malformed ones are counted by the callers
            continue
    return out


def _within(r, incident) -> bool:
    return incident.start <= r.event_time < incident.end


def test_every_shipped_scenario_loads_and_resolves_for_both_provinces():
    names = known_scenarios()
    for wanted in ("hospital-link-down", "link-degraded", "portal-outage", "agency-backlog",
                   "payment-gateway-failure", "feed-silence", "bad-data-burst"):
        assert wanted in names
    for name in names:
        scenario = load_scenario(scenario_path(name))
        assert scenario.name == name and scenario.title_vi and scenario.title_en
        for province in (THANH_HOA, HUNG_YEN):
            assert len(resolve(scenario, province, 0.0)) == len(scenario.incidents)


def test_hospital_link_down_silences_that_link_only():
    records, (down,) = _run("hospital-link-down", 3600, feeds=("telemedicine",))
    link = THANH_HOA.hospitals[0].link_id.encode()
    beats = [r for r in records if b'"link.heartbeat"' in r.value]
    assert not [r for r in beats if r.key == link and _within(r, down)]
    assert [r for r in beats if r.key == link and r.event_time >= down.end]
    others = {r.key for r in beats if _within(r, down)}
    assert len(others) == 26 and link not in others


def test_link_degraded_raises_latency_and_loss_of_that_link():
    records, (bad,) = _run("link-degraded", 1800, feeds=("telemedicine",))
    link = THANH_HOA.hospitals[0].link_id
    beats = [e for r, e in _decode(records)
             if e.event_type == "link.heartbeat" and e.data.link_id == link]
    during = [e for e in beats if bad.start <= e.occurred_at.timestamp() < bad.end]
    before = [e for e in beats if e.occurred_at.timestamp() < bad.start]
    assert min(e.data.latency_ms for e in during) > 2 * max(e.data.latency_ms for e in before)
    assert min(e.data.loss_pct for e in during) >= 4 > max(e.data.loss_pct for e in before)


def test_portal_outage_raises_errors_and_stops_online_dossiers():
    records, (outage,) = _run("portal-outage", 1800, feeds=("portal",))
    events = _decode(records)
    portal = THANH_HOA.portals[0].code
    health = [(r, e) for r, e in events
              if e.event_type == "portal.health" and e.data.portal_code == portal]
    err_during = sum(e.data.errors for r, e in health if _within(r, outage))
    req_during = sum(e.data.requests for r, e in health if _within(r, outage))
    assert err_during / req_during > 0.5
    err_out = sum(e.data.errors for r, e in health if not _within(r, outage))
    assert err_out / sum(e.data.requests for r, e in health if not _within(r, outage)) < 0.02
    received = [(r, e) for r, e in events if e.event_type == "dossier.received"]
    assert all(e.data.channel == "in_person" for r, e in received if _within(r, outage))
    assert any(e.data.channel == "online" for r, e in received if not _within(r, outage))


def _overdue_open(events, agency: str, at: float) -> int:
    open_ = {}
    for _, e in events:
        if e.occurred_at.timestamp() > at or e.event_type not in ("dossier.received",
                                                                  "dossier.resolved"):
            continue
        if e.data.agency_code != agency:
            continue
        if e.event_type == "dossier.received":
            open_[e.data.dossier_id] = e.data.due_at.timestamp()
        else:
            open_.pop(e.data.dossier_id, None)
    return sum(due < at for due in open_.values())


def test_agency_backlog_makes_overdue_dossiers_climb():
    records, (backlog,) = _run("agency-backlog", 36 * 3600, feeds=("portal",),
                               multiplier=5)
    events = _decode(records)
    agency = backlog.target
    normal, _ = _run(None, 36 * 3600, feeds=("portal",), multiplier=5)
    baseline = _decode(normal)
    hours = [backlog.start + h * 3600 for h in (20, 26, 30)]
    climbing = [_overdue_open(events, agency, t) for t in hours]
    assert climbing[0] < climbing[1] < climbing[2]
    assert climbing[2] > 5 * max(1, _overdue_open(baseline, agency, hours[2]))
    resolved = [e for r, e in events if e.event_type == "dossier.resolved"
                and e.data.agency_code == agency]
    assert not [e for e in resolved if backlog.start <= e.occurred_at.timestamp() < backlog.end]


def test_payment_gateway_failure_lowers_the_success_rate_of_its_channel():
    records, (failure,) = _run("payment-gateway-failure", 1800, feeds=("payments",))
    stats = Counter()
    for r, e in _decode(records):
        phase = "during" if _within(r, failure) else "outside"
        stats[(phase, e.data.channel, e.data.status)] += 1

    def ok(phase, channel):
        good = stats[(phase, channel, "succeeded")]
        return good / (good + stats[(phase, channel, "failed")])
    assert ok("during", "qr_code") < 0.5 < 0.97 < ok("outside", "qr_code")
    assert ok("during", "card") > 0.95


def test_feed_silence_stops_the_feed_and_resend_catches_up_late():
    records, (silence,) = _run("feed-silence", 2400)
    assert not [r for r in records if r.feed == "payments" and _within(r, silence)]
    assert [r for r in records if r.feed == "telemedicine" and _within(r, silence)]
    assert [r for r in records if r.feed == "payments" and r.event_time >= silence.end]
    # the bad afternoon's portal silence resends what it held, once the producer is back
    records, incidents = _run("bad-afternoon", 80 * 60, feeds=("portal",))
    held = incidents[3]
    late = [r for r in records if r.sent_at is not None]
    assert late and all(r.sent_at == held.end and _within(r, held) for r in late)
    assert not [r for r in records if r.sent_at is None and _within(r, held)]


def test_bad_data_burst_sends_every_kind_of_malformed_event():
    records, incidents = _run("bad-data-burst", 900, feeds=())
    assert records and {r.feed for r in records} == {"payments", "portal"}
    reasons = Counter()
    for r in records:
        assert any(_within(r, a) for a in incidents)
        with pytest.raises(Exception) as exc:
            contract.decode(r.value, r.feed, datetime.fromtimestamp(r.event_time + 1, UTC))
        assert exc.type.__name__ == "ContractError"
        reasons[r.key.decode().removeprefix("bad-")] += 1
    assert set(reasons) == set(BAD_KINDS)


@pytest.mark.parametrize(("text", "problem"), [
    ("schema_version: 1\nname: x\ntitle_vi: a\ntitle_en: a\nincidents: []\n",
     "incidents: List should have at least 1 item"),
    ("schema_version: 1\nname: x\ntitle_vi: a\ntitle_en: a\nincidents:\n"
     "  - {kind: link_down, at: soon, duration: 5m}\n", "incidents.0.link_down.at"),
    ("schema_version: 1\nname: x\ntitle_vi: a\ntitle_en: a\nincidents:\n"
     "  - {kind: volcano, at: 1m, duration: 5m}\n", "incidents.0"),
    ("schema_version: 1\nname: x\ntitle_vi: a\ntitle_en: a\nincidents:\n"
     "  - {kind: feed_silence, at: 1m, duration: 5m, feed: weather}\n", "feed"),
    ("schema_version: 1\nname: x\ntitle_vi: a\ntitle_en: a\nincidents:\n"
     "  - {kind: payment_gateway_failure, at: 1m, duration: 5m, success_ratio: 2}\n",
     "success_ratio"),
])
def test_broken_scenario_files_name_file_path_and_problem(tmp_path, text, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as exc:
        load_scenario(path)
    assert str(path) in str(exc.value) and problem in str(exc.value)


def test_unknown_targets_and_names_are_refused_clearly(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("schema_version: 1\nname: s\ntitle_vi: a\ntitle_en: a\nincidents:\n"
                    "  - {kind: link_down, at: 1m, duration: 5m, hospital: bv-nowhere}\n")
    with pytest.raises(SettingsError, match=r"incidents\.0\.hospital: 'bv-nowhere' is not one"):
        resolve(load_scenario(path), THANH_HOA, 0.0, path)
    with pytest.raises(SettingsError, match="shipped scenarios are agency-backlog"):
        scenario_path("no-such-scenario")
