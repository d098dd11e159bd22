"""Schematic cells of the units map: each commune's area drawn as the part of the province
nearer to its centroid than to any other (a Voronoi tessellation clipped to the convex hull
of the centroids, widened a little so the outer communes get whole cells).

No boundary polygons are available offline and the wall fetches no map tiles, so the cells
are labelled as schematic on the wall: they show where a commune lies and roughly how big
its neighbourhood is, not its legal boundary. Pure geometry, in the map box's percent
coordinates (`figures.unit_positions`), computed once per province.
"""

from __future__ import annotations

from urllib.parse import quote

Point = tuple[float, float]

# fill and outline of a cell by its unit's worst alert (the dots' colours, 10-wall.css)
CELL_FILL = {"ok": ("#00bc8c", 0.10), "info": ("#3498db", 0.30),
             "warning": ("#f39c12", 0.40), "critical": ("#e74c3c", 0.55)}


def convex_hull(points: list[Point]) -> list[Point]:
    """The convex hull of `points`, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts

    def turn(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    upper: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and turn(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and turn(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _widen(hull: list[Point], margin: float) -> list[Point]:
    """`hull` with each vertex pushed `margin` away from the hull's centre."""
    cx = sum(x for x, _ in hull) / len(hull)
    cy = sum(y for _, y in hull) / len(hull)
    out = []
    for x, y in hull:
        d = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 or 1.0
        out.append((x + margin * (x - cx) / d, y + margin * (y - cy) / d))
    return out


def _nearer(polygon: list[Point], p: Point, q: Point) -> list[Point]:
    """The part of convex `polygon` nearer to `p` than to `q` (one Sutherland–Hodgman step
    against their perpendicular bisector)."""
    nx, ny = q[0] - p[0], q[1] - p[1]
    c = (q[0] ** 2 + q[1] ** 2 - p[0] ** 2 - p[1] ** 2) / 2  # nearer to p: n·v < c
    out: list[Point] = []
    for i, a in enumerate(polygon):
        b = polygon[(i + 1) % len(polygon)]
        sa, sb = nx * a[0] + ny * a[1] - c, nx * b[0] + ny * b[1] - c
        if sa <= 0:
            out.append(a)
        if (sa < 0 < sb) or (sb < 0 < sa):
            k = sa / (sa - sb)
            out.append((a[0] + k * (b[0] - a[0]), a[1] + k * (b[1] - a[1])))
    return out


def voronoi_cells(points: dict[str, Point], margin: float = 3.0) -> dict[str, list[Point]]:
    """Code -> its cell (a convex polygon containing its point). Points that coincide share
    the cell of the first. O(n²) half-plane clips: a few hundredths of a second for 200."""
    hull = _widen(convex_hull(list(points.values())), margin)
    cells: dict[str, list[Point]] = {}
    for code, p in points.items():
        cell = hull
        for other, q in points.items():
            if other != code and q != p and cell:
                cell = _nearer(cell, p, q)
        cells[code] = cell
    return cells


def cells_background(cells: dict[str, list[Point]], worst: dict[str, str]) -> str:
    """A CSS `background-image` value: the cells as an SVG stretched over the map box, each
    filled by its unit's worst alert (`worst`: code -> severity; absent = ok)."""
    shapes = []
    for code, cell in cells.items():
        if len(cell) < 3:
            continue
        colour, opacity = CELL_FILL.get(worst.get(code, "ok"), CELL_FILL["ok"])
        points = " ".join(f"{x:.2f},{y:.2f}" for x, y in cell)
        shapes.append(f'<polygon points="{points}" fill="{colour}" fill-opacity="{opacity}"/>')
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" '
           'preserveAspectRatio="none"><style>polygon{stroke:#9fb3c8;stroke-opacity:.35;'
           'stroke-width:1;vector-effect:non-scaling-stroke}</style>' + "".join(shapes)
           + "</svg>")
    return f'url("data:image/svg+xml,{quote(svg)}")'
