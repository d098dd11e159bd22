"""The units map's schematic cells: a Voronoi tessellation of the centroids, clipped to
their (widened) convex hull."""

from __future__ import annotations

import pytest

from ioc.province import load_province
from ioc_dashboard.cells import _widen, convex_hull, voronoi_cells
from ioc_dashboard.figures import unit_positions


def _area(polygon):
    return abs(sum(a[0] * b[1] - b[0] * a[1]
                   for a, b in zip(polygon, polygon[1:] + polygon[:1], strict=True))) / 2


def _inside(point, polygon):
    """True when `point` is inside convex, counter-clockwise `polygon` (or on its edge)."""
    return all((b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0]) >= -1e-9
               for a, b in zip(polygon, polygon[1:] + polygon[:1], strict=True))


def test_the_hull_of_a_square_with_inner_points_is_its_corners():
    points = [(0, 0), (10, 0), (10, 10), (0, 10), (5, 5), (2, 7), (5, 0)]
    assert convex_hull(points) == [(0, 0), (10, 0), (10, 10), (0, 10)]


def test_four_points_in_a_square_split_it_into_quarters():
    cells = voronoi_cells({"a": (25, 25), "b": (75, 25), "c": (75, 75), "d": (25, 75)},
                          margin=0)
    # the hull is the square of the points; each cell is a quarter of it
    assert all(_area(c) == pytest.approx(2500 / 4) for c in cells.values())


@pytest.mark.parametrize("code", ["38", "33"])
def test_every_commune_has_a_cell_around_it_and_the_cells_tile_the_hull(code):
    positions = unit_positions(load_province(code))
    cells = voronoi_cells(positions, margin=3.0)
    assert set(cells) == set(positions)
    for unit, point in positions.items():
        assert len(cells[unit]) >= 3 and _inside(point, cells[unit]), unit
    # no gaps, no overlaps: the cells' areas add up to the widened hull's
    hull = _widen(convex_hull(list(positions.values())), 3.0)
    assert sum(_area(c) for c in cells.values()) == pytest.approx(_area(hull), rel=1e-9)
