"""Replay status: every `ioc replay` run (recording, speed, progress in event time) and a
link to the replay wall, where every page carries the PHÁT LẠI / REPLAY marker."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html

from ioc_dashboard.components import updated_line
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import ReplayRun
from ioc_dashboard.i18n import format_float, format_int, format_time, t

PATH = "/replay"


def layout(ctx: WallContext, lang: str) -> html.Div:
    return html.Div([
        html.Div(t("page.replay", lang), className="page-title"),
        html.Div(id="replay-runs"),
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


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    @app.callback([Output("replay-runs", "children"), Output("replay-updated", "children")],
                  Input("tick", "n_intervals"), State("url", "search"))
    def refresh(_n: int | None, search: str | None) -> list:
        view = ctx.view(search)
        snap = ctx.live.snapshot()  # the live reader sees the replay schema's runs too
        return [render(snap.replay_runs, view.lang, view.query(source="replay")),
                updated_line(snap.read_at, view.lang)]
