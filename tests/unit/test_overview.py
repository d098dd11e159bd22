"""The overview's figures for a snapshot, without a browser or a database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from ioc.indicators import COUNTS, Scope
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR, Settings
from ioc_dashboard.config import load_wall_config, pipeline_rules
from ioc_dashboard.context import WallContext
from ioc_dashboard.data import WallData
from ioc_dashboard.data.rows import (
    Alert,
    ConsultationWeek,
    DossierHour,
    DossierWeekHour,
    LinkMinute,
    LinkWeekMinute,
    PaymentMinute,
    PaymentWeekMinute,
    Snapshot,
)
from ioc_dashboard.i18n import format_percent
from ioc_dashboard.pages.feeds import (
    PAGES,
    output_name,
    render_payments,
    render_portal,
    render_telemedicine,
)
from ioc_dashboard.pages.overview import layout, render

NOW = datetime(2026, 11, 22, 3, 0, 30, tzinfo=UTC)  # 10:00:30 in Vietnam


@pytest.fixture(scope="module")
def ctx() -> WallContext:
    province = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
    data = WallData(lambda: None, interval=1)  # never read: render gets its snapshot directly
    return WallContext(Settings(), province, load_wall_config(), data,
                       pipeline_rules=pipeline_rules(Settings().alert_rules))


def _alert(severity: str, labels: dict, state: str = "firing", **extra) -> Alert:
    base = dict(fingerprint=f"fp-{severity}-{state}", rule="link_down", labels=labels,
                severity=severity, state=state, value=1.0, threshold=0.0,
                summary_vi="Mất kết nối", summary_en="Link down",
                starts_at=NOW - timedelta(minutes=3), pending_since=None, ends_at=None,
                updated_at=NOW, acknowledged_by=None, acknowledged_at=None, ack_comment=None,
                silenced_by=None)
    base.update(extra)
    return Alert(**base)


def _snapshot(ctx: WallContext, newest_age: float = 5) -> Snapshot:
    at = NOW - timedelta(seconds=newest_age)
    minute = at.replace(second=0)
    day = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # midnight in Vietnam
    links = [LinkMinute(minute - timedelta(minutes=m), h.link_id, h.code, h.unit, 12,
                        12 if (i == 0 and m == 0) else 0, 40.0, 0.1)
             for m in (1, 0) for i, h in enumerate(ctx.province.hospitals)]
    payments = [PaymentMinute(minute - timedelta(minutes=m), "tuition", 99, 1, 1_000_000)
                for m in range(6, -1, -1)]
    return Snapshot(
        newest={"dossier_events": at, "portal_health": at, "link_heartbeats": at,
                "consultations": at, "payments": at},
        dossiers_hourly=(DossierHour(day - timedelta(hours=1), 10, 10, 10, 10),
                         DossierHour(day, 200, 190, 100, 97),
                         DossierHour(day + timedelta(hours=1), 100, 95, 100, 90)),
        dossiers_day_start=day, links=tuple(links), payments=tuple(payments),
        consultations_active=4, ingest_delay_s=0.84, dead_letters=1525644, dead_letters_hour=3,
        alerts_available=True,
        alerts=(_alert("warning", {"unit": "16531"}),
                _alert("critical", {"link_id": ctx.province.hospitals[0].link_id},
                       acknowledged_by="an.nguyen", ack_comment="đang xử lý"),
                _alert("critical", {"unit": "14812"}, silenced_by=7,
                       fingerprint="fp-silenced")),
        read_at=NOW)


def _walk(node):
    """A layout's components, depth first."""
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            yield from _walk(child)


