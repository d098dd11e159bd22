"""The overview's figures for a snapshot, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ioc_dashboard.data import FeedStat, Snapshot
from ioc_dashboard.pages.overview import render

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_render_formats_rows_and_freshness():
    snap = Snapshot(feeds=(FeedStat("payments", 1525644, NOW - timedelta(seconds=30)),
                           FeedStat("portal", 12, None)), dead_letters=3, read_at=NOW)
    rows_portal, rows_tele, rows_pay, fresh_portal, fresh_tele, fresh_pay, dead, banner, \
        updated = render(snap, NOW, "vi")
    assert (rows_portal, rows_tele, rows_pay) == ("12", "—", "1.525.644")
    assert fresh_portal == fresh_tele == "Chưa có dữ liệu"
    assert fresh_pay == "Dữ liệu mới nhất: 09:59:30 22/11/2026 (30 giây trước)"
    assert dead == "3" and banner is None and updated.startswith("Cập nhật lúc")


def test_lost_connection_is_shown():
    snap = Snapshot(read_at=NOW - timedelta(minutes=5), lost_since=NOW - timedelta(minutes=4),
                    error="down")
    banner = render(snap, NOW, "vi")[7]
    assert "Mất kết nối cơ sở dữ liệu từ 09:56:00 22/11/2026" in str(banner.children)
