"""Building blocks shared by the wall's pages: KPI tiles, freshness lines, sparklines that are
patched in place (never redrawn), severity badges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Patch, dcc, html

from ioc_dashboard.figures import Freshness
from ioc_dashboard.i18n import format_age, format_clock, format_float, format_time, t
from ioc_dashboard.typical import UsualCount

SEVERITY_COLOR = {"critical": "danger", "warning": "warning", "info": "info"}


def sparkline(graph_id: str) -> dcc.Graph:
    """An empty line figure whose points later callbacks patch (Patch), not replace. Its
    size is its box's (CSS `.sparkline`): it fills what the tile leaves free."""
    figure = {
        "data": [{"type": "scatter", "mode": "lines", "x": [], "y": [],
                  "line": {"width": 3, "color": "#5bc0de"}, "fill": "tozeroy",
                  "fillcolor": "rgba(91,192,222,0.15)", "hoverinfo": "skip"}],
        "layout": {"margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "autosize": True,
                   "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                   "xaxis": {"visible": False}, "yaxis": {"visible": False, "rangemode": "tozero"},
                   "showlegend": False},
    }
    return dcc.Graph(id=graph_id, figure=figure, className="sparkline",
                     config={"staticPlot": True, "displayModeBar": False, "responsive": True})


def spark_patch(points: Sequence[tuple[datetime, float | None]]) -> Patch:
    """Only the series' x and y change; layout and style stay as drawn."""
    patch = Patch()
    patch["data"][0]["x"] = [p[0].isoformat() for p in points]
    patch["data"][0]["y"] = [p[1] for p in points]
    return patch


def band_graph(graph_id: dict | str) -> dcc.Graph:
    """An empty typical-band figure (`band_figure` fills it), sized by its box."""
    return dcc.Graph(id=graph_id, figure=band_figure((), (), (), ()), className="band-graph",
                     config={"staticPlot": True, "displayModeBar": False, "responsive": True})


def band_figure(bins: Sequence[datetime], now: Sequence[float | None],
                low: Sequence[float], high: Sequence[float]) -> dict:
    """A series (line) over its typical band (grey, from `low` to `high`), no axes: on a
    wall the shape against the band is what is read; the numbers are beside it."""
    x = [b.isoformat() for b in bins]
    edge = {"type": "scatter", "mode": "lines", "x": x, "line": {"width": 0},
            "hoverinfo": "skip"}
    return {
        "data": [{**edge, "y": list(high)},
                 {**edge, "y": list(low), "fill": "tonexty",
                  "fillcolor": "rgba(210,210,210,0.22)"},
                 {"type": "scatter", "mode": "lines+markers", "x": x, "y": list(now),
                  "line": {"width": 3, "color": "#5bc0de"}, "marker": {"size": 5},
                  "hoverinfo": "skip"}],
        "layout": {"margin": {"l": 0, "r": 0, "t": 4, "b": 4}, "autosize": True,
                   "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                   "xaxis": {"visible": False},
                   "yaxis": {"visible": False, "rangemode": "tozero"}, "showlegend": False},
    }


def hourly_graph(graph_id: str) -> dcc.Graph:
    """An empty day-by-hour figure: today's count per hour as bars, a usual day's as a dashed
    line over them; `hourly_patch` fills both. Sized by its box, like a sparkline."""
    figure = {
        "data": [{"type": "bar", "x": [], "y": [], "marker": {"color": "#5bc0de"},
                  "hoverinfo": "skip"},
                 {"type": "scatter", "mode": "lines", "x": [], "y": [], "line_shape": "spline",
                  "line": {"width": 2, "color": "#e0e0e0", "dash": "dash"},
                  "hoverinfo": "skip"}],
        "layout": {"margin": {"l": 0, "r": 0, "t": 2, "b": 0}, "autosize": True, "bargap": 0.15,
                   "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
                   "xaxis": {"visible": False}, "yaxis": {"visible": False, "rangemode": "tozero"},
                   "showlegend": False},
    }
    return dcc.Graph(id=graph_id, figure=figure, className="sparkline hourly-graph",
                     config={"staticPlot": True, "displayModeBar": False, "responsive": True})


