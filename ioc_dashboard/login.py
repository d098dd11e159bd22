"""Who may use the wall when it asks for a login: the login form and its routes, the limit
on failed attempts, and the signed cookie that names a server-side session (the sessions
themselves live in the database, `wall_sessions`, through the operator path)."""

from __future__ import annotations

import html as html_text
import logging
import math
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, has_request_context, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from ioc.settings import Settings
from ioc_dashboard.actions import ActionError
from ioc_dashboard.auth import (
    client_address,
    hash_password,
    is_secure,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
)
from ioc_dashboard.context import WallContext
from ioc_dashboard.i18n import t
from ioc_dashboard.limits import LoginLimiter

log = logging.getLogger(__name__)

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


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect)."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not (target or "/").startswith("/"):
        return "/"
    return target or "/"


def register(server: Flask, ctx: WallContext) -> None:
    """The session cookie's settings, and `/login` and `/logout`, on the wall's server."""
    settings = ctx.settings
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
        if right and found is not None and needs_rehash(found[1]):
            try:  # an older hash: the current parameters from now on (ioc_dashboard/auth.py)
                ctx.operator.password_rehash(username, found[1], hash_password(password))
            except ActionError as exc:
                log.warning("login: could not upgrade %s's password hash: %s", username, exc)
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
