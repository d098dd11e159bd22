"""Every wall page fits a wall screen whatever it holds: at 1920x1080 and 3840x2160, in both
languages, with more alerts and silences than the panels can list, the province's longest
names and late feeds (the longest freshness lines), nothing scrolls, overflows its panel or
is clipped; the alerts page shows a page of alerts at a time and turns to the others."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ioc.db import connect
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc_dashboard.app import create_app
from ioc_dashboard.data import WallData
from ioc_dashboard.i18n import t
from ioc_dashboard.pages.feeds import CENTRES_SHOWN
from proof.bench.wall import generate
from streams.alerts.backtest import alerts_of, diff, event_time_rules
from streams.alerts.engine import render
from streams.alerts.rules import load_rules
from tests.browser.conftest import SCREENS, console_errors, serving, set_screen, waiter

pytestmark = pytest.mark.browser

ALERTS = 20  # more than the overview lists (wall.yaml overview_alerts)
LISTED = ALERTS + 1  # on the alerts page, after them: one about the pipeline (a broker)
SILENCES = 8  # more than the alerts page has room for under its alerts

FIT_PROBLEMS = (Path(__file__).parent / "fit_problems.js").read_text()


# every table that shows a page of its rows (the alerts page) fitted to this screen
FITTED = """
const near = (a, b) => Math.abs(a - b) < 2;
return [...document.querySelectorAll('.fit-table')].every(
  b => b.dataset.fitted === innerWidth + 'x' + innerHeight)
  && [...document.querySelectorAll('.dash-graph')].every(g => {  // charts redrawn at their size
    const svg = g.querySelector('.main-svg');
    if (!svg) return true;
    const box = g.getBoundingClientRect(), drawn = svg.getBoundingClientRect();
    return near(box.width, drawn.width) && near(box.height, drawn.height);
  });
"""

# the rows of the alerts table shown, and its pager's line, once fitted to this screen
PAGE_SHOWN = """
const box = document.querySelector('.alerts-box');
if (!box || box.dataset.fitted !== innerWidth + 'x' + innerHeight) return null;
const rows = [...box.querySelectorAll('tbody > tr')];
const pager = box.querySelector('.fit-pager');
return [rows.map(r => !r.hidden), pager.hidden ? null
        : getComputedStyle(pager.querySelector('.pager-shown'), '::after').content];
"""

# (alerts shown, the "and N more" line) once the list has been fitted to this screen
SHOWN = """
const list = document.getElementById('overview-alerts');
const more = document.getElementById('overview-alerts-more');
if (!more || more.hidden || !more.dataset.more) return null;
if (list.dataset.fitted !== innerWidth + 'x' + innerHeight) return null;  // not yet refitted
const rows = [...list.querySelectorAll('.alert-row')].filter(r => !r.hidden);
return rows.length && list.scrollHeight <= list.clientHeight + 1
  ? [rows.length, more.dataset.more] : null;
