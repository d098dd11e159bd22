"""`ioc units`: the 34 provinces and their communes since 1/7/2025, and where a pre-2025
commune code went."""

from __future__ import annotations

import argparse
import sys

from ioc.settings import Settings

HELP = ("the 34 provinces and their communes since 1/7/2025 "
        "(national codes, from the pinned dataset)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--province", metavar="CODE", help="list this province's communes (e.g. 38)")
    p.add_argument("--old", metavar="CODE", help="where a pre-2025 commune code went")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ioc.units import EFFECTIVE, UnitsDataset

    units = UnitsDataset()
    if args.old:
        found = units.old_unit(args.old)
        if found is None:
            print(f"ioc units: {args.old!r} was not a commune code before {EFFECTIVE:%d/%m/%Y}",
                  file=sys.stderr)
            return 1
        print(f"{found.old_code} {found.old_name_vi} ({found.district_vi}) → "
              + ", ".join(found.successors)
              + (f" (divided; main successor {found.default})" if found.divided else ""))
        return 0
    if args.province is None:
        for p in units.provinces.values():
            print(f"{p.code}  {p.name_vi:<28} {p.communes:>4} communes")
        total = sum(p.communes for p in units.provinces.values())
        print(f"{len(units.provinces)} provinces, {total} commune-level units since "
              f"{EFFECTIVE:%d/%m/%Y}", file=sys.stderr)
        return 0
    communes = units.communes(args.province)
    for u in communes:
        print(f"{u.code}  {u.kind:<7} {u.name_vi:<32} {u.lat:9.4f} {u.lon:9.4f} "
              f"{u.area_km2:8.2f} km²")
    print(f"{units.province(args.province).name_vi}: {len(communes)} units", file=sys.stderr)
    return 0