def hourly_patch(hours: Sequence[datetime], counts: Sequence[int | None],
                 usual: Sequence[float]) -> Patch:
    """`hourly_graph`'s bars (`counts`, None for hours to come) and usual line."""
    patch = Patch()
    x = [h.isoformat() for h in hours]
    patch["data"][0]["x"] = patch["data"][1]["x"] = x
    patch["data"][0]["y"] = list(counts)
    patch["data"][1]["y"] = list(usual)
    return patch


def with_usual(target: str, source: str, weeks: int, usual: str | None, lang: str) -> Any:
    """A tile's target line and, beside it, what a usual day shows at this point (its source
    in the tooltip): a leader reads today against both."""
    if usual is None:
        return target
    return [target, " · " if target else "", html.Span(
        t(f"usual.{source}", lang, value=usual), className="tile-usual",
        title=t(f"usual.{source}_title", lang, weeks=weeks))]


def with_usual_count(target: str, usual: UsualCount | None, lang: str,
                     whole: int | None = None) -> Any:
    """`with_usual` for a count a usual day shows ("4,5"; with its `whole`: "27/27")."""
    if usual is None:
        return target
    value = format_float(usual.value, lang, 0 if usual.value == round(usual.value) else 1)
    return with_usual(target, usual.source, usual.weeks,
                      value if whole is None else f"{value}/{whole}", lang)


def tile_card(key: str, label: str, graph: bool = True, hourly: bool = False) -> dbc.Card:
    """A KPI tile: label, big value, a line under it, the target, a sparkline (`hourly`: a
    day-by-hour chart), freshness."""
    body = [
        html.Div(label, className="tile-label"),
        html.Div("—", id=f"{key}-value", className="tile-value"),
        html.Div("", id=f"{key}-sub", className="tile-sub"),
        html.Div("", id=f"{key}-target", className="tile-target"),
    ]
    if graph:
        body.append(hourly_graph(f"{key}-graph") if hourly else sparkline(f"{key}-graph"))
    body.append(html.Div("", id=f"{key}-fresh", className="tile-fresh"))
    return dbc.Card(dbc.CardBody(body), id=f"{key}-card", className="kpi-tile h-100")


def tile(key: str, label: str, graph: bool = True, width: int = 3, hourly: bool = False
         ) -> dbc.Col:
    """A KPI tile in a grid column (the feed pages' rows)."""
    return dbc.Col(tile_card(key, label, graph, hourly), lg=width, md=6, className="mb-3")


def tile_class(fresh: Freshness | None, good: bool | None = None) -> str:
    """Grey when the feed is late (whatever the value), else green/red against the target."""
    classes = ["kpi-tile", "h-100"]
    if fresh is not None and fresh.late:
        classes.append("stale")
    elif good is True:
        classes.append("on-target")
    elif good is False:
        classes.append("off-target")
    return " ".join(classes)


def fresh_text(fresh: Freshness, lang: str, of: str = "data") -> str:
    """'Dữ liệu mới nhất: 10:05:09 22/11/2026 (42 giây trước)', or the late notice; `of`
    "alerts" words it for the alert engine's last evaluation, "dossiers" counts the limit
    in working time."""
    if fresh.newest is None:
        return t("alerts_never" if of == "alerts" else "no_data", lang)
    text = (f"{t('alerts_evaluated' if of == 'alerts' else 'newest_event', lang)}: "
            f"{format_time(fresh.newest, lang)} ({format_age(fresh.age_seconds or 0, lang)})")
    if fresh.late:
        late = {"data": "late", "alerts": "alerts_late", "dossiers": "late_working"}[of]
        text = t(late, lang, limit=format_age(fresh.limit_seconds, lang, ago=False)) \
            + " · " + text
    return text


