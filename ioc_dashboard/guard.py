"""What every request to the wall passes: the login requirement (when the wall asks for one),
the check of a callback request's shape at the edge, and the security headers of every
answer (the content security policy with Dash's own inline scripts' hashes)."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash
from dash.exceptions import CallbackException
from flask import Response, redirect, request

from ioc_dashboard.auth import current_user
from ioc_dashboard.context import WallContext
from ioc_dashboard.i18n import t

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # the kiosk may show the wall in a frame of the same site; nobody else may frame it
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# What a browser sends for each property the wall's callbacks read (anything else is not
# the wall's own page talking): clicks and ticks are counts, addresses and choices text or
# numbers. `children` is only ever a trigger here, its value unused.
CALLBACK_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "n_clicks": (int, type(None)), "n_intervals": (int, type(None)),
    "pathname": (str, type(None)), "search": (str, type(None)), "data": (str, type(None)),
    "value": (str, int, float, type(None)),
}

# reached without a login: the login itself, probes, and what the login page loads
OPEN_PATHS = ("/login", "/healthz", "/metrics", "/assets/", "/_dash-component-suites/",
              "/_favicon.ico")


def content_security_policy(app: Dash) -> str:
    # computed late: Dash adds its inline scripts (pages' title setter) at first request
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' " + " ".join(app.csp_hashes()),
        "style-src 'self' 'unsafe-inline'",  # plotly and dash set inline styles
        "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'",
        "frame-ancestors 'self'",
    ])


def callback_refusal(app: Dash, body: Any) -> Response | None:
    """A callback request is checked at the edge: an object naming a server callback this
    wall has, with lists of {id, property} inputs. Anything else is the client's mistake
    (400), not an error deep in Dash (500 and a traceback in the log)."""
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


def register(app: Dash, ctx: WallContext) -> None:
    """The checks before every request and the headers after it, on the wall's server."""
    settings = ctx.settings
    server = app.server

    @server.before_request
    def protect() -> Any:
        if settings.wall_view != "login" or request.path.startswith(OPEN_PATHS):
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
        if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
            return None
        return callback_refusal(app, request.get_json(silent=True))

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
        response.headers.setdefault("Content-Security-Policy", content_security_policy(app))
        return response
