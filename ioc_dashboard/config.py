"""The wall's data file (ioc_dashboard/wall.yaml): feed freshness limits and alert display."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.contract import FEEDS
from ioc.datafile import load_yaml
from ioc.resources import shipped_path

WALL_FILE = shipped_path("ioc_dashboard", "wall.yaml")


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedLimits(_Item):
    late_after_seconds: Annotated[float, Field(gt=0, le=86400)]


class WallConfig(_Item):
    """Validated wall.yaml."""

    schema_version: Literal[1]
    feeds: dict[str, FeedLimits]
    link_silent_after_seconds: Annotated[float, Field(gt=0, le=3600)] = 90
    alerts_late_after_seconds: Annotated[float, Field(gt=0, le=3600)] = 30
    dossiers_late_after_working_seconds: Annotated[float, Field(gt=0, le=86400)] = 1800
    resolved_alerts_hours: Annotated[float, Field(gt=0, le=720)] = 6
    overview_alerts: Annotated[int, Field(ge=1, le=50)] = 8
    silence_hours: Annotated[list[Annotated[float, Field(gt=0, le=720)]], Field(min_length=1)] = [1]

    @model_validator(mode="after")
    def _every_feed(self) -> WallConfig:
        missing = [f for f in FEEDS if f not in self.feeds]
        if missing:
            raise ValueError(f"feeds: give late_after_seconds for {', '.join(missing)}")
        unknown = [f for f in self.feeds if f not in FEEDS]
        if unknown:
            raise ValueError(f"feeds.{unknown[0]}: not a feed (feeds are {', '.join(FEEDS)})")
        return self


def load_wall_config(path: Path = WALL_FILE) -> WallConfig:
    """Read and validate the wall file; raise `SettingsError` naming file, key and problem."""
    return load_yaml(path, WallConfig, "wall file")


#: rule kinds that watch the IOC itself, not the citizens' services: their alerts go to the
#: pipeline strip and the on-call path, not to the operators' list and map
PIPELINE_KINDS = ("pipeline", "watchdog")


def pipeline_rules(rules_file: Path) -> frozenset[str]:
    """Names of the rules in `rules_file` whose kind watches the pipeline. The alert engine
    validates the file; the wall needs only each rule's kind (an unreadable file: none)."""
    try:
        doc = yaml.safe_load(rules_file.read_text(encoding="utf-8"))
        return frozenset(name for name, rule in (doc.get("rules") or {}).items()
                         if isinstance(rule, dict) and rule.get("kind") in PIPELINE_KINDS)
    except (OSError, yaml.YAMLError, AttributeError):
        return frozenset()
