"""Builds the Dash app of the wall and serves it (waitress; never Flask's debug server)."""

from __future__ import annotations

import logging
from pathlib import Path

import dash
from dash import Dash, html
from flask import jsonify

from ioc.settings import Settings
from ioc_dashboard.data import WallData
from ioc_dashboard.i18n import t
from ioc_dashboard.pages import overview

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(settings: Settings, data: WallData, lang: str = "vi") -> Dash:
    """The wall app; `data` is the shared snapshot reader (tests hand in their own)."""
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
    dash.register_page("overview", path=overview.PATH, name=t("title", lang),
                       layout=overview.layout(lang, settings.refresh_seconds))
    overview.register_callbacks(app, data, lang)
    app.layout = html.Div([
        html.Header([
            html.H1(t("title", lang), className="wall-title"),
            html.Span(t("live", lang), className="wall-clock badge bg-success"),
        ], className="wall-header"),
        dash.page_container,
    ], lang=lang)

    @app.server.get("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        ok = data.ping()
        return jsonify(ok=ok, database="reachable" if ok else "unreachable"), 200 if ok else 503

    return app


def serve(settings: Settings) -> None:
    """Run the wall until interrupted."""
    from waitress import serve as waitress_serve

    app = create_app(settings, WallData.from_settings(settings))
    log.info("wall on http://%s:%d", settings.dashboard_host, settings.dashboard_port)
    waitress_serve(app.server, host=settings.dashboard_host, port=settings.dashboard_port,
                   threads=8, ident="ioc-wall")
