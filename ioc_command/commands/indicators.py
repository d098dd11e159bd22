"""`ioc indicators`: Decision 766/QĐ-TTg's indicators per province, centre and agency, over a
local day or a month, against the province file's targets."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings
from ioc_command.arguments import day, month
from ioc_command.services import database

HELP = "Decision 766/QĐ-TTg's indicators per province, centre and agency"
DESCRIPTION = ("The indicators of Decision 766/QĐ-TTg the feeds can compute (progress "
               "and results, digitisation, online provision and payment), for the "
               "province, each receiving centre and each agency, against the province "
               "file's targets, over a local day (default: today so far) or a month. "
               "No composite score: see docs/indicators.md.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    period = p.add_mutually_exclusive_group()
    period.add_argument("--day", type=day, metavar="YYYY-MM-DD", help="a local day")
    period.add_argument("--month", type=month, metavar="YYYY-MM", help="a month")
    p.add_argument("--by", nargs="+", choices=("province", "centre", "agency"),
                   default=("province", "centre", "agency"), help="which scopes (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.db import connect
    from ioc.indicators import evaluate, load_indicator_set, read_scopes, report
    from ioc.province import load_province

    province = load_province(settings.province_file)
    tz = ZoneInfo(province.province.timezone)
    now = datetime.now(tz)
    if args.month:
        start = args.month.replace(tzinfo=tz)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = (args.day or now).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=tz)
        end = start + timedelta(days=1)
    until = min(end, now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    since = start.astimezone(UTC)
    indicators = load_indicator_set()
    with database(settings, create=False) as here, \
            connect(embedded_urls(here)[0], here.db_schema, autocommit=True) as conn:
        scopes = [s for s in read_scopes(conn, since, until.astimezone(UTC))
                  if s.level in args.by]
    names = {a.code: a.name_vi for a in province.agencies}
    names |= {u.code: u.name_vi for u in province.units}
    names[province.service_centre.code] = province.service_centre.name_vi
    doc = report(scopes, indicators, province.targets, names, start, until)
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    print(f"Quyết định {indicators.decision}, {province.province.name_vi}, "
          f"{start:%d/%m/%Y %H:%M} – {until:%d/%m/%Y %H:%M}")
    for g in indicators.groups:
        if g.not_computed_because:
            print(f"  ({g.name_vi}, {g.points} điểm: không tính được; "
                  f"{' '.join(g.not_computed_because.split())})")
    for scope, entry in zip(scopes, doc["scopes"], strict=True):
        label = entry["name"] or (province.province.name_vi if scope.level == "province"
                                  else "(không rõ trung tâm)")
        cells = []
        for r in evaluate(scope.counts, indicators, province.targets):
            mark = "" if r.met is None else (" ✓" if r.met else " ✗")
            value = "—" if r.value is None else f"{r.value:.2%}"
            cells.append(f"{r.indicator.key} {value}{mark}")
        print(f"{scope.level:<8} {label[:34]:<34} " + "  ".join(cells))
    return 0
