"""Replay status: every `ioc replay` run (recording, speed, progress in event time) and a
link to the replay wall, where every page carries the PHÁT LẠI / REPLAY marker; below, an
`ioc backtest` run (the latest, or one chosen by its id): per rule, how often and how long it
fired, its episodes on a timeline, and what a second rules file fires differently."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html

from ioc_dashboard.components import updated_line
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import BacktestChoice, BacktestRun, ReplayRun
from ioc_dashboard.i18n import format_float, format_int, format_time, t

PATH = "/replay"
LATEST = "latest"  # the drop-down's first choice: the newest finished backtest


def layout(ctx: WallContext, lang: str) -> html.Div:
    return html.Div([
        html.Div(t("page.replay", lang), className="page-title"),
        html.Div(id="replay-runs"),
        html.Div([html.Label(t("backtest.choose", lang), htmlFor="backtest-choose",
                             className="me-2"),
                  dbc.Select(id="backtest-choose", value=LATEST, options=[
                      {"label": t("backtest.latest", lang), "value": LATEST}],
                             className="backtest-choose")],
                 className="d-flex align-items-center mt-3"),
        html.Div(id="backtest-run", className="mt-2"),
        html.Div(id="replay-updated", className="text-secondary mt-2 updated"),
    ], className="p-3 page-replay")


def render(runs: tuple[ReplayRun, ...], lang: str, query: str) -> Any:
    """The runs table, newest first (pure)."""
    if not runs:
        return html.Div(t("replay.none", lang), className="text-secondary", id="replay-none")
    rows = []
    for r in runs:
        speed = (t("replay.speed_max", lang) if r.speed is None
                 else "×" + format_float(r.speed, lang, 1))
        span = (f"{format_time(r.first_event_at, lang)} → {format_time(r.last_event_at, lang)}"
                if r.first_event_at and r.last_event_at else "—")
        state = (t("replay.sending", lang) if r.active
                 else t("replay.finished", lang, at=format_time(r.finished_at, lang)))
        rows.append(html.Tr([html.Td(str(r.run_id)), html.Td(r.recording), html.Td(speed),
                             html.Td(format_time(r.started_at, lang)),
                             html.Td(format_int(r.events_sent, lang)), html.Td(span),
                             html.Td(state)], id=f"replay-run-{r.run_id}",
                            className="run-active" if r.active else ""))
    return html.Div([
        dbc.Table([html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
            "replay.run", "replay.recording", "replay.speed", "replay.started", "replay.events",
            "replay.event_range", "replay.state")])), html.Tbody(rows)],
            className="wall-table", size="sm", id="replay-table"),
        html.A(t("replay.view", lang), href="/" + query, className="btn btn-warning",
               id="open-replay-wall"),
    ])


# the diff's episodes listed on the page (all of them are in `ioc backtest --json`)
DIFF_SHOWN = 4


def _episode_text(rule: str, labels: dict, starts: str, ends: str | None, lang: str) -> str:
    what = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if not k.endswith("_name"))
    end = format_time(datetime.fromisoformat(ends), lang) if ends else "…"
    return f"{rule} {{{what}}} {format_time(datetime.fromisoformat(starts), lang)} → {end}"


def chosen_run(value: str | None) -> int | None:
    """The run id picked in the drop-down (None: the latest; anything else is not a run)."""
    return (int(value) if value and value.isascii() and value.isdigit() and len(value) < 19
            else None)


def choices(runs: list[BacktestChoice], lang: str) -> list[dict[str, str]]:
    """The drop-down's options: the latest, then each finished run, newest first (pure)."""
    return [{"label": t("backtest.latest", lang), "value": LATEST}] + [
        {"label": f"{r.run_id} · {Path(r.input).name} · {format_time(r.finished_at, lang)}",
         "value": str(r.run_id)} for r in runs]