"""


def _longest(items, attr: str):
    return sorted(items, key=lambda i: -len(getattr(i, attr)))


@pytest.fixture
def crowded(migrated):
    """A minute-old quiet province (every feed late: the longest freshness lines) and more
    active alerts than the overview lists, on the longest names, acknowledged by a user with
    a long name; no alert engine has run (the longest alert-panel notice); the wall refreshes
    every 3 s."""
    province = load_province(migrated.province_file)
    rules = load_rules(migrated.alert_rules).rules
    end = datetime.now(UTC) - timedelta(minutes=1)
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")  # generate() draws with random()
        generate(conn, province, end - timedelta(minutes=2), end)
        # a first start's simulated history (the marker in the header)
        conn.execute("INSERT INTO backfills (period_from, period_to, seed, finished_at)"
                     " VALUES (%s, %s, 1, now())", (end - timedelta(hours=24), end))
        # today's dossiers at every agency, received and resolved late at the communes with
        # the longest names, every indicator below target: the portal page's tables at
        # their fullest and widest
        at = end - timedelta(seconds=30)
        conn.execute(
            "INSERT INTO dossier_events (event_id, occurred_at, unit_code, unit_codes,"
            " event_type, dossier_id, procedure_code, agency_code, service_level, channel,"
            " due_at, result, centre_code, digitised, payment, e_result)"
            " SELECT 'fit-' || e || '-' || a || '-' || c, %(at)s, c, ARRAY[c], e,"
            "  'fit-' || a || '-' || c, 'proc', a, CASE WHEN e = 'received' THEN 'full' END,"
            "  CASE WHEN e = 'received' THEN 'in_person' END, %(at)s - interval '1 hour',"
            "  CASE WHEN e = 'resolved' THEN 'approved' END, c, false,"
            "  CASE WHEN e = 'received' THEN 'in_person' END, false"
            " FROM unnest(%(agencies)s::text[]) AS a, unnest(%(communes)s::text[]) AS c,"
            "      unnest(ARRAY['received', 'resolved']) AS e",
            {"at": at, "agencies": [a.code for a in province.agencies],
             "communes": [u.code for u in _longest(province.units, "name_vi")[:CENTRES_SHOWN]]})
        hospitals = _longest(province.hospitals, "name_vi")
        units = {u.code: u for u in province.units}
        for i in range(ALERTS):
            h = hospitals[i % len(hospitals)]
            name = "link_heartbeat_missing" if i % 2 else "link_latency_high"
            rule = rules[name]
            labels = {"link_id": h.link_id, "unit": h.unit, "hospital_name": h.name_vi,
                      "unit_name": units[h.unit].name_vi}
            summary = {lang: render(getattr(rule, f"summary_{lang}"), labels, 1234.0, 600.0,
                                    province.province.name_vi, lang) for lang in ("vi", "en")}
            conn.execute(
                "INSERT INTO alerts (fingerprint, rule, labels, severity, state, summary_vi,"
                " summary_en, starts_at, updated_at, acknowledged_by, acknowledged_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, now() - %s * interval '7 minutes', now(),"
                " %s, now())",
                (f"fp-{i}", name, json.dumps(labels), ("critical", "warning")[i % 2],
                 ("firing", "flapping", "pending")[i % 3], summary["vi"], summary["en"], i + 1,
                 "nguyen.thi.minh.khai.truc.ban" if i % 3 == 0 else None))
        # one about the pipeline: the overview's strip and the end of the alerts page show it
        broker = rules["broker_out_of_sync"]
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, labels, severity, state, summary_vi,"
            " summary_en, starts_at, updated_at) VALUES ('fp-broker', 'broker_out_of_sync',"
            " %s, 'warning', 'firing', %s, %s, now() - interval '3 minutes', now())",
            (json.dumps({"broker": "3"}), *(render(getattr(broker, f"summary_{lang}"),
                                                   {"broker": "3"}, 12.0, 0.0,
                                                   province.province.name_vi, lang)
                                            for lang in ("vi", "en"))))
        # silences on the longest names, more than the page has room for under the alerts
        for i, h in enumerate(hospitals[:SILENCES]):
            matchers = [{"name": "alertname", "op": "=", "value": "link_heartbeat_missing"},
                        {"name": "hospital_name", "op": "=", "value": h.name_vi}]
            conn.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)"
                " VALUES (%s, now(), now() + %s * interval '1 hour', %s, %s)",
                (json.dumps(matchers, ensure_ascii=False), i + 1,
                 "nguyen.thi.minh.khai.truc.ban",
                 "Bảo trì đường truyền theo kế hoạch của Viễn thông tỉnh, đã báo bệnh viện"))
    _backtest(migrated, province)
    # a refresh every 3 s, not the tier's 1 s: Dash drops a callback's reply when the next tick
    # fires before it arrives, so on a loaded machine a 1 s tick starved the header's slower
    # callback and its backfill marker was drawn only after the test had stopped waiting
    return migrated.with_(refresh_seconds=3.0), province


def _backtest(settings, province) -> None:
    """A finished backtest of a day in the backtest namespace: every event-time rule fired
    twice on the longest-named link, a diff against a second rules file; before it, an older
    run of another day where two rules fired."""
    kept, left_out = event_time_rules(load_rules(settings.alert_rules))
    link = _longest(province.hospitals, "name_vi")[0]
    day = datetime(2026, 3, 2, tzinfo=UTC)
    changes = []
    for i, name in enumerate(kept.rules):
        labels = {"link_id": link.link_id, "hospital_name": link.name_vi}
        for k in range(2):
            start = day + timedelta(hours=1 + k * 10 + i / 2)
            changes += [{"rule": name, "labels": labels, "from": "pending", "to": "firing",
                         "at": start.isoformat(), "value": 1.0},
                        {"rule": name, "labels": labels, "from": "firing", "to": "resolved",
                         "at": (start + timedelta(minutes=40)).isoformat(), "value": 0.0}]
    end = day + timedelta(hours=24)
    alerts, summary = alerts_of(changes, end)
    theirs, _ = alerts_of(changes[4:], end)
    result = {"input": {"recording": "ngay-thu-hai.jsonl.gz"},
              "events": {"stored": 1, "refused": {}},
              "period": {"first_event": day.isoformat(), "last_event": end.isoformat()},
              "left_out": left_out, "alerts": alerts, "summary": summary,
              "against": {"summary": {}, **diff(alerts, theirs)}}
    older, older_summary = alerts_of(changes[:8], end)
    backtest = settings.for_backtest()
    migrate_database(backtest, backtest.database_url)
    with connect(backtest.database_url, backtest.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO backtest_runs (input, rules, finished_at, result) VALUES"
                     " ('/tmp/ngay-chu-nhat.jsonl.gz', 'default.yaml', now(), %s)",
                     (json.dumps({**result, "alerts": older, "summary": older_summary,
                                  "against": None}, ensure_ascii=False),))
        conn.execute("INSERT INTO backtest_runs (input, rules, against, finished_at, result)"
                     " VALUES ('/tmp/ngay-thu-hai.jsonl.gz', 'default.yaml', 'relaxed.yaml',"
                     " now(), %s)", (json.dumps(result, ensure_ascii=False),))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_overview_fits_the_screen_whatever_it_holds(crowded, browser, lang, request):
    settings, province = crowded
    app = create_app(settings, WallData.from_settings(settings), province=province)
    with serving(app, settings.dashboard_port):
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}/?lang={lang}")
        wait = waiter(browser)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".alert-row")) >= 8)
        wait.until(lambda d: "stale" in d.find_element(By.ID, "kpi-links-card")
                   .get_attribute("class"))
        # the header is re-rendered at every refresh: read the marker afresh until it is drawn
        wait.until(lambda d: d.find_element(By.ID, "backfill-marker").text.startswith(
            ("Mô phỏng: 24 giờ trước ", "Simulated: the 24 h before ")))
        # the broker's alert is the pipeline's, not the operators': the strip's badge counts
        # it and names the broker in its title
        broker = "Máy chủ Kafka (broker) 3:" if lang == "vi" else "Kafka broker 3:"
        wait.until(lambda d: (b := d.find_element(By.ID, "self-checks")).text.endswith("⚠ 1")
                   and broker in b.get_attribute("title"))
        for width, height in SCREENS:
            set_screen(browser, width, height)
            # settled: the list shows the alerts that fit and counts the others
            shown, more = wait.until(lambda d: d.execute_script(SHOWN))
            shots = request.config.getoption("--screenshot-dir")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(Path(shots) / f"fit-overview-{lang}-{width}.png"))
            assert shown >= 4, f"{width}x{height}: only {shown} alerts shown"
            assert more == t("alerts_more", lang, n=ALERTS - shown)
            problems = browser.execute_script(FIT_PROBLEMS)
            assert problems == [], f"{width}x{height} ({lang}): {problems}"
        assert console_errors(browser) == []


def test_a_province_by_code_alone_shows_its_communes(migrated, browser):
    """Hà Nội (01) has no file: its 126 communes come from the units dataset, its
    telemedicine tile says no links are configured, and a commune in trouble is named."""
    province = load_province("01")
    troubled = next(u for u in province.units if u.name_vi == "Phường Hoàn Kiếm")
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO alerts (fingerprint, rule, labels, severity, state, summary_vi,"
            " summary_en, starts_at, updated_at) VALUES ('fp-hn', 'payment_success_low', %s,"
            " 'critical', 'firing', 'x', 'x', now(), now())",
            (json.dumps({"unit": troubled.code}),))
    app = create_app(migrated, WallData.from_settings(migrated), province=province)
    with serving(app, migrated.dashboard_port):
        browser.get(f"http://127.0.0.1:{migrated.dashboard_port}/?lang=vi")
        set_screen(browser, *SCREENS[0])
        wait = waiter(browser)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".unit.unit-critical"))
        units = browser.find_elements(By.CSS_SELECTOR, ".units-map .unit")
        assert len(units) == len(province.units) == 126
        named = [u.text for u in units if u.text]
        assert named == ["Hoàn Kiếm"]  # only the unit in trouble carries its name
        assert t("links_none", "vi") in browser.find_element(By.ID, "kpi-links-card").text
        assert browser.execute_script(FIT_PROBLEMS) == []
        assert console_errors(browser) == []


# each page once it has drawn its data: (path, CSS selector, how many it must show)
PAGES = {
    "alerts": ("/alerts", "#alerts-list tbody tr", LISTED),  # a page of those that fit
    "replay": ("/replay", "#backtest-table tbody tr", 13),  # every event-time rule fired
    "telemedicine": ("/telemedicine", ".link-cell", 27),
    "portal": ("/portal", "#portal-indicators tbody tr", 13),  # the province, 12 agencies
    "payments": ("/payments", "#payments-categories tbody tr", 5),
    "login": ("/login", "#username", 1),
}


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_fits_the_screen(crowded, browser, lang, page, request):
    settings, province = crowded
    path, drawn, count = PAGES[page]
    app = create_app(settings, WallData.from_settings(settings), province=province)
    with serving(app, settings.dashboard_port):
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}{path}?lang={lang}")
        wait = waiter(browser)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, drawn)) >= count)
        for width, height in SCREENS:
            set_screen(browser, width, height)
            wait.until(lambda d: d.execute_script(FITTED))  # its tables fitted to this screen
            shots = request.config.getoption("--screenshot-dir")
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(Path(shots) / f"fit-{page}-{lang}-{width}.png"))
            problems = browser.execute_script(FIT_PROBLEMS)
            assert problems == [], f"{page} at {width}x{height} ({lang}): {problems}"
        assert console_errors(browser) == []


AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
# what axe checks: WCAG 2.0 and 2.1, levels A and AA (contrast of text at least 4.5:1)
AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(r => done(r.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))
  .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""
A11Y_PAGES = {"overview": ("/", ".alert-row", 8), **PAGES}


@pytest.mark.parametrize("page", list(A11Y_PAGES))
def test_every_page_passes_axe_core(crowded, browser, page):
    """axe-core (npm, pinned in tests/browser/package.json) on each page holding the crowded
    province: no serious or critical violation, text contrast included."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make test` installs it (npm ci in tests/browser)")
    settings, province = crowded
    path, drawn, count = A11Y_PAGES[page]
    app = create_app(settings, WallData.from_settings(settings), province=province)
    with serving(app, settings.dashboard_port):
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}{path}?lang=vi")
        set_screen(browser, *SCREENS[0])
        waiter(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, drawn)) >= count)
        browser.set_script_timeout(60)
        browser.execute_script(AXE.read_text(encoding="utf-8"))
        violations = browser.execute_async_script(AXE_RUN)
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{page}: {serious}"


