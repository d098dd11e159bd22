"""Overview wall: per feed, events stored and how fresh the newest one is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html

from ioc.contract import FEEDS
from ioc_dashboard.data import Snapshot, WallData
from ioc_dashboard.i18n import format_age, format_int, format_time, t

PATH = "/"


def _tile(feed: str, lang: str) -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([
        html.Div(t(f"feed.{feed}", lang), className="tile-label"),
        html.Div("—", id=f"rows-{feed}", className="tile-value", **{"data-feed": feed}),
        html.Div(t("rows_stored", lang), className="tile-label"),
        html.Div(t("no_data", lang), id=f"fresh-{feed}", className="tile-fresh mt-2"),
    ]), className="feed-tile h-100"), md=4, className="mb-3")


def layout(lang: str, refresh_seconds: float) -> html.Div:
    return html.Div([
        html.Div(id="overview-banner"),
        dbc.Row([_tile(feed, lang) for feed in FEEDS], className="g-3"),
        html.Div([
            html.Span(t("dead_letters", lang) + ": ", className="tile-label"),
            html.Span("—", id="dead-letters", className="fs-4"),
        ], className="mt-2"),
        html.Div(id="overview-updated", className="text-secondary mt-2"),
        dcc.Interval(id="overview-tick", interval=int(refresh_seconds * 1000)),
    ], className="p-3")


def render(snapshot: Snapshot, now: datetime, lang: str) -> list:
    """The figures of the overview for one snapshot (pure, unit-tested)."""
    by_feed = {f.feed: f for f in snapshot.feeds}
    rows, fresh = [], []
    for feed in FEEDS:
        stat = by_feed.get(feed)
        rows.append(format_int(stat.rows_stored, lang) if stat else "—")
        if stat is None or stat.newest_event_at is None:
            fresh.append(t("no_data", lang))
        else:
            age = (now - stat.newest_event_at).total_seconds()
            fresh.append(f"{t('newest_event', lang)}: {format_time(stat.newest_event_at, lang)}"
                         f" ({format_age(age, lang)})")
    banner = None
    if snapshot.lost_since is not None:
        banner = dbc.Alert(t("connection_lost", lang, since=format_time(snapshot.lost_since, lang)),
                           color="danger", className="banner-lost", id="connection-lost")
    updated = (f"{t('updated_at', lang)} {format_time(snapshot.read_at, lang)}"
               if snapshot.read_at else "")
    return [*rows, *fresh, format_int(snapshot.dead_letters, lang), banner, updated]


def register_callbacks(app: Dash, data: WallData, lang: str,
                       clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    outputs = ([Output(f"rows-{feed}", "children") for feed in FEEDS]
               + [Output(f"fresh-{feed}", "children") for feed in FEEDS]
               + [Output("dead-letters", "children"), Output("overview-banner", "children"),
                  Output("overview-updated", "children")])

    @app.callback(outputs, Input("overview-tick", "n_intervals"))
    def refresh(_n: int | None) -> list:
        return render(data.snapshot(), clock(), lang)