def render_backtest(run: BacktestRun | None, lang: str, wanted: int | None = None) -> Any:
    """A backtest: a row per rule that fired (count, minutes, its episodes on a timeline of
    the backtested period), what was left out, the diff (pure). `wanted`: the run asked for,
    named when it is not there."""
    if run is None:
        text = (t("backtest.none", lang) if wanted is None
                else t("backtest.missing", lang, run=wanted))
        return html.Div(text, className="text-secondary", id="backtest-none")
    first, last = run.period.get("first_event"), run.period.get("last_event")
    if not first or not last:
        return html.Div(t("backtest.none", lang), className="text-secondary", id="backtest-none")
    t0, t1 = datetime.fromisoformat(first), datetime.fromisoformat(last)
    span = max((t1 - t0).total_seconds(), 1.0)
    episodes: dict[str, list] = {}
    for a in run.alerts:
        for e in a["episodes"]:
            episodes.setdefault(a["rule"], []).append((a["labels"], e["starts_at"], e["ends_at"]))
    rows = []
    for rule, s in sorted(run.summary.items()):
        marks = []
        for labels, starts, ends in episodes.get(rule, []):
            a = (datetime.fromisoformat(starts) - t0).total_seconds() / span
            b = ((datetime.fromisoformat(ends) if ends else t1) - t0).total_seconds() / span
            marks.append(html.Span(className="bt-episode", title=_episode_text(
                rule, labels, starts, ends, lang), style={
                "left": f"{100 * a:.2f}%", "width": f"{max(0.4, 100 * (b - a)):.2f}%"}))
        rows.append(html.Tr([html.Td(rule), html.Td(format_int(int(s["fired"]), lang)),
                             html.Td(format_float(s["firing_seconds"] / 60, lang, 0)),
                             html.Td(html.Div(marks, className="bt-track"),
                                     className="bt-cell")], id=f"backtest-rule-{rule}"))
    parts = [
        html.Div(t("backtest.title", lang, run=run.run_id, input=Path(run.input).name),
                 className="panel-title"),
        dbc.Table([html.Thead(html.Tr([
            html.Th(t("backtest.rule", lang)), html.Th(t("backtest.fired", lang)),
            html.Th(t("backtest.minutes", lang)),
            html.Th(t("backtest.timeline", lang, first=format_time(t0, lang),
                      last=format_time(t1, lang)))])), html.Tbody(rows)],
            className="wall-table", size="sm", id="backtest-table"),
    ]
    if run.left_out:
        parts.append(html.Div(t("backtest.left_out", lang, rules=", ".join(run.left_out)),
                              className="text-secondary"))
    if run.diff:
        ours, theirs = run.diff["only_with_rules"], run.diff["only_with_against"]
        parts.append(html.Div(t("backtest.diff", lang, against=Path(run.against or "").name,
                                only_rules=len(ours), only_against=len(theirs)),
                              className="mt-2", id="backtest-diff"))
        parts.append(html.Ul([html.Li(("− " if side is ours else "+ ") + _episode_text(
            e["rule"], e["labels"], e["starts_at"], e["ends_at"], lang))
            for side in (ours, theirs) for e in side[:DIFF_SHOWN]], className="bt-diff"))
    return html.Div(parts, id="backtest-latest")


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    backtest_schema = ctx.settings.for_backtest().db_schema

    @app.callback(output={"runs": Output("replay-runs", "children"),
                          "backtest": Output("backtest-run", "children"),
                          "choices": Output("backtest-choose", "options"),
                          "updated": Output("replay-updated", "children")},
                  inputs=[Input("tick", "n_intervals"), Input("backtest-choose", "value")],
                  state=[State("url", "search")])
    def refresh(_n: int | None, value: str | None, search: str | None) -> dict[str, Any]:
        view = ctx.view(search)
        snap = ctx.live.snapshot()  # the live reader sees the replay schema's runs too
        wanted = chosen_run(value)
        run, runs = ctx.live.backtests(backtest_schema, wanted)
        return {"runs": render(snap.replay_runs, view.lang, view.query(source="replay")),
                "backtest": render_backtest(run, view.lang, wanted),
                "choices": choices(runs, view.lang),
                "updated": updated_line(snap.read_at, view.lang)}