def _clicked(browser, css: str) -> bool:
    """Click `css`, unless a refresh replaced it under the click (then: not yet)."""
    try:
        browser.find_element(By.CSS_SELECTOR, css).click()
    except StaleElementReferenceException:
        return False
    return True


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_alerts_page_shows_a_page_of_alerts_and_turns_to_the_others(crowded, browser,
                                                                          lang):
    settings, province = crowded
    app = create_app(settings, WallData.from_settings(settings), province=province)
    with serving(app, settings.dashboard_port):
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}/alerts?lang={lang}")
        wait = waiter(browser)
        for width, height in SCREENS:
            set_screen(browser, width, height)
            shown, line = wait.until(lambda d: d.execute_script(PAGE_SHOWN)
                                     if len(d.find_elements(By.CSS_SELECTOR, "#alerts-list tr"))
                                     > LISTED else None)
            n = sum(shown)
            assert 4 <= n < ALERTS and shown == [True] * n + [False] * (LISTED - n)
            assert line == json.dumps(t("pager.shown", lang, **{"from": 1, "to": n,
                                                                "total": LISTED}),
                                      ensure_ascii=False)
            # the next page starts where this one ended, and the previous one comes back
            wait.until(lambda d: _clicked(d, ".alerts-box .pager-next"))
            turned, _ = wait.until(lambda d: (r := d.execute_script(PAGE_SHOWN))
                                   and not r[0][0] and r)
            assert turned.index(True) == n
            assert browser.execute_script(FIT_PROBLEMS) == []
            wait.until(lambda d: _clicked(d, ".alerts-box .pager-prev"))
            assert wait.until(lambda d: (r := d.execute_script(PAGE_SHOWN)) and r[0][0]
                              and r)[0] == shown
        assert console_errors(browser) == []


