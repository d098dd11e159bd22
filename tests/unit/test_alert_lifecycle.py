"""The alert lifecycle as a pure state machine: pending/for, hysteresis, flapping,
fingerprints, inhibition; driven by explicit step times (no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.alerts.lifecycle import Lifecycle, Observation, fingerprint, inhibited
from streams.alerts.rules import Flapping, Inhibit

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LINK = {"link_id": "BV-01"}


def obs(value: float, threshold: float = 60, clear: float = 20) -> Observation:
    return Observation(LINK, value, value > threshold, value <= clear, threshold)


def run(values: list[float], for_seconds: float = 20, flapping: Flapping | None = None,
        step: int = 10) -> tuple[Lifecycle, list[tuple[int, str, str]]]:
    life = Lifecycle(flapping or Flapping(window_seconds=600, min_changes=4, clear_changes=1))
    out = []
    for i, v in enumerate(values):
        at = T0 + timedelta(seconds=i * step)
        for t in life.observe("link_missing", for_seconds, [obs(v)], at):
            out.append((i, t.from_state, t.to_state))
    return life, out


def test_pending_then_firing_after_for_then_resolved_only_below_clear():
    life, out = run([0, 70, 70, 70, 40, 40, 10, 10])
    # breach at step 1 -> pending; held 20 s -> firing at step 3; 40 is between clear and
    # threshold (hysteresis): still firing; resolves at 10
    assert out == [(1, "inactive", "pending"), (3, "pending", "firing"), (6, "firing", "resolved")]
    st = life.states[fingerprint("link_missing", LINK)]
    assert (st.starts_at, st.ends_at) == (T0 + timedelta(seconds=30), T0 + timedelta(seconds=60))


def test_pending_that_clears_before_for_leaves_no_alert():
    life, out = run([70, 70, 0, 0])
    assert out == [(0, "inactive", "pending"), (2, "pending", "inactive")]
    assert life.states == {}


def test_zero_for_fires_at_once_and_a_vanished_entity_resolves():
    life = Lifecycle(Flapping())
    t = life.observe("r", 0, [obs(99)], T0)
    assert [(x.from_state, x.to_state) for x in t] == [("inactive", "firing")]
    # the entity is no longer reported (e.g. removed from the province file): resolves
    t = life.observe("r", 0, [], T0 + timedelta(seconds=10))
    assert [(x.from_state, x.to_state) for x in t] == [("firing", "resolved")]


def test_flapping_holds_its_own_state_until_changes_thin_out():
    values = [99, 0, 99, 0, 99, 0, 99] + [99] * 70
    life, out = run(values, for_seconds=0, step=10,
                    flapping=Flapping(window_seconds=300, min_changes=4, clear_changes=1))
    states = [to for _, _, to in out]
    assert states[:3] == ["firing", "resolved", "firing"]
    assert "flapping" in states
    first_flap = states.index("flapping")
    assert out[first_flap][0] == 3  # the 4th change in the window
    # no firing/resolved change is reported while flapping, then it settles on firing
    assert states[first_flap + 1:] == ["firing"]
    settle_step = out[first_flap + 1][0]
    # it leaves once at most one change (step 6) is left in the 300 s window: step 5 + 30
    assert settle_step == 35


def test_fingerprint_is_rule_plus_labels():
    assert fingerprint("a", {"x": "1", "y": "2"}) == fingerprint("a", {"y": "2", "x": "1"})
    assert fingerprint("a", {"x": "1"}) != fingerprint("b", {"x": "1"})
    assert fingerprint("a", {"x": "1"}) != fingerprint("a", {"x": "2"})


def test_state_survives_a_json_round_trip():
    life, _ = run([70, 70, 70])
    again = Lifecycle.from_json(life.flapping, life.to_json())
    assert again.to_json() == life.to_json()
    out = again.observe("link_missing", 20, [obs(0)], T0 + timedelta(seconds=40))
    assert [(t.from_state, t.to_state) for t in out] == [("firing", "resolved")]


def test_inhibition_by_source_with_equal_labels():
    life = Lifecycle(Flapping())
    life.observe("feed_stale", 0, [Observation({"feed": "telemedicine"}, 1, True, False)], T0)
    life.observe("link_missing", 0, [Observation({"link_id": "A"}, 1, True, False),
                                     Observation({"link_id": "B"}, 1, True, False)], T0)
    life.observe("portal_errors", 0, [Observation({"portal": "p1"}, 1, True, False)], T0)
    life.observe("backlog", 0, [Observation({"portal": "p1", "agency": "x"}, 1, True, False),
                                Observation({"portal": "p2", "agency": "y"}, 1, True, False)], T0)
    rules = [Inhibit(source={"alertname": "feed_stale", "feed": "telemedicine"},
                     target={"alertname": "link_missing"}),
             Inhibit(source={"alertname": "portal_errors"}, target={"alertname": "backlog"},
                     equal=["portal"])]
    result = inhibited(life.states, rules, {})
    stale = fingerprint("feed_stale", {"feed": "telemedicine"})
    assert result[fingerprint("link_missing", {"link_id": "A"})] == stale
    assert result[fingerprint("link_missing", {"link_id": "B"})] == stale
    assert result[fingerprint("backlog", {"portal": "p1", "agency": "x"})] == \
        fingerprint("portal_errors", {"portal": "p1"})
    assert fingerprint("backlog", {"portal": "p2", "agency": "y"}) not in result
    assert stale not in result
    # once the source resolves, nothing is inhibited by it
    life.observe("feed_stale", 0, [], T0 + timedelta(seconds=10))
    assert stale not in inhibited(life.states, rules, {}).values()


def test_shipped_inhibitions_start_before_their_targets_fire():
    """A source that fires after its targets would let them be notified first (group_wait
    is shorter than the difference): the shipped staleness sources must fire first."""
    from ioc.resources import ALERT_RULES_DIR
    from streams.alerts.rules import load_rules

    rules = load_rules(ALERT_RULES_DIR / "default.yaml")

    def fires_after(name: str) -> float:
        rule = rules.rules[name]
        return getattr(rule, "silent_seconds", 0) + rule.for_seconds

    checked = 0
    for inhibit in rules.inhibit:
        source = rules.rules[inhibit.source["alertname"]]
        target = rules.rules[inhibit.target["alertname"]]
        if hasattr(source, "silent_seconds") and hasattr(target, "silent_seconds"):
            assert fires_after(inhibit.source["alertname"]) \
                < fires_after(inhibit.target["alertname"]), inhibit
            checked += 1
    assert checked >= 1  # the stale telemedicine feed over the per-link absence alerts


def test_messages_use_the_language_s_numbers_and_names():
    from streams.alerts.engine import render

    template_vi = "{province_name}, thanh toán {category_name}: {value:.1%} ({threshold:,.0f})"
    labels = {"category": "tuition"}
    assert render(template_vi, labels, 0.969, 12500, "Thanh Hóa", "vi") \
        == "Thanh Hóa, thanh toán Học phí: 96,9% (12.500)"
    assert render("{province_name}, {category_name}: {value:.1%} ({threshold:,.0f})", labels,
                  0.969, 12500, "Thanh Hoa", "en") == "Thanh Hoa, Tuition: 96.9% (12,500)"
    # a link alert names its district (its label wins over the unit code)
    link = {"hospital_name": "BV Nga Sơn", "unit": "16093", "unit_name": "Xã Nga Sơn"}
    assert render("{hospital_name} ({unit_name})", link, None, None) \
        == "BV Nga Sơn (Xã Nga Sơn)"
