"""The three feed pages (public services, telemedicine, payments): one panel each, with the
feed's freshness on top (grey and marked when late), and tables of what is behind the KPIs."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, html

from ioc.indicators import Reading, Scope, evaluate
from ioc.rhythms import payment_mix
from ioc_dashboard.components import (
    Cell,
    band_figure,
    band_graph,
    cell,
    draw_table,
    fresh_text,
    hourly_patch,
    part,
    row,
    spark_patch,
    table_box,
    table_data,
    tile,
    tile_class,
    updated_line,
    with_usual,
    with_usual_count,
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
from ioc_dashboard.typical import (
    BIN_MINUTES,
    Series,
    dossier_day,
    payments_typical,
    usual_consultations,
    usual_dossiers,
    usual_links,
)


def _table(head: list[str], rows: list[list[Any]], table_id: str) -> dbc.Table:
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                      html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])],
                     id=table_id, className="wall-table", size="sm", striped=True)


def _names(items: list, lang: str) -> dict[str, str]:
    return {i.code: i.name_vi if lang == "vi" else i.name_en for i in items}


def _page(feed: str, ctx: WallContext, lang: str, tiles: list, body_id: str,
          body: list | None = None) -> html.Div:
    return html.Div([
        html.Div(t(f"feed.{feed}", lang), className="page-title"),
        html.Div(id=f"{feed}-fresh", className="page-fresh"),
        html.Div([dbc.Row(tiles, className="g-3"),
                  html.Div(body, id=body_id, className="feed-body")],
                 id=f"{feed}-panel", className="feed-panel"),
        html.Div(id=f"{feed}-updated", className="text-secondary mt-2 updated"),
    ], className=f"p-3 feed-page page-{feed}")


# the public-services page's tables, drawn by the browser from data (components.table_data)
PORTAL_TABLES = ("portal-indicators", "portal-health", "portal-centres")


def portal_layout(ctx: WallContext, lang: str) -> html.Div:
    return _page("portal", ctx, lang, [
        tile("portal-received", t("portal.received", lang), hourly=True),
        tile("portal-resolved", t("portal.resolved", lang), hourly=True),
        tile("portal-ontime", t("kpi.ontime", lang), graph=False),
        tile("portal-online", t("kpi.online", lang), graph=False),
    ], "portal-body", [dbc.Row([
        dbc.Col([html.Div(t("ind.title", lang, decision=ctx.indicators.decision),
                          className="table-title"), *table_box("portal-indicators")], lg=8),
        dbc.Col([*table_box("portal-health"),
                 html.Div(t("ind.centres", lang), className="table-title mt-2"),
                 *table_box("portal-centres")], lg=4),
    ], className="mt-2")])


def render_portal(snap: Snapshot, now: datetime, lang: str,
                  ctx: WallContext) -> dict[str, Any]:
    fresh = freshness(snap, "portal", now, ctx.config)
    d = dossier_kpis(snap)
    targets = ctx.province.targets
    portals = _names(ctx.province.portals, lang)
    health = table_data("portal-health", [row([
        t("portal.name", lang), t("portal.requests", lang), t("portal.errors", lang),
        t("portal.latency", lang)])], [row([
            portals.get(p.portal_code, p.portal_code), format_int(p.requests_per_minute, lang),
            format_percent(p.error_ratio, lang) if p.error_ratio is not None else "—",
            f"{format_float(p.p95_latency_ms or 0, lang, 0)} ms"]) for p in portal_states(snap)])
    cls = tile_class(fresh)
    day = dossier_day(snap, ctx.province, ctx.rhythms, ctx.calendar)
    shares = usual_dossiers(snap.dossiers_weeks, snap.newest.get("dossier_events"), ctx.province)

    def percent(value: float | None) -> str:
        return format_percent(value, lang) if value is not None else "—"

    def share_target(target: float, usual_share: float | None) -> Any:
        """The share's target, beside its usual value on the same weekday so far."""
        return with_usual(t("target", lang, target="≥ " + format_percent(target, lang, 0)),
                          shares.source, shares.weeks,
                          None if usual_share is None else percent(usual_share), lang)

    def usual(counts: tuple[float, ...]) -> Any:
        return "" if day is None else with_usual(
            "", day.source, day.weeks, format_int(round(day.usual_so_far(counts)), lang), lang)

    return {
        "portal-fresh": fresh_text(fresh, lang),
        "portal-panel": "feed-panel" + (" stale" if fresh.late else ""),
        "portal-received-value": format_int(d.received, lang),
        "portal-resolved-value": format_int(d.resolved, lang),
        "portal-received-sub": usual(day.usual_received if day else ()),
        "portal-resolved-sub": usual(day.usual_resolved if day else ()),
        "portal-ontime-value": percent(d.on_time_ratio),
        "portal-ontime-target": share_target(targets.dossier_on_time_ratio,
                                             shares.on_time_ratio),
        "portal-online-value": percent(d.online_ratio),
        "portal-online-target": share_target(targets.online_receipt_ratio, shares.online_ratio),
        "portal-received-card": cls,
        "portal-received-graph": hourly_patch(day.hours, day.received, day.usual_received)
        if day else hourly_patch((), (), ()),
        "portal-resolved-graph": hourly_patch(day.hours, day.resolved, day.usual_resolved)
        if day else hourly_patch((), (), ()),
        "portal-indicators-data": _indicator_table(snap, ctx, lang),
        "portal-health-data": health,
        "portal-centres-data": _centre_table(snap, ctx, lang),
        "portal-updated": updated_line(snap.read_at, lang)}