def test_the_replay_page_shows_the_backtest_chosen_by_its_run_id(crowded, browser):
    settings, province = crowded
    app = create_app(settings, WallData.from_settings(settings), province=province)
    with serving(app, settings.dashboard_port):
        browser.get(f"http://127.0.0.1:{settings.dashboard_port}/replay?lang=en")
        wait = waiter(browser)
        rows = "#backtest-table tbody tr"
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 13)
        # every read re-finds its element (inside a wait): the page is redrawn every refresh
        wait.until(lambda d: "ngay-thu-hai" in d.find_element(By.ID, "backtest-latest").text)

        def options(d) -> list[str]:
            return [o.text for o in d.find_element(By.ID, "backtest-choose")
                    .find_elements(By.TAG_NAME, "option")]

        # the latest, then each finished run (after dbc.Select's empty placeholder)
        labels = wait.until(lambda d: (o := options(d)) and len(o) == 4 and o)[1:]
        assert labels[0] == "Latest" and labels[1].startswith("2 · ngay-thu-hai.jsonl.gz · ")
        assert labels[2].startswith("1 · ngay-chu-nhat.jsonl.gz · ")
        # the older run: two rules fired, no diff
        wait.until(lambda d: Select(d.find_element(By.ID, "backtest-choose"))
                   .select_by_value("1") or True)
        wait.until(lambda d: "ngay-chu-nhat" in d.find_element(By.ID, "backtest-run").text)
        assert wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 2)
        assert browser.find_elements(By.ID, "backtest-diff") == []
        wait.until(lambda d: Select(d.find_element(By.ID, "backtest-choose"))  # the latest
                   .select_by_value("latest") or True)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 13)
        assert wait.until(lambda d: d.find_element(By.ID, "backtest-diff").is_displayed())
        assert console_errors(browser) == []
