"""The backtest's pure parts: which rules it evaluates, episodes and summaries from state
changes, the diff of two runs."""

from __future__ import annotations

from datetime import datetime

import pytest

from ioc.errors import SettingsError
from ioc.resources import ALERT_RULES_DIR
from streams.alerts.backtest import alerts_of, diff, event_time_rules, rule_cost, split
from streams.alerts.rules import load_rules

RULES = load_rules(ALERT_RULES_DIR / "default.yaml")
END = datetime.fromisoformat("2026-03-02T10:00:00+07:00")


def _change(to: str, at: str, frm: str = "pending", rule: str = "portal_errors",
            portal: str = "dvc-quoc-gia") -> dict:
    return {"rule": rule, "labels": {"portal": portal}, "from": frm, "to": to,
            "at": f"2026-03-02T{at}:00+07:00", "value": 0.2}


def test_rules_on_wall_time_are_left_out_and_named():
    kept, left = event_time_rules(RULES)
    assert "watchdog" in left and "consumer_lag" in left and "dead_letters" in left
    assert "link_heartbeat_missing" in kept.rules and not set(left) & set(kept.rules)
    only_pipeline = RULES.model_copy(update={"rules": {n: RULES.rules[n] for n in left}})
    with pytest.raises(SettingsError, match="no event-time rule"):
        event_time_rules(only_pipeline)


def test_rules_split_over_workers_each_once_in_file_order_and_balanced():
    kept, _ = event_time_rules(RULES)
    names = list(kept.rules)
    assert [list(p.rules) for p in split(kept, 1)] == [names]
    for workers in (2, 3, len(names), len(names) + 5):
        parts = split(kept, workers)
        assert len(parts) == min(workers, len(names))
        got = [n for p in parts for n in p.rules]
        assert sorted(got) == sorted(names)  # each rule in exactly one part
        for p in parts:  # each part keeps the file's order and its settings
            assert list(p.rules) == [n for n in names if n in p.rules]
            assert p.evaluation == kept.evaluation and p.flapping == kept.flapping
        loads = [sum(rule_cost(r) for r in p.rules.values()) for p in parts]
        # greedy onto the lightest: no part heavier than another by more than one rule
        assert max(loads) - min(loads) <= max(rule_cost(r) for r in kept.rules.values())
    # the heaviest (the rules over heartbeats) do not all land on one worker
    heavy = {n for n, r in kept.rules.items() if rule_cost(r) > 1}
    assert all(heavy - set(p.rules) for p in split(kept, 2))


def test_episodes_and_summary_count_what_fired_and_for_how_long():
    changes = [_change("pending", "09:00", frm="inactive"), _change("firing", "09:02"),
               _change("resolved", "09:12", frm="firing"),
               _change("firing", "09:40", frm="resolved"),  # a second episode, still firing
               _change("firing", "09:50", portal="mot-cua-dien-tu", frm="pending")]
    alerts, summary = alerts_of(changes, END)
    assert [len(a["changes"]) for a in alerts] == [4, 1]
    assert alerts[0]["episodes"] == [
        {"starts_at": "2026-03-02T09:02:00+07:00", "ends_at": "2026-03-02T09:12:00+07:00"},
        {"starts_at": "2026-03-02T09:40:00+07:00", "ends_at": None}]
    # 10 min + 20 min (open until the end) + 10 min for the other portal
    assert summary == {"portal_errors": {"fired": 3, "firing_seconds": 2400.0}}


def test_the_diff_lists_episodes_only_one_run_has():
    ours, _ = alerts_of([_change("firing", "09:02"), _change("firing", "09:05",
                                                             rule="portal_slow")], END)
    theirs, _ = alerts_of([_change("firing", "09:02")], END)
    assert diff(ours, theirs) == {"only_with_rules": [
        {"rule": "portal_slow", "labels": {"portal": "dvc-quoc-gia"},
         "starts_at": "2026-03-02T09:05:00+07:00", "ends_at": None}], "only_with_against": []}