def _late(scope: Scope) -> int:
    """Dossiers `scope` resolved after their due time today."""
    return scope.counts["resolved"] - scope.counts["resolved_on_time"]


def _reading_cell(r: Reading, lang: str) -> Cell:
    """A reading as a table cell: the ratio, and below its target marked by a sign and a
    word (for a screen reader) as well as by colour."""
    if r.value is None:
        return cell("—", cls="ind-value")
    text = format_percent(r.value, lang, 1)
    if r.met:
        return cell(text, cls="ind-value")
    return cell(part("▼ ", "ind-sign", t("ind.below", lang)), text, cls="ind-value ind-below")


def _indicator_table(snap: Snapshot, ctx: WallContext, lang: str) -> dict:
    """Decision 766/QĐ-TTg's computed indicators for the province and each agency, today,
    grouped under the decision's groups, each heading with its target."""
    indicators = ctx.indicators
    targets = ctx.province.targets
    groups = [g for g in indicators.groups if g.not_computed_because is None]
    head = [
        row([cell("", span=3)] + [
            cell(f"{g.short(lang)} ({g.points}đ)" if lang == "vi" else
                 f"{g.short(lang)} ({g.points} pts)", title=g.name(lang), cls="ind-group",
                 span=sum(i.group == g.key for i in indicators.indicators))
            for g in groups]),
        row([t("ind.scope", lang), t("ind.received", lang), t("ind.late", lang)] + [
            cell(i.short(lang), None,
                 part("≥ " + format_percent(getattr(targets, i.target), lang, 0), "small"),
                 title=i.name(lang)) for i in indicators.indicators]),
    ]
    agencies = _names(ctx.province.agencies, lang)
    # the agencies ranked: most dossiers resolved late today first
    scopes = [s for s in snap.dossier_scopes if s.level == "province"] + sorted(
        (s for s in snap.dossier_scopes if s.level == "agency"),
        key=lambda s: (-_late(s), -s.counts["received"], s.code or ""))
    rows = []
    for scope in scopes:
        province = scope.level == "province"
        name = ctx.province.province.name_vi if lang == "vi" else ctx.province.province.name_en
        rows.append(row(
            [name if province else agencies.get(scope.code, scope.code),
             format_int(scope.counts["received"], lang), format_int(_late(scope), lang)]
            + [_reading_cell(r, lang) for r in evaluate(scope.counts, indicators, targets)],
            cls="ind-province" if province else None))
    return table_data("portal-indicators", head, rows, "wall-table indicator-table")


# the receiving centres listed beside the indicators: the provincial one and the communes'
# with the most dossiers resolved late today
CENTRES_SHOWN = 6


def _centre_table(snap: Snapshot, ctx: WallContext, lang: str) -> dict:
    province = ctx.province
    names = {u.code: u.name_vi if lang == "vi" else u.name_en for u in province.units}
    names[province.service_centre.code] = (province.service_centre.name_vi if lang == "vi"
                                           else province.service_centre.name_en)
    by_code = {s.code: s for s in snap.dossier_scopes if s.level == "centre" and s.code}
    own = by_code.pop(province.service_centre.code, None)
    ranked = sorted(by_code.values(), key=lambda s: (-_late(s), -s.counts["received"], s.code))
    on_time = next(i for i in ctx.indicators.indicators if i.numerator == "resolved_on_time")
    rows = [row([names.get(s.code, s.code), format_int(s.counts["received"], lang),
                 format_int(_late(s), lang),
                 _reading_cell(on_time.read(s.counts, province.targets), lang)])
            for s in ([own] if own else []) + ranked[:CENTRES_SHOWN - (1 if own else 0)]]
    return table_data("portal-centres", [row([
        t("ind.centre", lang), t("ind.received", lang), t("ind.late", lang),
        on_time.short(lang)])], rows)


