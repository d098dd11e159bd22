"""The replay page's pure parts: which backtest run the drop-down asks for, its options."""

from datetime import UTC, datetime

from ioc_dashboard.data import BacktestChoice
from ioc_dashboard.pages.replay import choices, chosen_run, render_backtest


def test_only_a_run_id_is_a_choice():
    assert chosen_run("12") == 12
    for value in (None, "", "latest", "-1", "1.5", "١٢", "9" * 19, "1; DROP TABLE x"):
        assert chosen_run(value) is None, value


def test_options_offer_the_latest_then_each_run():
    at = datetime(2026, 3, 2, 3, 4, tzinfo=UTC)
    options = choices([BacktestChoice(7, "/tmp/ngay.jsonl.gz", at),
                       BacktestChoice(3, "2026-03-01T00:00:00+00:00 – 2026-03-02", at)], "en")
    assert [o["value"] for o in options] == ["latest", "7", "3"]
    assert options[0]["label"] == "Latest"
    assert options[1]["label"].startswith("7 · ngay.jsonl.gz · ")


def test_a_run_asked_for_and_missing_is_named():
    assert "42" in str(render_backtest(None, "en", 42).children)
    assert render_backtest(None, "en").children == "No backtest yet (ioc backtest)"
