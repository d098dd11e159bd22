"""Alerts page: every live (and recently resolved) alert with its acknowledgement and silence;
logged-in operators acknowledge with a comment, silence for a chosen time, or end a silence.
Actions go through the operator path only (actions.Operator), never the read-only reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx
from flask import request

from ioc.matchers import MatcherError, parse_matchers
from ioc_dashboard.actions import ActionError
from ioc_dashboard.auth import current_user
from ioc_dashboard.components import fresh_text, pager, severity_badge, updated_line
from ioc_dashboard.config import WallConfig
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import Alert, Snapshot
from ioc_dashboard.figures import alerts_freshness
from ioc_dashboard.i18n import format_age, format_float, format_time, t

PATH = "/alerts"


def layout(ctx: WallContext, lang: str) -> html.Div:
    hours = ctx.config.silence_hours
    return html.Div([
        html.Div(t("page.alerts", lang), className="page-title"),
        html.Div(id="alerts-user", className="mb-2"),
        html.Div(id="alerts-page-fresh", className="page-fresh mb-2"),
        # the tables show the rows that fit the screen, a page at a time (`pager`)
        html.Div(html.Div(id="alerts-table"), className="fit-table panel alerts-box"),
        dbc.Card(dbc.CardBody([
            dbc.Row([
                # native selects: Dash's own drop-down hides a focusable input from screen
                # readers (axe-core: aria-hidden-focus)
                dbc.Col([html.Label(t("alert.choose", lang), htmlFor="ack-alert",
                                    className="visually-hidden"),
                         dbc.Select(id="ack-alert", placeholder=t("alert.choose", lang),
                                    className="ack-select")], lg=5),
                dbc.Col(dbc.Input(id="ack-comment", placeholder=t("alert.comment", lang),
                                  maxLength=500, type="text"), lg=4),
                dbc.Col(dbc.Button(t("alert.do_ack", lang), id="ack-button", color="primary"),
                        lg=3),
            ], className="g-2 mb-2"),
            dbc.Row([
                dbc.Col(html.Label(t("alert.silence_for", lang), htmlFor="silence-hours"),
                        width="auto", className="align-self-center"),
                dbc.Col(dbc.Select(id="silence-hours", value=str(hours[0]),
                                   options=[{"label": t("alert.hours", lang,
                                                        n=format_float(h, lang, 0)),
                                             "value": str(h)} for h in hours]), lg=2),
                dbc.Col(dbc.Input(id="silence-matchers", type="text", maxLength=500,
                                  placeholder=t("alert.matchers_hint", lang)), lg=5),
                dbc.Col(dbc.Button(t("alert.do_silence", lang), id="silence-button",
                                   color="warning"), width="auto"),
            ], className="g-2"),
            html.Div(id="action-result", className="mt-2"),
            # the silence an expire button asks to end (set in the browser: 20-wall.js)
            dcc.Store(id="expire-request"),
        ]), className="panel mt-3", id="alert-actions"),
        html.Div(t("silences", lang), className="panel-title mt-3"),
        html.Div(html.Div(id="silences-table"), className="fit-table panel silences-box"),
        html.Div(id="alerts-updated", className="text-secondary mt-2 updated"),
    ], className="p-3 page-alerts")


def _login_parts(login: str) -> list:
    """A login that may wrap after its dots (nguyen.thi.minh.khai.truc.ban), not mid-word."""
    *heads, last = login.split(".")
    return [part for head in heads for part in (head + ".", html.Wbr())] + [last]


def _age(a: Alert, now: datetime, lang: str) -> html.Td:
    """How long ago it began, the moment itself on hover (one line: more alerts fit)."""
    began = a.starts_at or a.pending_since or a.updated_at
    return html.Td(format_age((now - began).total_seconds(), lang),
                   title=format_time(began, lang), className="age")


def render(snap: Snapshot, now: datetime, lang: str, config: WallConfig,
           pipeline: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Alert table, the choice list of the action form, silences, update line, the engine's
    freshness and the table's class (grey when the engine is late) (pure). Alerts about the
    IOC itself (`pipeline` rules) come after the citizens' services', marked as such."""
    if not snap.alerts_available:
        table: Any = html.Div(t("alerts_unavailable", lang), className="text-secondary")
    elif not snap.alerts:
        table = html.Div(t("alerts_none", lang), className="no-alerts")
    else:
        rows = []
        for a in sorted(snap.alerts, key=lambda a: a.rule in pipeline):  # stable: order kept
            ack = (["✓\u00a0", *_login_parts(a.acknowledged_by), html.Br(),
                    a.ack_comment or ""] if a.acknowledged_by else "")
            about_ioc = ([html.Span(t("alert.about_ioc", lang), className="about-ioc me-2")]
                         if a.rule in pipeline else [])
            rows.append(html.Tr([
                html.Td(severity_badge(a.severity, lang)),
                html.Td([*about_ioc, a.summary(lang)]),
                html.Td(t(f"state.{a.state}", lang)
                        + (f" · {t('silenced', lang)}" if a.silenced_by is not None else ""),
                        className="state"),
                _age(a, now, lang), html.Td(ack, className="ack"),
            ], id=f"alert-row-{a.fingerprint}", className=f"sev-{a.severity} state-{a.state}"))
        table = [dbc.Table([html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
            "alert.severity", "alert.summary", "alert.state", "alert.age", "alert.ack")])),
            html.Tbody(rows)], className="wall-table", size="sm", id="alerts-list"),
            pager(lang)]
    options = [{"label": f"[{t(f'severity.{a.severity}', lang)}] {a.summary(lang)}",
                "value": a.fingerprint} for a in snap.alerts if a.active]
    if snap.silences:
        silences: Any = [dbc.Table([html.Thead(html.Tr([html.Th(t(k, lang)) for k in (
            "silence.matchers", "silence.until", "silence.by", "silence.comment")]
            + [html.Th("")])),
            html.Tbody([html.Tr([
                html.Td(", ".join(f"{m['name']}{m['op']}{m['value']}" for m in s.matchers)),
                html.Td(format_time(s.ends_at, lang)), html.Td(s.created_by), html.Td(s.comment),
                html.Td(dbc.Button(t("alert.expire", lang), id={"type": "expire", "id": s.id},
                                   size="sm", color="secondary")),
            ]) for s in snap.silences])], className="wall-table", size="sm", id="silences-list"),
            pager(lang)]
    else:
        silences = html.Div("—", className="text-secondary")
    engine = alerts_freshness(snap, config)
    late = snap.alerts_available and engine.late
    return {"table": table, "options": options, "silences": silences,
            "updated": updated_line(snap.read_at, lang),
            "fresh": fresh_text(engine, lang, of="alerts") if snap.alerts_available else "",
            "table_class": "stale" if late else ""}


