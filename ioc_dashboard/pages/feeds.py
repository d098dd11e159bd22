"""The three feed pages (public services, telemedicine, payments): one panel each, with the
feed's freshness on top (grey and marked when late), and tables of what is behind the KPIs."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html

from ioc_dashboard.components import (
    fresh_text,
    spark_patch,
    tile,
    tile_class,
    updated_line,
)
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import Snapshot
from ioc_dashboard.figures import (
    dossier_kpis,
    freshness,
    link_kpis,
    payment_kpis,
    portal_states,
    ratio,
)
from ioc_dashboard.i18n import format_float, format_int, format_percent, t


def _table(head: list[str], rows: list[list[Any]], table_id: str) -> dbc.Table:
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                      html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
                     id=table_id, className="wall-table", size="sm", striped=True)


def _names(items: list, lang: str) -> dict[str, str]:
    return {i.code: i.name_vi if lang == "vi" else i.name_en for i in items}


def _page(feed: str, ctx: WallContext, lang: str, tiles: list, body_id: str) -> html.Div:
    return html.Div([
        html.Div(t(f"feed.{feed}", lang), className="page-title"),
        html.Div(id=f"{feed}-fresh", className="page-fresh"),
        html.Div([dbc.Row(tiles, className="g-3"), html.Div(id=body_id, className="feed-body")],
                 id=f"{feed}-panel", className="feed-panel"),
        html.Div(id=f"{feed}-updated", className="text-secondary mt-2 updated"),
    ], className=f"p-3 feed-page page-{feed}")


def portal_layout(ctx: WallContext, lang: str) -> html.Div:
    return _page("portal", ctx, lang, [
        tile("portal-received", t("portal.received", lang)),
        tile("portal-resolved", t("portal.resolved", lang), graph=False),
        tile("portal-ontime", t("kpi.ontime", lang), graph=False),
        tile("portal-online", t("kpi.online", lang), graph=False),
    ], "portal-body")


def render_portal(snap: Snapshot, now: datetime, lang: str, ctx: WallContext) -> list:
    fresh = freshness(snap, "portal", now, ctx.config)
    d = dossier_kpis(snap)
    targets = ctx.province.targets
    portals = _names(ctx.province.portals, lang)
    agencies = _names(ctx.province.agencies, lang)
    health = [[portals.get(p.portal_code, p.portal_code), format_int(p.requests_per_minute, lang),
               format_percent(p.error_ratio, lang) if p.error_ratio is not None else "—",
               f"{format_float(p.p95_latency_ms or 0, lang, 0)} ms"] for p in portal_states(snap)]
    by_agency: dict[str, list[int]] = {}
    for u in snap.dossiers_by_unit:
        a = by_agency.setdefault(u.agency_code, [0, 0, 0])
        a[0] += u.received
        a[1] += u.resolved
        a[2] += u.resolved_on_time
    agency_rows = [[agencies.get(code, code), format_int(v[0], lang), format_int(v[1], lang),
                    format_percent(ratio(v[2], v[1]), lang) if v[1] else "—"]
                   for code, v in sorted(by_agency.items(), key=lambda kv: -kv[1][0])]
    body = dbc.Row([
        dbc.Col(_table([t("portal.name", lang), t("portal.requests", lang),
                        t("portal.errors", lang), t("portal.latency", lang)], health,
                       "portal-health"), lg=5),
        dbc.Col(_table([t("portal.agency", lang), t("portal.received", lang),
                        t("portal.resolved", lang), t("kpi.ontime", lang)], agency_rows,
                       "portal-agencies"), lg=7),
    ], className="mt-2")
    cls = tile_class(fresh)
    return [
        fresh_text(fresh, lang), "feed-panel" + (" stale" if fresh.late else ""),
        format_int(d.received, lang), format_int(d.resolved, lang),
        format_percent(d.on_time_ratio, lang) if d.on_time_ratio is not None else "—",
        t("target", lang, target="≥ " + format_percent(targets.dossier_on_time_ratio, lang, 0)),
        format_percent(d.online_ratio, lang) if d.online_ratio is not None else "—",
        t("target", lang, target="≥ " + format_percent(targets.online_receipt_ratio, lang, 0)),
        cls, spark_patch(d.hourly_received), body, updated_line(snap.read_at, lang)]


def telemedicine_layout(ctx: WallContext, lang: str) -> html.Div:
    return _page("telemedicine", ctx, lang, [
        tile("tele-links", t("kpi.links", lang), width=6),
        tile("tele-sessions", t("consultations_active", lang, n="").strip(), graph=False, width=6),
    ], "telemedicine-body")


def render_telemedicine(snap: Snapshot, now: datetime, lang: str, ctx: WallContext) -> list:
    fresh = freshness(snap, "telemedicine", now, ctx.config)
    links = link_kpis(snap, ctx.province, ctx.config, now)
    hospitals = _names(ctx.province.hospitals, lang)
    hubs = _names(ctx.province.hub_hospitals, lang)
    by_code = {h.code: h for h in ctx.province.hospitals}
    cells = []
    for s in links.links:
        latency = (f"{format_float(s.avg_latency_ms, lang, 0)} ms"
                   if s.avg_latency_ms is not None else "—")
        cells.append(dbc.Col(html.Div([
            html.Div(hospitals[s.hospital_code], className="link-name"),
            html.Div(f"→ {hubs.get(by_code[s.hospital_code].hub, '')}", className="link-hub"),
            html.Div(f"{t('tele.' + s.state, lang)} · {latency}", className="link-state"),
        ], className=f"link-cell link-{s.state}", id=f"link-{s.link_id}"), lg=2, md=3, xs=6))
    # every link on one screen: about three times as many columns as rows (16:9 cells)
    columns = max(3, min(12, math.ceil(math.sqrt(len(cells) * 3))))
    body = dbc.Row(cells, className="g-2 mt-2 link-grid",
                   style={"--link-columns": str(columns)})
    if not ctx.province.hospitals:  # nothing configured: say so, not 0/0
        return ["", "feed-panel", "—", t("links_none", lang),
                format_int(snap.consultations_active, lang), tile_class(None), spark_patch(()),
                html.Div(t("links_none", lang), className="text-secondary mt-3 no-links"),
                updated_line(snap.read_at, lang)]
    return [
        fresh_text(fresh, lang), "feed-panel" + (" stale" if fresh.late else ""),
        f"{links.up}/{links.total}",
        t("target", lang, target=format_percent(ctx.province.targets.telemedicine_links_up_ratio,
                                                lang, 0)),
        format_int(snap.consultations_active, lang), tile_class(fresh),
        spark_patch(links.trend), body, updated_line(snap.read_at, lang)]


def payments_layout(ctx: WallContext, lang: str) -> html.Div:
    return _page("payments", ctx, lang, [
        tile("pay-rate", t("kpi.payments", lang), width=6),
        tile("pay-success", t("pay.success", lang), graph=False, width=6),
    ], "payments-body")


def render_payments(snap: Snapshot, now: datetime, lang: str, ctx: WallContext) -> list:
    fresh = freshness(snap, "payments", now, ctx.config)
    p = payment_kpis(snap)
    rows = [[t(f"category.{c}", lang), format_int(s + f, lang),
             format_percent(ratio(s, s + f), lang) if s + f else "—",
             format_int(amount, lang) + " ₫"] for c, (s, f, amount) in p.by_category.items()]
    body = _table([t("pay.category", lang), t("pay.count", lang), t("pay.success", lang),
                   t("pay.amount", lang)], rows, "payments-categories")
    return [
        fresh_text(fresh, lang), "feed-panel" + (" stale" if fresh.late else ""),
        format_float(p.per_minute, lang) if p.per_minute is not None else "—",
        format_percent(p.success_ratio, lang) if p.success_ratio is not None else "—",
        t("target", lang, target="≥ " + format_percent(ctx.province.targets.payment_success_ratio,
                                                       lang, 0)),
        tile_class(fresh), spark_patch(p.trend), body, updated_line(snap.read_at, lang)]


PAGES: dict[str, tuple[str, Callable, Callable, list[tuple[str, str]]]] = {
    # name -> (path, layout, render, outputs in render's order)
    "portal": ("/portal", portal_layout, render_portal, [
        ("portal-fresh", "children"), ("portal-panel", "className"),
        ("portal-received-value", "children"), ("portal-resolved-value", "children"),
        ("portal-ontime-value", "children"), ("portal-ontime-target", "children"),
        ("portal-online-value", "children"), ("portal-online-target", "children"),
        ("portal-received-card", "className"), ("portal-received-graph", "figure"),
        ("portal-body", "children"), ("portal-updated", "children")]),
    "telemedicine": ("/telemedicine", telemedicine_layout, render_telemedicine, [
        ("telemedicine-fresh", "children"), ("telemedicine-panel", "className"),
        ("tele-links-value", "children"), ("tele-links-target", "children"),
        ("tele-sessions-value", "children"), ("tele-links-card", "className"),
        ("tele-links-graph", "figure"), ("telemedicine-body", "children"),
        ("telemedicine-updated", "children")]),
    "payments": ("/payments", payments_layout, render_payments, [
        ("payments-fresh", "children"), ("payments-panel", "className"),
        ("pay-rate-value", "children"), ("pay-success-value", "children"),
        ("pay-success-target", "children"), ("pay-rate-card", "className"),
        ("pay-rate-graph", "figure"), ("payments-body", "children"),
        ("payments-updated", "children")]),
}


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    for _name, (_path, _layout, render, outputs) in PAGES.items():
        def refresh(_n: int | None, search: str | None, render: Callable = render) -> list:
            view = ctx.view(search)
            snap, now = ctx.read(view)
            return render(snap, now, view.lang, ctx)

        app.callback([Output(i, p) for i, p in outputs], Input("tick", "n_intervals"),
                     State("url", "search"))(refresh)
