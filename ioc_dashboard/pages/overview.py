"""Overview wall: KPI tiles against the province's targets with short trends, the communes
laid out from their coordinates and coloured by their worst alert, the live alerts and the
pipeline's health. Every panel says how fresh its data is and turns grey when its feed is late.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from ioc.contract import FEEDS
from ioc_dashboard.cells import cells_background, voronoi_cells
from ioc_dashboard.components import (
    fresh_text,
    severity_badge,
    spark_patch,
    tile_card,
    tile_class,
    updated_line,
    with_usual,
    with_usual_count,
)
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import Snapshot
from ioc_dashboard.figures import (
    alerts_freshness,
    dossier_freshness,
    dossier_kpis,
    freshness,
    label_sides,
    link_kpis,
    payment_kpis,
    short_name,
    unit_positions,
    unit_severity,
)
from ioc_dashboard.i18n import format_age, format_float, format_int, format_percent, t
from ioc_dashboard.typical import payments_typical, usual_dossiers, usual_links

PATH = "/"
NAME = "overview"
TILES = ("kpi-ontime", "kpi-online", "kpi-links", "kpi-pay")
TILE_PARTS = ("value", "sub", "target", "fresh")


def _map(ctx: WallContext, lang: str) -> tuple[dict, dict, dict]:
    """(positions, short names, label sides) of the units map, computed once per language
    (the layout and every refresh need them)."""
    key = ("units-map", lang)
    if key not in ctx.cache:
        province = ctx.province
        positions = unit_positions(province)
        names = {u.code: short_name(u.name_vi if lang == "vi" else u.name_en)
                 for u in province.units}
        ctx.cache[key] = positions, names, label_sides(positions, names)
    return ctx.cache[key]  # type: ignore[return-value]


def _cells_style(ctx: WallContext, worst: dict[str, str]) -> dict[str, str]:
    """The map box's style: its schematic cells coloured by `worst` (unit -> severity);
    the geometry once per province, each colouring once (few distinct ones occur)."""
    if "units-cells" not in ctx.cache:
        ctx.cache["units-cells"] = voronoi_cells(_map(ctx, "vi")[0])
        ctx.cache["units-cell-styles"] = {}
    styles: dict = ctx.cache["units-cell-styles"]  # type: ignore[assignment]
    key = frozenset(worst.items())
    if key not in styles:
        if len(styles) >= 64:  # a long run sees many colourings: start again
            styles.clear()
        styles[key] = {"backgroundImage": cells_background(ctx.cache["units-cells"], worst)}
    return styles[key]


def _hospitals(ctx: WallContext, lang: str) -> dict[str, str]:
    """Unit -> the names of the hospitals in it (their telemedicine links' ends)."""
    out: dict[str, str] = {}
    for h in ctx.province.hospitals:
        name = h.name_vi if lang == "vi" else h.name_en
        out[h.unit] = f"{out[h.unit]}; {name}" if h.unit in out else name
    return out


def _unit_class(side: str, hospital: bool) -> str:
    """A unit's classes on the map: its label's side, a hospital's mark (the browser adds
    its worst alert's, last)."""
    return f"unit label-{side}" + (" unit-hospital" if hospital else "")


def _units(ctx: WallContext, lang: str) -> list[list]:
    """The map's units as the browser draws them (20-wall.js `drawUnits`): code, short name,
    title, left and top (% of the box), classes (label side, hospital mark)."""
    positions, names, sides = _map(ctx, lang)
    hospitals = _hospitals(ctx, lang)
    out = []
    for u in ctx.province.units:
        name = u.name_vi if lang == "vi" else u.name_en
        title = f"{name} — {hospitals[u.code]}" if u.code in hospitals else name
        out.append([u.code, names[u.code], title, positions[u.code][0], positions[u.code][1],
                    _unit_class(sides[u.code], u.code in hospitals)])
    return out


def layout(ctx: WallContext, lang: str) -> html.Div:
    hospitals = _hospitals(ctx, lang)
    legend = html.Div([html.Span("●", className="legend-unit"), " " + t("map.units", lang),
                       *([html.Span("■", className="legend-hospital ms-3"),
                          " " + t("map.hospitals", lang)] if hospitals else []),
                       html.Span(t("map.schematic", lang), className="ms-3")],
                      className="map-legend")
    return html.Div([
        html.Div([tile_card("kpi-ontime", t("kpi.ontime", lang)),
                  tile_card("kpi-online", t("kpi.online", lang)),
                  tile_card("kpi-links", t("kpi.links", lang)),
                  tile_card("kpi-pay", t("kpi.payments", lang))], className="overview-tiles"),
        html.Div([
            dbc.Card(dbc.CardBody([
                html.Div(t("units_map", lang), className="panel-title"),
                html.Div(className="units-map", id="units-map", style=_cells_style(ctx, {})),
                dcc.Store(id="units-static", data=_units(ctx, lang)),
                dcc.Store(id="units-worst", data={}),
                legend,
            ]), className="panel", id="units-card"),
            dbc.Card(dbc.CardBody([
                html.Div([html.Span(t("alerts_live", lang), className="panel-title me-3"),
                          html.Span(id="alerts-fresh", className="page-fresh")],
                         className="panel-head"),
                # the list shows the newest alerts that fit and counts the rest (20-wall.js)
                html.Div(id="overview-alerts", className="alert-list fit-list"),
            ]), className="panel", id="alerts-card"),
        ], className="overview-middle"),
        dbc.Card(dbc.CardBody(html.Div([
            html.Span(t("pipeline", lang), className="panel-title me-4"),
            html.Span(t("ingest_delay", lang) + ": ", className="strip-label"),
            html.Span("—", id="pipe-delay", className="strip-value me-4"),
            html.Span(t("dead_letters_hour", lang) + ": ", className="strip-label"),
            html.Span("—", id="pipe-dead-hour", className="strip-value me-4"),
            html.Span(t("dead_letters", lang) + ": ", className="strip-label"),
            html.Span("—", id="dead-letters", className="strip-value me-4"),
            html.Span(id="pipe-feeds"),
            html.Span(id="pipe-checks"),
            html.Span(id="overview-updated", className="text-secondary updated"),
        ], className="pipeline-strip")), className="panel", id="pipeline-card"),
    ], className="page-overview")


def render(snap: Snapshot, now: datetime, lang: str, ctx: WallContext) -> dict[str, Any]:
    """Every figure of the overview for one snapshot, keyed by component id (pure)."""
    targets = ctx.province.targets
    fresh = {f: freshness(snap, f, now, ctx.config) for f in FEEDS}
    out: dict[str, Any] = {}

    d = dossier_kpis(snap)
    usual = usual_dossiers(snap.dossiers_weeks, snap.newest.get("dossier_events"), ctx.province)
    # the dossier tiles judge dossiers alone (on working time): the portal's health checks
    # keep its feed fresh when dossiers stop
    dossiers = dossier_freshness(snap, now, ctx.config, ctx.calendar)
    out["kpi-ontime"] = (
        format_percent(d.on_time_ratio, lang) if d.on_time_ratio is not None else "—",
        t("of_resolved", lang, n=format_int(d.resolved, lang)),
        with_usual(t("target", lang, target="≥ " + format_percent(
            targets.dossier_on_time_ratio, lang, 0)), usual.source, usual.weeks,
            format_percent(usual.on_time_ratio, lang) if usual.on_time_ratio is not None
            else None, lang),
        fresh_text(dossiers, lang, of="dossiers"),
        tile_class(dossiers, None if d.on_time_ratio is None
                   else d.on_time_ratio >= targets.dossier_on_time_ratio),
        spark_patch(d.hourly_on_time))
    out["kpi-online"] = (
        format_percent(d.online_ratio, lang) if d.online_ratio is not None else "—",
        t("of_received", lang, n=format_int(d.received, lang)),
        with_usual(t("target", lang, target="≥ " + format_percent(
            targets.online_receipt_ratio, lang, 0)), usual.source, usual.weeks,
            format_percent(usual.online_ratio, lang) if usual.online_ratio is not None
            else None, lang),
        fresh_text(dossiers, lang, of="dossiers"),
        tile_class(dossiers, None if d.online_ratio is None
                   else d.online_ratio >= targets.online_receipt_ratio),
        spark_patch(d.hourly_received))

    links = link_kpis(snap, ctx.province, ctx.config, now)
    links_ratio = links.up / links.total if links.total else None
    if not ctx.province.hospitals:  # a province without telemedicine data: say so, not 0/0
        out["kpi-links"] = ("—", t("links_none", lang), "", "", tile_class(None),
                            spark_patch(()))
    else:
        out["kpi-links"] = (
            f"{links.up}/{links.total}",
            t("consultations_active", lang, n=format_int(snap.consultations_active, lang)),
            with_usual_count(t("target", lang, target=format_percent(
                targets.telemedicine_links_up_ratio, lang, 0)),
                usual_links(snap, ctx.province), lang, links.total),
            fresh_text(fresh["telemedicine"], lang),
            tile_class(fresh["telemedicine"], None if links_ratio is None
                       else links_ratio >= targets.telemedicine_links_up_ratio),
            spark_patch(links.trend))

    p = payment_kpis(snap)
    typical = payments_typical(snap, ctx.province, ctx.rhythms, ctx.calendar)
    usual_rate = typical.usual_per_minute() if typical else None
    out["kpi-pay"] = (
        format_float(p.per_minute, lang) if p.per_minute is not None else "—",
        t("kpi.success", lang, rate=format_percent(p.success_ratio, lang))
        if p.success_ratio is not None else "",
        with_usual(t("target", lang, target="≥ " + format_percent(
            targets.payment_success_ratio, lang, 0)), typical.source if typical else "model",
            typical.weeks if typical else 0,
            t("pay.per_minute", lang, value=format_float(usual_rate, lang))
            if usual_rate is not None else None, lang),
        fresh_text(fresh["payments"], lang),
        tile_class(fresh["payments"], None if p.success_ratio is None
                   else p.success_ratio >= targets.payment_success_ratio),
        spark_patch(p.trend))

    # the map's colours and the list come from the alert engine: judged by its freshness
    engine = alerts_freshness(snap, ctx.config)
    out["alerts-fresh"] = fresh_text(engine, lang, of="alerts") if snap.alerts_available else ""
    panel = "panel" + (" stale" if engine.late and snap.alerts_available else "")
    out["units-card"] = out["alerts-card"] = panel
    worst = unit_severity(snap.alerts, ctx.province)
    out["units"] = worst
    out["units-map"] = _cells_style(ctx, worst)
    operators = [a for a in snap.alerts if a.rule not in ctx.pipeline_rules]
    out["alerts"] = alert_rows(replace(snap, alerts=tuple(operators)), now, lang,
                               ctx.config.overview_alerts)
    out["pipe-checks"] = self_checks(snap, ctx.pipeline_rules, lang,
                                     engine.late or not snap.alerts_available)
    out["pipe-delay"] = (t("seconds", lang, n=format_float(snap.ingest_delay_s, lang))
                         if snap.ingest_delay_s is not None else "—")
    out["pipe-dead-hour"] = format_int(snap.dead_letters_hour, lang)
    out["dead-letters"] = format_int(snap.dead_letters, lang)
    out["pipe-feeds"] = [dbc.Badge(t(f"feed.{f}", lang), id=f"feed-badge-{f}",
                                   color="secondary" if fresh[f].late else "success",
                                   className="me-2 feed-badge" + (" late" if fresh[f].late else ""))
                         for f in FEEDS]
    out["updated"] = updated_line(snap.read_at, lang)
    return out


def self_checks(snap: Snapshot, rules: frozenset[str], lang: str, engine_late: bool) -> Any:
    """The pipeline strip's badge for alerts about the IOC itself: ⚠ and how many fire; ✓
    only when none does and the always-firing watchdog proves the alert path is alive; ?
    (grey) when that is not proven (engine late, no watchdog)."""
    if not snap.alerts_available:
        return ""
    active = [a for a in snap.alerts if a.rule in rules and a.active]
    problems = [a for a in active if a.rule != "watchdog" and a.silenced_by is None]
    proven = not engine_late and any(a.rule == "watchdog" and a.state == "firing"
                                     for a in active)
    listed = "; ".join(a.summary(lang) for a in active) or "—"
    mark, color = ((f"⚠ {len(problems)}", "danger") if problems
                   else ("✓", "success") if proven else ("?", "secondary"))
    return dbc.Badge(f"{t('self_checks', lang)} {mark}", color=color, id="self-checks",
                     className="me-2 feed-badge", title=t("self_checks_title", lang, list=listed))


def alert_rows(snap: Snapshot, now: datetime, lang: str, limit: int) -> Any:
    """The newest active alerts (up to `limit`): severity, summary, age, acknowledgement;
    then a line the browser fills with how many active alerts it could not show."""
    if not snap.alerts_available:
        return html.Div(t("alerts_unavailable", lang), className="text-secondary")
    active = [a for a in snap.alerts if a.active]
    if not active:
        return html.Div(t("alerts_none", lang), className="no-alerts")
    rows = []
    for a in active[:limit]:
        began = a.starts_at or a.pending_since or a.updated_at
        extra = []
        if a.acknowledged_by:
            extra.append(html.Span("✓ " + t("acked_by", lang, who=a.acknowledged_by),
                                   className="ack"))
        if a.silenced_by is not None:
            extra.append(html.Span(t("silenced", lang), className="silenced ms-2"))
        rows.append(html.Div([
            severity_badge(a.severity, lang),
            html.Span(a.summary(lang), className="alert-summary"),
            html.Span(f"{t(f'state.{a.state}', lang)} · "
                      f"{format_age((now - began).total_seconds(), lang)}", className="alert-age"),
            html.Div(extra, className="alert-extra"),
        ], className=f"alert-row sev-{a.severity}", id=f"alert-{a.fingerprint}"))
    rows.append(html.Div(id="overview-alerts-more", className="alert-more",
                         **{"data-total": str(len(active)),
                            "data-template": t("alerts_more", lang, n="{n}")}))
    return rows


def register_callbacks(app: Dash, ctx: WallContext) -> None:
    app.clientside_callback(ClientsideFunction("wall", "drawUnits"),
                            Output("units-map", "data-drawn"),
                            Input("units-static", "data"), Input("units-worst", "data"))
    @app.callback(output=OUTPUTS, inputs=[Input("tick", "n_intervals")],
                  state=[State("url", "pathname"), State("url", "search")])
    def refresh(_n: int | None, _path: str | None, search: str | None) -> dict[str, Any]:
        view = ctx.view(search)
        snap, now = ctx.read(view)
        return named_outputs(render(snap, now, view.lang, ctx))


# what `refresh` sets, by name: each tile's texts, card class and graph, then the panels
# (by component id; their property when not `children`, `render`'s key when not the id)
PANELS = ("units-worst", "overview-alerts", "pipe-delay", "pipe-dead-hour", "dead-letters",
          "pipe-feeds", "overview-updated", "alerts-fresh", "units-card", "alerts-card",
          "pipe-checks", "units-map")
PANEL_PROPERTY = {"units-worst": "data", "units-card": "className", "alerts-card": "className",
                  "units-map": "style"}
RENDERED_AS = {"units-worst": "units", "overview-alerts": "alerts",
               "overview-updated": "updated"}
OUTPUTS: dict[str, Output] = {
    **{f"{key}-{part}": Output(f"{key}-{part}", "children")
       for key in TILES for part in TILE_PARTS},
    **{f"{key}-card": Output(f"{key}-card", "className") for key in TILES},
    **{f"{key}-graph": Output(f"{key}-graph", "figure") for key in TILES},
    **{name: Output(name, PANEL_PROPERTY.get(name, "children")) for name in PANELS},
}


def named_outputs(out: dict[str, Any]) -> dict[str, Any]:
    """`render`'s figures under the names of `OUTPUTS` (a tile is (value, sub, target, fresh,
    card class, figure))."""
    named: dict[str, Any] = {}
    for key in TILES:
        tile = out[key]
        named |= {f"{key}-{part}": tile[i] for i, part in enumerate(TILE_PARTS)}
        named[f"{key}-card"], named[f"{key}-graph"] = tile[4], tile[5]
    return named | {name: out[RENDERED_AS.get(name, name)] for name in PANELS}