def _silence_id(request: Any) -> int | None:
    """The silence an expire request ("silence:nonce", from the browser: anything may come)
    names, if any."""
    head = request.partition(":")[0] if isinstance(request, str) else ""
    return int(head) if head.isascii() and head.isdigit() and int(head) > 0 else None


def matchers_for(alert: Alert) -> list[dict[str, str]]:
    """Silence exactly this alert: its rule and every label must match."""
    return [{"name": "alertname", "op": "=", "value": alert.rule}] + [
        {"name": str(k), "op": "=", "value": str(v)} for k, v in sorted(alert.labels.items())]


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    @app.callback(output={"table": Output("alerts-table", "children"),
                          "options": Output("ack-alert", "options"),
                          "silences": Output("silences-table", "children"),
                          "updated": Output("alerts-updated", "children"),
                          "fresh": Output("alerts-page-fresh", "children"),
                          "table_class": Output("alerts-table", "className"),
                          "user": Output("alerts-user", "children")},
                  inputs=[Input("tick", "n_intervals"), Input("action-result", "children")],
                  state=[State("url", "search")])
    def refresh(_n: int | None, _result: Any, search: str | None) -> dict[str, Any]:
        view = ctx.view(search)
        if dash_ctx.triggered_id == "action-result":
            (ctx.replay if view.replay and ctx.replay else ctx.live).invalidate()
        snap, now = ctx.read(view)
        user = current_user(request, ctx.settings, ctx.operator)
        if user:
            who: Any = html.Span([t("login.as", view.lang, who=user), " · ",
                                  html.A(t("logout", view.lang), href="/logout", id="logout")])
        else:
            who = html.A(t("login.required", view.lang), href="/login?next=/alerts",
                         id="login-link", className="btn btn-outline-light")
        return {**render(snap, now, view.lang, ctx.config, ctx.pipeline_rules), "user": who}

    # An expire button's click becomes a request in a store that is never redrawn. Were the
    # buttons the server callback's input, every refresh (which redraws them) would call it
    # again, and Dash drops the reply of a call overtaken by a newer one: the silence ended
    # but the operator was never told (and the browser test waited in vain, now and then).
    app.clientside_callback(ClientsideFunction("wall", "expireRequest"),
                            Output("expire-request", "data"),
                            Input({"type": "expire", "id": ALL}, "n_clicks"),
                            prevent_initial_call=True)

    @app.callback(Output("action-result", "children"),
                  Input("ack-button", "n_clicks"), Input("silence-button", "n_clicks"),
                  Input("expire-request", "data"),
                  State("ack-alert", "value"), State("ack-comment", "value"),
                  State("silence-hours", "value"), State("silence-matchers", "value"),
                  State("url", "search"), prevent_initial_call=True)
    def act(_ack: int | None, _silence: int | None, expire: str | None, fingerprint: str | None,
            comment: str | None, hours: str | None, typed: str | None,
            search: str | None) -> Any:
        view = ctx.view(search)
        lang = view.lang
        trigger = dash_ctx.triggered_id
        # act only on a click (once, with no trigger at all, Dash re-created a silence from
        # the alert still chosen above)
        if trigger is None or not any(t.get("value") for t in dash_ctx.triggered):
            return no_update
        user = current_user(request, ctx.settings, ctx.operator)
        if not user:
            return dbc.Alert(t("login.required", lang), color="warning", id="action-message")
        operator = ctx.replay_operator if view.replay else ctx.operator
        try:
            if trigger == "expire-request":
                silence = _silence_id(expire)
                if silence is None:
                    return no_update
                operator.expire(silence, user)
                return dbc.Alert(t("alert.expired_ok", lang, id=silence), color="success",
                                 id="action-message")
            # a silence by typed matchers needs no chosen alert; anything else does
            by_matchers = trigger == "silence-button" and bool((typed or "").strip())
            if not fingerprint and not by_matchers:
                return dbc.Alert(t("alert.need_choice", lang), color="warning",
                                 id="action-message")
            if not (comment or "").strip():
                return dbc.Alert(t("alert.need_comment", lang), color="warning",
                                 id="action-message")
            if trigger == "ack-button":
                operator.acknowledge(fingerprint, user, comment.strip())
                return dbc.Alert(t("alert.acked_ok", lang), color="success", id="action-message")
            if by_matchers:
                try:
                    matchers = parse_matchers(typed or "")
                except MatcherError as exc:
                    return dbc.Alert(t("alert.bad_matchers", lang, error=str(exc)),
                                     color="warning", id="action-message")
            else:
                snap, _ = ctx.read(view)
                alert = next((a for a in snap.alerts if a.fingerprint == fingerprint), None)
                if alert is None:
                    return dbc.Alert(t("alert.need_choice", lang), color="warning",
                                     id="action-message")
                matchers = matchers_for(alert)
            # only a length the page offers (the select's value comes from the browser)
            length = {str(h): float(h) for h in ctx.config.silence_hours}.get(str(hours))
            if length is None:
                return dbc.Alert(t("alert.bad_hours", lang), color="warning",
                                 id="action-message")
            silence_id = operator.silence(matchers, ctx.clock(), length,
                                          user, comment.strip())
            return dbc.Alert(t("alert.silenced_ok", lang, id=silence_id), color="success",
                             id="action-message")
        except ActionError as exc:
            return dbc.Alert(t("alert.failed", lang, error=str(exc)), color="danger",
                             id="action-message")
