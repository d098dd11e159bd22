"""Builds the Dash app of the wall and serves it (waitress; never Flask's debug server).

The shell around every page: header with navigation (hidden in kiosk mode), the live/replay
marker, the database-lost and server-lost banners, the kiosk playlist and the heartbeat each
open wall sends. Login, security headers, /healthz and the token-protected /metrics are plain
Flask routes on the same server.
"""

from __future__ import annotations

import html as html_text
import logging
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html
from dash.exceptions import CallbackException
from flask import Flask, Response, has_request_context, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from ioc.calendar import settings_calendar
from ioc.errors import SettingsError
from ioc.province import Province, load_province
from ioc.resources import shipped_path
from ioc.settings import Settings
from ioc_dashboard.actions import ActionError, HeartbeatBook, Operator
from ioc_dashboard.auth import (
    client_address,
    current_user,
    hash_password,
    is_secure,
    new_token,
    token_hash,
    verify_password,
)
from ioc_dashboard.config import WallConfig, load_wall_config, pipeline_rules
from ioc_dashboard.context import View, WallContext
from ioc_dashboard.data import WallData
from ioc_dashboard.figures import latest_run, replay_clock
from ioc_dashboard.i18n import CATALOGUE, LANGUAGES, format_float, format_time, t
from ioc_dashboard.limits import LoginLimiter
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
    _register_server(app, ctx)
    return app


def _register_shell(app: Dash, ctx: WallContext, book: HeartbeatBook) -> None:
    settings = ctx.settings

    @app.callback([Output("wall-nav", "children"), Output("wall-nav", "className"),
                   Output("mode-badge", "children"), Output("replay-banner", "children"),
                   Output("db-banner", "children"), Output("server-ok", "data"),
                   Output("kiosk-tick", "disabled"), Output("kiosk-tick", "interval"),
                   Output("wall-root", "className"), Output("wall-title", "children")],
                  Input("tick", "n_intervals"), Input("url", "pathname"), Input("url", "search"),
                  State("wall-id", "data"))
    def shell(_n: int | None, path: str | None, search: str | None,
              wall_id: str | None) -> list:
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
        return [_nav(view, path or "/"), "wall-nav" + (" d-none" if view.kiosk else ""),
                badge, notice, banner, ctx.clock().isoformat(), not view.kiosk,
                int(every * 1000), " ".join(classes), t("title", lang)]

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


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # the kiosk may show the wall in a frame of the same site; nobody else may frame it
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

LOGIN_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<title>{title}</title><link rel="stylesheet" href="/assets/00-bootswatch-darkly.min.css">
<link rel="stylesheet" href="/assets/10-wall.css"></head><body class="login-page">
<form method="post" action="/login" class="login-form card card-body">
<h1>{title}</h1>{error}
<label for="username">{user}</label><input class="form-control" id="username" name="username"
 autocomplete="username" required maxlength="64">
<label for="password">{password}</label><input class="form-control" id="password"
 name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}">