# severity by shape and word as well as colour (colour-blind operators, a washed-out wall)
SEVERITY_ICON = {"critical": "▲", "warning": "◆", "info": "●"}


def severity_badge(severity: str, lang: str) -> dbc.Badge:
    text = f"{SEVERITY_ICON.get(severity, '●')} {t(f'severity.{severity}', lang)}"
    return dbc.Badge(text, color=SEVERITY_COLOR.get(severity, "light"),
                     className=f"sev-badge sev-{severity}")


def updated_line(read_at: datetime | None, lang: str) -> str:
    return f"{t('updated_at', lang)} {format_clock(read_at, lang)}" if read_at else ""


def pager(lang: str) -> html.Div:
    """The line under a table that must fit its box (class `fit-table`): which rows are shown
    and buttons to the previous and next page, filled and turned by the browser (20-wall.js),
    hidden when every row fits."""
    return html.Div([
        html.Button("‹", className="btn btn-sm btn-outline-light pager-prev",
                    title=t("pager.prev", lang), **{"aria-label": t("pager.prev", lang)}),
        html.Span(className="pager-shown"),
        html.Button("›", className="btn btn-sm btn-outline-light pager-next",
                    title=t("pager.next", lang), **{"aria-label": t("pager.next", lang)}),
    ], className="fit-pager", hidden=True,
        **{"data-template": t("pager.shown", lang, **{"from": "{from}", "to": "{to}",
                                                         "total": "{total}"})})


# Tables drawn by the browser (20-wall.js drawTable) from a description the server sends
# as data: Dash's renderer runs a selector for every component at every store update, so a
# page re-rendering hundreds of table cells as components each refresh held the browser's
# main thread for ~300 ms (docs/performance.md); as data they are one component.
Cell = dict[str, Any]


def cell(*parts: str | Cell | None, cls: str | None = None, title: str | None = None,
         span: int | None = None) -> Cell:
    """A table cell: its parts (text; `part` for styled text; None for a line break)."""
    out: Cell = {"parts": [{"br": True} if p is None else {"text": p} if isinstance(p, str)
                           else p for p in parts]}
    for key, value in (("class", cls), ("title", title), ("span", span)):
        if value is not None:
            out[key] = value
    return out


def part(text: str, cls: str | None = None, title: str | None = None) -> Cell:
    """Text in a cell with its own class (and tooltip, read by screen readers too); class
    "small" draws it as <small>."""
    return {"text": text, "class": cls, "title": title}


def row(cells: Sequence[Cell | str], cls: str | None = None) -> dict[str, Any]:
    return {"cells": [cell(c) if isinstance(c, str) else c for c in cells], "class": cls}


def table_data(table_id: str, head: Sequence[dict], body: Sequence[dict],
               cls: str = "wall-table") -> dict[str, Any]:
    """What `drawTable` draws into `table_box(table_id)`: a table (id `table_id`, Bootstrap's
    small striped style and `cls`) of `head` and `body` rows (`row`)."""
    return {"box": f"{table_id}-box", "id": table_id, "head": list(head), "body": list(body),
            "class": f"table table-sm table-striped {cls}"}


def table_box(table_id: str) -> list:
    """Where a browser-drawn table goes, and the data it is drawn from (an output)."""
    return [html.Div(id=f"{table_id}-box"), dcc.Store(id=f"{table_id}-data")]


def draw_table(app: Any, table_id: str) -> None:
    """Draw `table_id`'s box whenever its data changes (no round trip to the server)."""
    from dash import ClientsideFunction, Input, Output

    app.clientside_callback(ClientsideFunction("wall", "drawTable"),
                            Output(f"{table_id}-box", "data-drawn"),
                            Input(f"{table_id}-data", "data"))