def telemedicine_layout(ctx: WallContext, lang: str) -> html.Div:
    return _page("telemedicine", ctx, lang, [
        tile("tele-links", t("kpi.links", lang), width=6),
        tile("tele-sessions", t("consultations_active", lang, n="").strip(), graph=False, width=6),
    ], "telemedicine-body")


def render_telemedicine(snap: Snapshot, now: datetime, lang: str,
                        ctx: WallContext) -> dict[str, Any]:
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
        return {"telemedicine-fresh": "", "telemedicine-panel": "feed-panel",
                "tele-links-value": "—", "tele-links-target": t("links_none", lang),
                "tele-sessions-value": format_int(snap.consultations_active, lang),
                "tele-sessions-target": "", "tele-links-card": tile_class(None),
                "tele-links-graph": spark_patch(()),
                "telemedicine-body": html.Div(t("links_none", lang),
                                              className="text-secondary mt-3 no-links"),
                "telemedicine-updated": updated_line(snap.read_at, lang)}
    return {
        "telemedicine-fresh": fresh_text(fresh, lang),
        "telemedicine-panel": "feed-panel" + (" stale" if fresh.late else ""),
        "tele-links-value": f"{links.up}/{links.total}",
        "tele-links-target": with_usual_count(t("target", lang, target=format_percent(
            ctx.province.targets.telemedicine_links_up_ratio, lang, 0)),
            usual_links(snap, ctx.province), lang, links.total),
        "tele-sessions-value": format_int(snap.consultations_active, lang),
        "tele-sessions-target": with_usual_count("", usual_consultations(
            snap, ctx.province, ctx.rhythms, ctx.calendar), lang),
        "tele-links-card": tile_class(fresh),
        "tele-links-graph": spark_patch(links.trend),
        "telemedicine-body": body,
        "telemedicine-updated": updated_line(snap.read_at, lang)}


def payments_layout(ctx: WallContext, lang: str) -> html.Div:
    # each category the province pays in: its last hour against a typical one
    cells = [html.Div([
        html.Div([html.Span(t(f"category.{c}", lang), className="band-name"),
                  html.Span("—", id={"type": "pay-typical-now", "category": c},
                            className="band-now")], className="band-head"),
        band_graph({"type": "pay-typical", "category": c}),
    ], className="band-cell") for c in payment_mix(ctx.province)]
    return _page("payments", ctx, lang, [
        tile("pay-rate", t("kpi.payments", lang), width=6),
        tile("pay-success", t("pay.success", lang), graph=False, width=6),
    ], "payments-body", [
        html.Div(cells, className="band-grid", id="pay-typical-grid"),
        html.Div(id="pay-typical-note", className="band-note"),
        html.Div(id="payments-table"),
    ])


def _band_now(series: Series, b: int | None, lang: str) -> str:
    """The rate in bin `b` (the newest), and whether it is inside its band (in words, not
    colour)."""
    value = None if b is None else series.now[b]
    if value is None:
        return "—"
    state = ("low" if value < series.low[b] else "high" if value > series.high[b]
             else "usual")
    return (t("pay.per_minute", lang, value=format_float(value, lang)) + " "
            + t(f"typical.{state}", lang))


