"""Builds the Dash app of the wall and serves it (waitress; never Flask's debug server).

The shell around every page: header with navigation (hidden in kiosk mode), the live/replay
marker, the database-lost and server-lost banners, the kiosk playlist and the heartbeat each
open wall sends. On the same server, as plain Flask routes: the login and its sessions
(`login.py`), the checks of every request and the security headers (`guard.py`), /healthz
and the token-protected /metrics (`probes.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from ioc.calendar import settings_calendar
from ioc.errors import SettingsError
from ioc.province import Province, load_province
from ioc.resources import shipped_path
from ioc.settings import Settings
from ioc_dashboard import guard, login, probes
from ioc_dashboard.actions import HeartbeatBook, Operator
from ioc_dashboard.config import WallConfig, load_wall_config, pipeline_rules
from ioc_dashboard.context import View, WallContext
from ioc_dashboard.data import WallData
from ioc_dashboard.figures import latest_run, replay_clock
from ioc_dashboard.i18n import CATALOGUE, LANGUAGES, format_float, format_time, t
from ioc_dashboard.pages import alerts, feeds, overview, replay

log = logging.getLogger(__name__)

ASSETS = shipped_path("ioc_dashboard", "assets")

# name -> (path, layout(ctx, lang), register_callbacks(app, ctx))
PAGES: dict[str, tuple[str, Callable, Callable]] = {
    "overview": (overview.PATH, overview.layout, overview.register_callbacks),
    **{name: (path, lay, lambda app, ctx: None) for name, (path, lay, _, _) in feeds.PAGES.items()},
    "alerts": (alerts.PATH, alerts.layout, alerts.register_callbacks),
    "replay": (replay.PATH, replay.layout, replay.register_callbacks),
}


def kiosk_playlist(settings: Settings) -> list[str]:
    """The kiosk pages' paths; an unknown page name stops start-up naming the setting."""
    names = settings.kiosk_pages.split(",")
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        raise SettingsError(f"IOC_KIOSK_PAGES={settings.kiosk_pages!r}: unknown page "
                            f"{unknown[0]!r} (pages are {', '.join(PAGES)})")
    return [PAGES[n][0] for n in names]


def _nav(view: View, path: str) -> list:
    items = []
    for name, (page_path, _, _) in PAGES.items():
        items.append(dbc.NavItem(dbc.NavLink(
            t(f"page.{name}", view.lang), href=page_path + view.query(), active=page_path == path,
            id=f"nav-{name}")))
    other = "en" if view.lang == "vi" else "vi"
    items.append(dbc.NavItem(dbc.NavLink(t("language.other", view.lang),
                                         href=path + view.query(lang=other), id="nav-lang")))
    return items


def _shell(settings: Settings, lang: str) -> html.Div:
    return html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="wall-id", storage_type="local"),
        dcc.Store(id="server-ok"),
        dcc.Store(id="wall-labels", data={k: {lg: CATALOGUE[k][lg] for lg in LANGUAGES}
                                          for k in ("server_lost",)}),
        dcc.Store(id="kiosk-playlist", data=kiosk_playlist(settings)),
        dcc.Interval(id="tick", interval=int(settings.refresh_seconds * 1000)),
        dcc.Interval(id="kiosk-tick", interval=int(settings.kiosk_seconds * 1000), disabled=True),
        dcc.Interval(id="watchdog", interval=2000),
        html.Header([
            html.H1(t("title", lang), className="wall-title", id="wall-title"),
            dbc.Nav(id="wall-nav", pills=True, className="wall-nav"),
            html.Div(id="replay-banner"),
            html.Div(id="mode-badge", className="mode-badge"),
        ], className="wall-header"),
        # over the foot of the page, never pushing a page off the screen
        html.Div([html.Div(id="db-banner"), html.Div(id="server-banner")], className="banners"),
        html.Div(dash.page_container, className="wall-page"),
    ], id="wall-root", lang=lang, className="wall")


def create_app(settings: Settings, data: WallData, *, province: Province | None = None,
               replay_data: WallData | None = None, operator: Operator | None = None,
               replay_operator: Operator | None = None, config: WallConfig | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC),
               heartbeats: HeartbeatBook | None = None) -> Dash:
    """The wall app; readers and the operator path are handed in (tests build their own)."""
    lang = settings.wall_language
    ctx = WallContext(settings, province or load_province(settings.province_file),
                      config or load_wall_config(), data, replay_data, operator,
                      replay_operator, clock, settings_calendar(settings),
                      pipeline_rules=pipeline_rules(settings.alert_rules))
    for reader in (data, replay_data):  # how long resolved alerts stay listed: the wall file's
        if reader is not None:
            reader.resolved_window = timedelta(hours=ctx.config.resolved_alerts_hours)
    book = heartbeats or HeartbeatBook()
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        title=t("title", lang),
        update_title=None,
        serve_locally=True,
        suppress_callback_exceptions=True,
    )
    # the page's language for screen readers and the browser (a ?lang= view changes it in
    # 20-wall.js)
    app.index_string = app.index_string.replace("<html>", f'<html lang="{lang}">', 1)
    for name, (path, page_layout, register) in PAGES.items():
        def make(page_layout: Callable = page_layout) -> Callable:
            def page(lang: str | None = None, **_query: Any) -> html.Div:
                return page_layout(ctx, lang if lang in LANGUAGES else settings.wall_language)
            return page
        dash.register_page(name, path=path, name=t(f"page.{name}", lang), layout=make(),
                           title=t("title", lang))
        register(app, ctx)
    feeds.register_callbacks(app, ctx)
    app.layout = _shell(settings, lang)
    _register_shell(app, ctx, book)
    guard.register(app, ctx)
    probes.register(app.server, ctx)
    login.register(app.server, ctx)
    return app