def _text(node) -> str:
    """What a rendered part reads as: its strings and its components' children, in order."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, list | tuple):
        return "".join(_text(n) for n in node)
    return _text(node.children)


def test_kpis_against_targets_in_vietnamese(ctx):
    out = render(_snapshot(ctx), NOW, "vi", ctx)
    value, sub, target, fresh, cls, _patch = out["kpi-ontime"]
    assert (value, sub) == ("93,50%", "200 hồ sơ đã giải quyết")
    # no earlier week stored: the usual day is the province's calibrated model
    sim = ctx.province.simulation
    assert _text(target) == "Mục tiêu ≥ 95% · mô hình " + format_percent(sim.on_time_share)
    assert _text(out["kpi-online"][2]) == "Mục tiêu ≥ 90% · mô hình " + format_percent(
        sim.online_share)
    assert fresh == "Dữ liệu mới nhất: 10:00:25 22/11/2026 (5 giây trước)"
    assert "off-target" in cls and "stale" not in cls
    assert out["kpi-online"][0] == "95,00%" and "on-target" in out["kpi-online"][4]
    # the first hospital's link went down in the newest minute
    assert out["kpi-links"][0] == "26/27"
    assert out["kpi-links"][1] == "4 phiên khám đang diễn ra"
    # mean of the 5 complete minutes before the newest one, success over 15 minutes
    assert out["kpi-pay"][0] == "100,0"
    assert out["kpi-pay"][1] == "thành công 99,00%"
    assert out["dead-letters"] == "1.525.644" and out["pipe-delay"] == "0,8 giây"


def test_english_formats(ctx):
    out = render(_snapshot(ctx), NOW, "en", ctx)
    assert out["kpi-ontime"][:2] == ("93.50%", "200 dossiers resolved")
    assert _text(out["kpi-ontime"][2]).startswith("Target ≥ 95% · model ")
    assert out["dead-letters"] == "1,525,644"


def test_tiles_set_today_beside_the_same_weekday_of_earlier_weeks(ctx):
    # weeks back, hour, received, online, resolved, on time: week 2 had nothing (down); the
    # hours after the newest dossier's are not yet "so far"
    day = _snapshot(ctx).dossiers_day_start
    snap = replace(_snapshot(ctx), dossiers_weeks=(
        DossierWeekHour(1, day, 100, 60, 80, 72),
        DossierWeekHour(1, day + timedelta(hours=23), 1000, 0, 1000, 0),
        DossierWeekHour(2, day, 0, 0, 0, 0)))
    out = render(snap, NOW, "vi", ctx)
    assert _text(out["kpi-ontime"][2]) == "Mục tiêu ≥ 95% · thường lệ 90,00%"
    assert _text(out["kpi-online"][2]) == "Mục tiêu ≥ 90% · thường lệ 60,00%"
    usual = out["kpi-online"][2][-1]
    assert usual.className == "tile-usual" and "1 tuần trước" in usual.title
    # payments: the rhythm model's usual rate beside the success target
    assert "/phút" in _text(out["kpi-pay"][2]) and "mô hình" in _text(out["kpi-pay"][2])


def test_the_payments_tiles_set_the_last_hour_beside_the_same_hour_of_earlier_weeks(ctx):
    model = render_payments(_snapshot(ctx), NOW, "vi", ctx)
    assert _text(model["pay-success-target"]) == "Mục tiêu ≥ 98% · mô hình " + format_percent(
        ctx.province.simulation.payment_success_ratio)
    assert _text(model["pay-rate-target"]).startswith("mô hình ")
    # one week before: 40 tuition payments a minute over the same minutes, 2 of them failed
    minute = (NOW - timedelta(seconds=5)).replace(second=0)
    weeks = tuple(PaymentWeekMinute(1, minute - timedelta(minutes=m), "tuition", 38, 2)
                  for m in range(1, 50))
    out = render_payments(replace(_snapshot(ctx), payments_weeks=weeks), NOW, "vi", ctx)
    assert (out["pay-rate-value"], out["pay-success-value"]) == ("100,0", "99,00%")
    assert _text(out["pay-rate-target"]) == "thường lệ 40,0/phút"
    assert _text(out["pay-success-target"]) == "Mục tiêu ≥ 98% · thường lệ 95,00%"
    assert "1 tuần trước" in out["pay-success-target"][-1].title


def test_the_consultations_tile_sets_those_running_beside_a_usual_day(ctx):
    snap = replace(_snapshot(ctx), consultations_active=4)
    # NOW is a Sunday: no clinic in the model, no earlier week stored
    model = render_telemedicine(snap, NOW, "vi", ctx)
    assert model["tele-sessions-value"] == "4"
    assert _text(model["tele-sessions-target"]) == "mô hình 0"
    # the links: every link up in the model, the same minute's share when weeks are stored
    assert _text(model["tele-links-target"]) == "Mục tiêu 100% · mô hình 27/27"
    # two weeks with consultations that day (6 and 3 running at this time), one without
    weeks = (ConsultationWeek(1, 6, 120), ConsultationWeek(2, 3, 80), ConsultationWeek(3, 0, 0))
    out = render_telemedicine(replace(snap, consultations_weeks=weeks), NOW, "vi", ctx)
    assert _text(out["tele-sessions-target"]) == "thường lệ 4,5"
    assert "2 tuần trước" in out["tele-sessions-target"][-1].title
    links = replace(snap, links_weeks=(LinkWeekMinute(1, 27, 27), LinkWeekMinute(2, 25, 27),
                                       LinkWeekMinute(3, 0, 0)))
    overview = render(links, NOW, "vi", ctx)["kpi-links"]
    assert _text(overview[2]) == "Mục tiêu 100% · thường lệ 26/27"


def test_a_late_feed_turns_grey_and_says_so(ctx):
    out = render(_snapshot(ctx, newest_age=400), NOW, "vi", ctx)
    for key in ("kpi-links", "kpi-pay"):
        assert "stale" in out[key][4], key
        assert out[key][3].startswith("DỮ LIỆU TRỄ"), out[key][3]
    # links not heard from are not counted as up
    assert out["kpi-links"][0] == "0/27"
    # NOW is a Sunday: no dossier for 400 s is no news, the dossier tiles stay live
    for key in ("kpi-ontime", "kpi-online"):
        assert "stale" not in out[key][4] and out[key][3].startswith("Dữ liệu mới nhất")


@pytest.mark.parametrize(("now_local", "newest_local", "late"), [
    ("2026-11-23 10:00", "2026-11-23 08:00", True),    # Monday: two working hours without one
    ("2026-11-23 10:00", "2026-11-23 09:45", False),   # a quarter of an hour: normal
    ("2026-11-23 19:00", "2026-11-23 16:55", False),   # evening: office hours ended at 17:00
    ("2026-11-24 07:40", "2026-11-23 16:55", True),    # next morning: 5 + 40 working minutes
])
def test_dossier_tiles_count_lateness_in_working_time(ctx, now_local, newest_local, late):
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    now = datetime.fromisoformat(now_local).replace(tzinfo=tz)
    newest = datetime.fromisoformat(newest_local).replace(tzinfo=tz)
    snap = replace(_snapshot(ctx), newest={**_snapshot(ctx).newest, "dossier_events": newest,
                                          "portal_health": now})
    tile = render(snap, now, "vi", ctx)["kpi-ontime"]
    assert ("stale" in tile[4]) is late
    assert tile[3].startswith("DỮ LIỆU TRỄ: không có hồ sơ mới quá 30 phút giờ làm việc") is late


def test_patches_only_the_series(ctx):
    patch = render(_snapshot(ctx), NOW, "vi", ctx)["kpi-pay"][5]
    operations = patch.to_plotly_json()["operations"]
    assert {tuple(op["location"]) for op in operations} == {("data", 0, "x"), ("data", 0, "y")}


def test_units_take_their_worst_unsilenced_alert(ctx):
    out = render(_snapshot(ctx), NOW, "vi", ctx)
    # only the units in trouble are sent at each refresh; the browser draws the others ok
    assert out["units"] == {"16531": "warning", ctx.province.hospitals[0].unit: "critical"}
    assert "14812" not in out["units"]  # silenced
    # the map as sent with the layout: every unit, its name, position and classes
    static = next(c.data for c in _walk(layout(ctx, "vi")) if getattr(c, "id", None)
                  == "units-static")
    assert [u[0] for u in static] == [u.code for u in ctx.province.units]
    assert all(0 <= u[3] <= 100 and 0 <= u[4] <= 100 for u in static)
    by_unit = {u[0]: u[5] for u in static}
    # the hospitals' units are marked, and the schematic cells take the same colours
    assert all("unit-hospital" in by_unit[h.unit] for h in ctx.province.hospitals)
    plain = next(u.code for u in ctx.province.units
                 if u.code not in {h.unit for h in ctx.province.hospitals})
    assert "unit-hospital" not in by_unit[plain]
    cells = unquote(out["units-map"]["backgroundImage"])
    assert cells.count("<polygon") == len(ctx.province.units)
    assert cells.count('fill="#e74c3c"') == 1 and cells.count('fill="#f39c12"') == 1


def test_alert_list_shows_severity_age_and_acknowledgement(ctx):
    rows = render(_snapshot(ctx), NOW, "vi", ctx)["alerts"]
    text = str(rows)
    assert "▲ Nghiêm trọng" in text and "◆ Cảnh báo" in text and "3 phút trước" in text
    assert "Đã xác nhận bởi an.nguyen" in text and "Đang tắt thông báo" in text


def test_without_data_or_alert_engine(ctx):
    out = render(Snapshot(read_at=NOW), NOW, "vi", ctx)
    assert out["kpi-ontime"][0] == "—" and out["kpi-ontime"][3] == "Chưa có dữ liệu"
    assert "stale" in out["kpi-pay"][4]
    assert "Chưa có bộ cảnh báo" in str(out["alerts"])


def test_alert_panels_follow_the_engine_s_last_evaluation(ctx):
    fresh = replace(_snapshot(ctx), db_now=NOW, alerts_evaluated_at=NOW - timedelta(seconds=4))
    out = render(fresh, NOW, "vi", ctx)
    assert out["alerts-fresh"] == "Cảnh báo đánh giá lúc: 10:00:26 22/11/2026 (4 giây trước)"
    assert "stale" not in out["alerts-card"] and "stale" not in out["units-card"]
    stopped = replace(fresh, alerts_evaluated_at=NOW - timedelta(minutes=3))
    out = render(stopped, NOW, "en", ctx)
    assert out["alerts-fresh"].startswith("ALERT ENGINE LATE: nothing evaluated for over 30 s")
    assert "stale" in out["alerts-card"] and "stale" in out["units-card"]
    never = replace(fresh, alerts_evaluated_at=None)
    assert render(never, NOW, "vi", ctx)["alerts-fresh"].startswith("BỘ CẢNH BÁO CHƯA CHẠY")


def test_alerts_about_the_ioc_itself_go_to_the_pipeline_strip(ctx):
    assert {"watchdog", "ingest_stalled", "rule_error"} <= ctx.pipeline_rules
    assert "link_heartbeat_missing" not in ctx.pipeline_rules
    watchdog = _alert("info", {}, rule="watchdog", fingerprint="fp-watchdog",
                      summary_vi="Kiểm tra đường cảnh báo")
    snap = replace(_snapshot(ctx), alerts=(*_snapshot(ctx).alerts, watchdog), db_now=NOW,
                   alerts_evaluated_at=NOW - timedelta(seconds=2))
    out = render(snap, NOW, "vi", ctx)
    assert "fp-watchdog" not in str(out["alerts"]) and "fp-warning-firing" in str(out["alerts"])
    assert out["pipe-checks"].children == "Tự kiểm tra ✓"  # the watchdog proves the path
    assert "Kiểm tra đường cảnh báo" in out["pipe-checks"].title
    stalled = _alert("critical", {"feed": "payments"}, rule="ingest_stalled",
                     fingerprint="fp-stalled", summary_en="Ingest stalled")
    out = render(replace(snap, alerts=(*snap.alerts, stalled)), NOW, "en", ctx)
    assert "fp-stalled" not in str(out["alerts"])
    assert out["pipe-checks"].children == "Self-checks ⚠ 1"
    assert out["pipe-checks"].color == "danger" and "Ingest stalled" in out["pipe-checks"].title
    # without the watchdog (or with the engine late) nothing proves the alert path
    quiet = replace(snap, alerts=_snapshot(ctx).alerts)
    assert render(quiet, NOW, "en", ctx)["pipe-checks"].children == "Self-checks ?"
    late = replace(snap, alerts_evaluated_at=NOW - timedelta(minutes=5))
    assert render(late, NOW, "en", ctx)["pipe-checks"].children == "Self-checks ?"


def test_an_unreadable_rules_file_hides_nothing(tmp_path):
    assert pipeline_rules(tmp_path / "missing.yaml") == frozenset()
    (tmp_path / "bad.yaml").write_text("rules: [", encoding="utf-8")
    assert pipeline_rules(tmp_path / "bad.yaml") == frozenset()


def test_the_alerts_page_lists_alerts_about_the_ioc_after_the_services(ctx):
    from ioc_dashboard.pages.alerts import render as render_alerts

    stalled = _alert("critical", {"feed": "payments"}, rule="ingest_stalled",
                     fingerprint="fp-stalled", summary_vi="Dừng ghi nhận")
    snap = replace(_snapshot(ctx), alerts=(stalled, *_snapshot(ctx).alerts))
    table, pager = render_alerts(snap, NOW, "vi", ctx.config, ctx.pipeline_rules)["table"]
    rows = table.children[1].children
    assert "fit-pager" in pager.className  # the browser shows the rows that fit, a page at a time
    assert [r.id for r in rows][-1] == "alert-row-fp-stalled"   # after the services' alerts
    assert "[Hệ thống IOC]" in str(rows[-1]) and "[Hệ thống IOC]" not in str(rows[0])


def test_a_province_without_hospitals_says_no_links_are_configured(ctx):
    bare = replace(ctx, province=ctx.province.model_copy(update={"hospitals": []}), cache={})
    snap = replace(_snapshot(ctx), links=())
    tile = render(snap, NOW, "vi", bare)["kpi-links"]
    assert tile[:2] == ("—", "Chưa cấu hình kết nối khám chữa bệnh từ xa")
    assert "stale" not in tile[4] and "0/0" not in str(tile)
    page = render_telemedicine(snap, NOW, "en", bare)
    assert page["tele-links-value"] == "—"
    assert "No telemedicine links configured" in str(page["telemedicine-body"])
    assert "0/0" not in str(page)


def _assigned(patch) -> dict[tuple, list]:
    """What a Patch sets: location -> value."""
    return {tuple(op["location"]): op["params"]["value"]
            for op in patch.to_plotly_json()["operations"]}


def test_the_portal_tiles_chart_today_by_hour_against_a_usual_day(ctx):
    day = _snapshot(ctx).dossiers_day_start
    snap = replace(_snapshot(ctx), dossiers_weeks=(
        DossierWeekHour(1, day, 120, 60, 90, 80),
        DossierWeekHour(1, day + timedelta(hours=1), 60, 30, 40, 40)))
    out = render_portal(snap, NOW, "vi", ctx)
    assert (out["portal-received-value"], out["portal-resolved-value"]) == ("300", "200")
    # so far (10:00:25 local): midnight's and 1 o'clock's hours of the week before
    assert _text(out["portal-received-sub"]) == "thường lệ 180"
    assert _text(out["portal-resolved-sub"]) == "thường lệ 130"
    received = _assigned(out["portal-received-graph"])
    assert len(received[("data", 0, "x")]) == 24
    assert received[("data", 0, "y")][:3] == [200, 100, 0]  # yesterday's hour left out
    assert received[("data", 0, "y")][11:] == [None] * 13  # hours to come
    assert received[("data", 1, "y")][:3] == [120, 60, 0]
    assert _assigned(out["portal-resolved-graph"])[("data", 1, "y")][:2] == [90, 40]
    # the shares' tiles: the target and the same weekday so far, as on the overview
    assert _text(out["portal-ontime-target"]) == "Mục tiêu ≥ 95% · thường lệ 92,31%"
    assert _text(out["portal-online-target"]) == "Mục tiêu ≥ 90% · thường lệ 50,00%"
    # no history: the model's day, said in the tooltip
    model = render_portal(_snapshot(ctx), NOW, "vi", ctx)
    assert _text(model["portal-received-sub"]).startswith("mô hình ")


def test_the_portal_ranks_agencies_and_centres_by_dossiers_resolved_late(ctx):
    def scope(level: str, code: str | None, received: int, resolved: int, on_time: int):
        counts = dict.fromkeys(COUNTS, 0)
        counts.update(received=received, resolved=resolved, resolved_on_time=on_time)
        return Scope(level, code, counts)

    agencies = [a.code for a in ctx.province.agencies[:3]]
    centres = [u.code for u in ctx.province.units[:2]]
    snap = replace(_snapshot(ctx), dossier_scopes=(
        scope("province", None, 90, 60, 50),
        scope("agency", agencies[0], 50, 30, 30),   # busiest, none late
        scope("agency", agencies[1], 10, 10, 4),    # 6 late
        scope("agency", agencies[2], 30, 20, 16),   # 4 late
        scope("centre", centres[0], 40, 20, 19), scope("centre", centres[1], 5, 5, 1)))
    out = render_portal(snap, NOW, "vi", ctx)
    # the tables as the browser draws them: each cell's text
    tables = {name: [["".join(p.get("text", "") for p in c["parts"]) for c in r["cells"]]
                     for r in out[f"{name}-data"]["body"]]
              for name in ("portal-indicators", "portal-centres")}
    assert out["portal-centres-data"]["box"] == "portal-centres-box"
    names = {a.code: a.name_vi for a in ctx.province.agencies}
    rows = tables["portal-indicators"]
    assert [r[0] for r in rows] == ["Thanh Hóa"] + [names[a] for a in
                                                   (agencies[1], agencies[2], agencies[0])]
    assert [r[1:3] for r in rows] == [["90", "10"], ["10", "6"], ["30", "4"], ["50", "0"]]
    units = {u.code: u.name_vi for u in ctx.province.units}
    assert [r[:3] for r in tables["portal-centres"]] == [[units[centres[1]], "5", "4"],
                                                         [units[centres[0]], "40", "1"]]


def test_the_refresh_sets_every_output_by_name(ctx):
    """The overview's callback returns its outputs by name, one for each it declares."""
    from ioc_dashboard.pages.overview import OUTPUTS, named_outputs

    named = named_outputs(render(_snapshot(ctx), NOW, "vi", ctx))
    assert set(named) == set(OUTPUTS)
    assert named["units-map"] == render(_snapshot(ctx), NOW, "vi", ctx)["units-map"]
    assert OUTPUTS["overview-updated"].component_property == "children"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_each_feed_page_renders_every_output_it_declares_by_name(ctx, name):
    _path, _layout, render_page, outputs = PAGES[name]
    assert set(render_page(_snapshot(ctx), NOW, "vi", ctx)) == {
        output_name(component) for component, _ in outputs}