def render_payments(snap: Snapshot, now: datetime, lang: str,
                    ctx: WallContext) -> dict[str, Any]:
    fresh = freshness(snap, "payments", now, ctx.config)
    p = payment_kpis(snap)
    rows = [[t(f"category.{c}", lang), format_int(s + f, lang),
             format_percent(ratio(s, s + f), lang) if s + f else "—",
             format_int(amount, lang) + " ₫"] for c, (s, f, amount) in p.by_category.items()]
    body = _table([t("pay.category", lang), t("pay.count", lang), t("pay.success", lang),
                   t("pay.amount", lang)], rows, "payments-categories")
    shown = list(payment_mix(ctx.province))
    typ = payments_typical(snap, ctx.province, ctx.rhythms, ctx.calendar)
    by_category = {s.category: s for s in typ.series} if typ else {}
    figures = [band_figure(typ.bins, by_category[c].now, by_category[c].low,
                           by_category[c].high) if c in by_category
               else band_figure((), (), (), ()) for c in shown]
    newest = typ.newest_bin() if typ else None
    values = [_band_now(by_category[c], newest, lang) if c in by_category else "—"
              for c in shown]
    note = "" if typ is None else t(f"typical.{typ.source}", lang, minutes=BIN_MINUTES,
                                    weeks=typ.weeks)
    target = t("target", lang, target="≥ " + format_percent(
        ctx.province.targets.payment_success_ratio, lang, 0))
    usual_rate = typ.usual_per_minute() if typ else None
    return {
        "payments-fresh": fresh_text(fresh, lang),
        "payments-panel": "feed-panel" + (" stale" if fresh.late else ""),
        "pay-rate-value": format_float(p.per_minute, lang) if p.per_minute is not None else "—",
        "pay-rate-target": "" if typ is None else with_usual(
            "", typ.source, typ.weeks, None if usual_rate is None
            else t("pay.per_minute", lang, value=format_float(usual_rate, lang)), lang),
        "pay-success-value":
            format_percent(p.success_ratio, lang) if p.success_ratio is not None else "—",
        "pay-success-target": target if typ is None else with_usual(
            target, typ.source, typ.weeks, None if typ.success_ratio is None
            else format_percent(typ.success_ratio, lang), lang),
        "pay-rate-card": tile_class(fresh),
        "pay-rate-graph": spark_patch(p.trend),
        "payments-table": body,
        "pay-typical": figures,  # one per category shown (a pattern-matching output)
        "pay-typical-now": values,
        "pay-typical-note": note,
        "payments-updated": updated_line(snap.read_at, lang)}


PAGES: dict[str, tuple[str, Callable, Callable, list[tuple[Any, str]]]] = {
    # name -> (path, layout, render, its outputs: (component id, property); `render` returns
    # them by name: the id, or a pattern's type)
    "portal": ("/portal", portal_layout, render_portal, [
        ("portal-fresh", "children"), ("portal-panel", "className"),
        ("portal-received-value", "children"), ("portal-resolved-value", "children"),
        ("portal-received-sub", "children"), ("portal-resolved-sub", "children"),
        ("portal-ontime-value", "children"), ("portal-ontime-target", "children"),
        ("portal-online-value", "children"), ("portal-online-target", "children"),
        ("portal-received-card", "className"), ("portal-received-graph", "figure"),
        ("portal-resolved-graph", "figure"), ("portal-indicators-data", "data"),
        ("portal-health-data", "data"), ("portal-centres-data", "data"),
        ("portal-updated", "children")]),
    "telemedicine": ("/telemedicine", telemedicine_layout, render_telemedicine, [
        ("telemedicine-fresh", "children"), ("telemedicine-panel", "className"),
        ("tele-links-value", "children"), ("tele-links-target", "children"),
        ("tele-sessions-value", "children"), ("tele-sessions-target", "children"),
        ("tele-links-card", "className"),
        ("tele-links-graph", "figure"), ("telemedicine-body", "children"),
        ("telemedicine-updated", "children")]),
    "payments": ("/payments", payments_layout, render_payments, [
        ("payments-fresh", "children"), ("payments-panel", "className"),
        ("pay-rate-value", "children"), ("pay-rate-target", "children"),
        ("pay-success-value", "children"),
        ("pay-success-target", "children"), ("pay-rate-card", "className"),
        ("pay-rate-graph", "figure"), ("payments-table", "children"),
        ({"type": "pay-typical", "category": ALL}, "figure"),
        ({"type": "pay-typical-now", "category": ALL}, "children"),
        ("pay-typical-note", "children"), ("payments-updated", "children")]),
}


def output_name(component: Any) -> str:
    """The name a page's `render` gives an output: its id, or a pattern's type."""
    return component["type"] if isinstance(component, dict) else component


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    for table in PORTAL_TABLES:
        draw_table(app, table)
    for _name, (_path, _layout, render, outputs) in PAGES.items():
        def refresh(_n: int | None, search: str | None,
                    render: Callable = render) -> dict[str, Any]:
            view = ctx.view(search)
            snap, now = ctx.read(view)
            return render(snap, now, view.lang, ctx)

        app.callback(output={output_name(i): Output(i, p) for i, p in outputs},
                     inputs=[Input("tick", "n_intervals")],
                     state=[State("url", "search")])(refresh)
