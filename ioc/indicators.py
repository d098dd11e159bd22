"""Decision 766/QĐ-TTg's indicators that the feeds can compute, per province, per receiving
centre and per agency, each against the province's target.

The indicator set is data (`ioc/indicator_sets/decision-766.yaml`): groups with their points,
and each computed indicator as a ratio of two counts of the hourly dossier aggregate
(`dossiers_1h`). Groups no feed can measure say why. No composite score is computed: two of
the five groups (36 of 100 points) are not observable here, and the decision scores each
indicator by its own rules (docs/indicators.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.datafile import read_yaml, validated
from ioc.province import Targets
from ioc.resources import shipped_path

DECISION_766 = shipped_path("ioc", "indicator_sets", "decision-766.yaml")

#: the counts of `dossiers_1h` an indicator may divide
COUNTS = ("received", "received_online", "resolved", "resolved_on_time", "received_digitised",
          "received_digitised_known", "received_fee", "received_paid_online",
          "resolved_e_result", "resolved_e_result_known")
Count = Literal[COUNTS]  # type: ignore[valid-type]
TargetName = Literal[tuple(Targets.model_fields)]  # type: ignore[valid-type]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Level = Literal["province", "centre", "agency"]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Named(_Item):
    key: Key
    name_vi: Name
    name_en: Name
    short_vi: Annotated[str, Field(min_length=1, max_length=20)]  # a wall column heading
    short_en: Annotated[str, Field(min_length=1, max_length=20)]

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_vi

    def short(self, lang: str) -> str:
        return self.short_en if lang == "en" else self.short_vi


class Group(_Named):
    points: Annotated[int, Field(ge=0, le=100)]
    not_computed_because: str | None = None  # set when no feed carries what it counts


class Indicator(_Named):
    group: Key
    numerator: Count
    denominator: Count
    target: TargetName

    def read(self, counts: Mapping[str, int], targets: Targets) -> Reading:
        """This indicator over `counts`, against its target in `targets`."""
        return Reading(self, counts.get(self.numerator, 0), counts.get(self.denominator, 0),
                       getattr(targets, self.target))


class IndicatorSet(_Item):
    version: Literal[1]
    decision: Name
    groups: list[Group]
    indicators: list[Indicator]

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorSet:
        if sum(g.points for g in self.groups) != 100:
            raise ValueError("groups: the points must add up to 100")
        keys = {g.key for g in self.groups}
        for i in self.indicators:
            if i.group not in keys:
                raise ValueError(f"indicators: {i.key!r} names unknown group {i.group!r}")
        computed = {i.group for i in self.indicators}
        for g in self.groups:
            if (g.key in computed) == (g.not_computed_because is not None):
                raise ValueError(f"groups: {g.key!r} must either have indicators or say "
                                 "why not (not_computed_because), not both")
        return self


def load_indicator_set(path: Path = DECISION_766) -> IndicatorSet:
    """The indicator set at `path`; `SettingsError` names file, place and problem."""
    return validated(path, read_yaml(path, "indicator set"), IndicatorSet)


@dataclass(frozen=True)
class Scope:
    """The counts of one province, receiving centre or agency over a period; `code` is None
    for the province, and for the centre of dossiers whose producer named none."""

    level: Level
    code: str | None
    counts: Mapping[str, int]


@dataclass(frozen=True)
class Reading:
    indicator: Indicator
    numerator: int
    denominator: int
    target: float

    @property
    def value(self) -> float | None:
        """The ratio, None when nothing was counted (no dossier, or none reported it)."""
        return self.numerator / self.denominator if self.denominator else None

    @property
    def met(self) -> bool | None:
        value = self.value
        return None if value is None else value >= self.target


# Province, each centre and each agency in one scan of the aggregate.
_SUMS = ", ".join(f"sum({c})::bigint" for c in COUNTS)
COUNTS_QUERY = f"""
SELECT GROUPING(centre_code, agency_code), centre_code, agency_code, {_SUMS}
  FROM dossiers_1h
 WHERE bucket >= %(since)s AND bucket < %(until)s
 GROUP BY GROUPING SETS ((), (centre_code), (agency_code))
"""
_LEVEL = {3: "province", 1: "centre", 2: "agency"}  # GROUPING's bit per column left out


def read_scopes(conn: psycopg.Connection, since: datetime, until: datetime) -> list[Scope]:
    """The province, then each centre and each agency, over whole hours [since, until)."""
    return scopes_of(conn.execute(COUNTS_QUERY, {"since": since, "until": until}).fetchall())


def scopes_of(rows: list[tuple]) -> list[Scope]:
    """`COUNTS_QUERY`'s rows as scopes: the province, then centres, then agencies."""
    scopes = []
    for grouping, centre, agency, *sums in rows:
        level = _LEVEL[grouping]
        scopes.append(Scope(level, centre if level == "centre" else agency,
                            dict(zip(COUNTS, (s or 0 for s in sums), strict=True))))
    order = {"province": 0, "centre": 1, "agency": 2}
    return sorted(scopes, key=lambda s: (order[s.level], s.code is None, s.code or ""))


def evaluate(counts: Mapping[str, int], indicators: IndicatorSet,
             targets: Targets) -> list[Reading]:
    """Every computed indicator of `indicators` over `counts`, against `targets`."""
    return [i.read(counts, targets) for i in indicators.indicators]


def report(scopes: list[Scope], indicators: IndicatorSet, targets: Targets,
           names: Mapping[str, str], since: datetime, until: datetime) -> dict:
    """A JSON-ready report: the period, the groups (with why some are not computed) and
    each scope's readings."""
    return {
        "decision": indicators.decision, "since": since.isoformat(), "until": until.isoformat(),
        "groups": [{"key": g.key, "name_vi": g.name_vi, "name_en": g.name_en, "points": g.points,
                    "computed": g.not_computed_because is None,
                    **({"not_computed_because": " ".join(g.not_computed_because.split())}
                       if g.not_computed_because else {})} for g in indicators.groups],
        "scopes": [{"level": s.level, "code": s.code,
                    "name": names.get(s.code, s.code) if s.code else None,
                    "indicators": {r.indicator.key: {
                        "value": None if r.value is None else round(r.value, 6),
                        "numerator": r.numerator, "denominator": r.denominator,
                        "target": r.target, "met": r.met}
                        for r in evaluate(s.counts, indicators, targets)}}
                   for s in scopes],
    }