def _register_shell(app: Dash, ctx: WallContext, book: HeartbeatBook) -> None:
    settings = ctx.settings

    @app.callback(output={
        "nav": Output("wall-nav", "children"), "nav_class": Output("wall-nav", "className"),
        "badge": Output("mode-badge", "children"), "notice": Output("replay-banner", "children"),
        "banner": Output("db-banner", "children"), "server_ok": Output("server-ok", "data"),
        "kiosk_off": Output("kiosk-tick", "disabled"),
        "kiosk_ms": Output("kiosk-tick", "interval"),
        "root_class": Output("wall-root", "className"),
        "title": Output("wall-title", "children")},
        inputs=[Input("tick", "n_intervals"), Input("url", "pathname"), Input("url", "search")],
        state=[State("wall-id", "data")])
    def shell(_n: int | None, path: str | None, search: str | None,
              wall_id: str | None) -> dict[str, Any]:
        view = ctx.view(search)
        lang = view.lang
        snap, now = ctx.read(view)
        live = ctx.live.snapshot() if view.replay else snap
        run = latest_run(live)
        if view.replay:
            badge: Any = html.Div([
                html.Div(t("replay.marker", lang), className="replay-marker", id="replay-marker"),
                html.Div(t("replay.detail", lang, recording=run.recording if run else "—",
                           at=format_time(replay_clock(snap, now), lang)),
                         className="replay-detail", id="replay-detail"),
            ])
        else:
            badge = dbc.Badge(t("live", lang), color="success", className="live-badge",
                              id="live-badge")
            if snap.backfilled is not None:  # the data begins with a simulated history
                since, until = snap.backfilled
                badge = html.Div([badge, html.Div(t(
                    "backfill.marker", lang,
                    hours=format_float((until - since).total_seconds() / 3600, lang, 0),
                    until=format_time(until, lang)),
                    className="backfill-marker", id="backfill-marker")])
        notice = None
        if not view.replay and run is not None and run.active:
            notice = dbc.Alert(html.A(t("replay.running_notice", lang, recording=run.recording),
                                      href="/replay" + view.query(), className="alert-link"),
                               color="warning", className="replay-notice", id="replay-notice")
        banner = None
        if snap.lost_since is not None:
            banner = dbc.Alert(t("connection_lost", lang,
                                 since=format_time(snap.lost_since, lang)),
                               color="danger", className="banner-lost", id="connection-lost")
        if wall_id:
            book.beat(wall_id, path or "/", view.kiosk, ctx.clock())
            book.flush_if_due(ctx.operator)
        every = view.every or settings.kiosk_seconds
        classes = ["wall"]
        if view.replay:
            classes.append("replay-mode")
        if view.kiosk:
            classes.append("kiosk")
        if snap.lost_since is not None:
            classes.append("db-lost")
        return {"nav": _nav(view, path or "/"),
                "nav_class": "wall-nav" + (" d-none" if view.kiosk else ""),
                "badge": badge, "notice": notice, "banner": banner,
                "server_ok": ctx.clock().isoformat(), "kiosk_off": not view.kiosk,
                "kiosk_ms": int(every * 1000), "root_class": " ".join(classes),
                "title": t("title", lang)}

    app.clientside_callback(ClientsideFunction("wall", "wallId"), Output("wall-id", "data"),
                            Input("url", "search"), State("wall-id", "data"))
    app.clientside_callback(ClientsideFunction("wall", "rotate"), Output("url", "pathname"),
                            Input("kiosk-tick", "n_intervals"), State("url", "pathname"),
                            State("kiosk-playlist", "data"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("wall", "watchdog"),
                            Output("server-banner", "children"),
                            Input("watchdog", "n_intervals"), Input("server-ok", "data"),
                            State("wall-labels", "data"), State("url", "search"),
                            State("tick", "interval"))


def serve(settings: Settings) -> None:
    """Run the wall until interrupted."""
    from waitress import serve as waitress_serve

    app = create_app(settings, WallData.from_settings(settings),
                     replay_data=WallData.from_settings(settings, replay=True),
                     operator=Operator.from_settings(settings),
                     replay_operator=Operator.from_settings(settings, replay=True))
    log.info("wall on http://%s:%d", settings.dashboard_host, settings.dashboard_port)
    waitress_serve(app.server, host=settings.dashboard_host, port=settings.dashboard_port,
                   threads=8, ident="ioc-wall")