<button class="btn btn-primary mt-3" id="login-submit" type="submit">{login}</button>
</form></body></html>"""


# What a browser sends for each property the wall's callbacks read (anything else is not
# the wall's own page talking): clicks and ticks are counts, addresses and choices text or
# numbers. `children` is only ever a trigger here, its value unused.
CALLBACK_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "n_clicks": (int, type(None)), "n_intervals": (int, type(None)),
    "pathname": (str, type(None)), "search": (str, type(None)), "data": (str, type(None)),
    "value": (str, int, float, type(None)),
}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not (target or "/").startswith("/"):
        return "/"
    return target or "/"


def _register_server(app: Dash, ctx: WallContext) -> None:
    settings = ctx.settings
    server = app.server
    server.secret_key = settings.wall_secret or secrets.token_hex(32)
    # the cookie only names a server-side session (wall_sessions); it expires with it
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                         SESSION_COOKIE_NAME="ioc_wall",
                         PERMANENT_SESSION_LIFETIME=timedelta(
                             seconds=settings.wall_session_max_seconds))
    server.session_interface = _SessionCookies(settings)
    limiter = LoginLimiter()
    # an unknown user name costs the same scrypt as a real one: no timing tells them apart
    decoy = hash_password(secrets.token_hex(16))
    def csp() -> str:
        # computed late: Dash adds its inline scripts (pages' title setter) at first request
        return "; ".join([
            "default-src 'self'",
            "script-src 'self' " + " ".join(app.csp_hashes()),
            "style-src 'self' 'unsafe-inline'",  # plotly and dash set inline styles
            "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
            "object-src 'none'", "base-uri 'self'", "form-action 'self'",
            "frame-ancestors 'self'",
        ])

    open_paths = ("/login", "/healthz", "/metrics", "/assets/", "/_dash-component-suites/",
                  "/_favicon.ico")

    @server.before_request
    def protect() -> Any:
        if settings.wall_view != "login" or request.path.startswith(open_paths):
            return None
        if current_user(request, settings, ctx.operator):
            return None
        if settings.wall_proxy_user_header:  # the proxy authenticates: a login form cannot
            return Response(t("login.proxy", settings.wall_language), status=401)
        if request.method == "GET" and not request.path.startswith("/_dash"):
            return redirect("/login?next=" + request.full_path.rstrip("?"))
        return Response(t("http.login_required", settings.wall_language), status=401)

    @server.before_request
    def callback_shape() -> Any:
        """A callback request is checked at the edge: an object naming a server callback this
        wall has, with lists of {id, property} inputs. Anything else is the client's mistake
        (400), not an error deep in Dash (500 and a traceback in the log)."""
        if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
            return None
        body = request.get_json(silent=True)
        if not (isinstance(body, dict) and isinstance(body.get("output"), str)  # a server-
                and "callback" in app.callback_map.get(body["output"], {})):  # side callback
            return Response("bad callback request", status=400)
        for part in ("inputs", "state", "changedPropIds", "outputs"):
            if not isinstance(body.get(part, []), list | dict):
                return Response("bad callback request", status=400)
        items = []
        for item in body.get("inputs", []) + body.get("state", []):
            # a pattern-matching input is a list of them
            items += item if isinstance(item, list) else [item]
        for item in items:
            if not (isinstance(item, dict) and "id" in item and "property" in item):
                return Response("bad callback request", status=400)
            allowed = CALLBACK_VALUE_TYPES.get(item["property"])
            value = item.get("value")
            if allowed is not None and (not isinstance(value, allowed)
                                        or isinstance(value, bool) and bool not in allowed):
                return Response(f"bad callback request: {item['property']}", status=400)
        return None

    @server.errorhandler(CallbackException)
    def bad_callback(exc: CallbackException) -> Any:
        # Dash's own checks of a callback request (outputs, inputs) that does not fit the
        # callback: the client's mistake, answered as such
        log.info("refused a callback request: %s", exc)
        return Response("bad callback request", status=400)

    @server.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", csp())
        return response

    @server.get("/healthz")
    def healthz() -> Any:
        ok = ctx.live.ping()
        return jsonify(ok=ok, database="reachable" if ok else "unreachable"), 200 if ok else 503

    @server.get("/metrics")
    def metrics() -> Any:
        token = settings.wall_metrics_token
        if not token:
            return Response(t("http.not_found", settings.wall_language), status=404)
        if not secrets.compare_digest(request.headers.get("Authorization", ""),
                                      f"Bearer {token}"):
            return Response(t("http.unauthorized", settings.wall_language), status=401)
        snap = ctx.live.snapshot()
        lines = [
            "# HELP ioc_wall_reads_total Snapshot reads of the database (shared by all walls).",
            "# TYPE ioc_wall_reads_total counter", f"ioc_wall_reads_total {ctx.live.reads}",
            "# HELP ioc_wall_statements_total Statements the wall ran on the database.",
            "# TYPE ioc_wall_statements_total counter",
            f"ioc_wall_statements_total {ctx.live.statements}",
            # base units, as Prometheus names them (promtool refuses _ms)
            "# HELP ioc_wall_read_seconds Duration of the newest snapshot read.",
            "# TYPE ioc_wall_read_seconds gauge",
            f"ioc_wall_read_seconds {(snap.read_ms or 0) / 1000:g}",
            "# HELP ioc_wall_database_up 1 when the newest read succeeded.",
            "# TYPE ioc_wall_database_up gauge",
            f"ioc_wall_database_up {0 if snap.lost_since else 1}",
        ]
        return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")

    def login_page(lang: str, error: str = "", next_path: str = "/", status: int = 200) -> Any:
        body = LOGIN_PAGE.format(
            lang=lang, title=html_text.escape(t("login", lang)),
            error=f'<div class="alert alert-danger" id="login-error">{html_text.escape(error)}'
                  "</div>" if error else "",
            user=t("login.user", lang), password=t("login.password", lang),
            next=html_text.escape(next_path), login=t("login", lang))
        return Response(body, status=status, mimetype="text/html")

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        lang = settings.wall_language
        if request.method == "GET":
            return login_page(lang, next_path=_safe_next(request.args.get("next")))
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        next_path = _safe_next(request.form.get("next"))
        client = client_address(request, settings)
        wait = limiter.retry_after(username, client)
        if wait is not None:
            _refused(username, client, "too many failures")
            page = login_page(lang, t("login.wait", lang, minutes=max(1, math.ceil(wait / 60))),
                              next_path, 429)
            page.headers["Retry-After"] = str(math.ceil(wait))
            return page
        found = None
        if ctx.operator is not None and username:
            try:
                found = ctx.operator.password_hash(username)
            except ActionError as exc:
                log.warning("login lookup failed: %s", exc)
        right = verify_password(password, found[1] if found else decoy) and found is not None
        token = new_token()
        if right:
            try:
                right = ctx.operator.session_start(username, token_hash(token),
                                                   settings.wall_session_max_seconds, client)
            except ActionError as exc:
                log.warning("login session failed: %s", exc)
                right = False
        if not right:
            limiter.failed(username, client)
            _refused(username, client, "wrong user name or password")
            return login_page(lang, t("login.failed", lang), next_path, 401)
        limiter.succeeded(username)
        session.clear()
        session["sid"] = token
        session.permanent = True  # the cookie expires with the session's absolute limit
        return redirect(next_path)

    def _refused(username: str, client: str, reason: str) -> None:
        log.warning("login refused for %r from %s: %s", username, client, reason)
        if ctx.operator is not None:
            try:
                ctx.operator.login_refused(username, client, reason)
            except ActionError as exc:
                log.warning("could not audit a refused login: %s", exc)

    @server.get("/logout")
    def logout() -> Any:
        token = session.get("sid")
        if isinstance(token, str) and ctx.operator is not None:
            try:
                ctx.operator.session_end(token_hash(token))
            except ActionError as exc:
                log.warning("logout could not end the session: %s", exc)
        session.clear()
        return redirect("/")


class _SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the wall is reached over TLS (directly
    or through a trusted proxy that says so), whatever the configuration file says."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def get_cookie_secure(self, app: Flask) -> bool:
        return has_request_context() and is_secure(request, self.settings)


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
