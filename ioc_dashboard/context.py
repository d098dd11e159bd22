"""What every page of the wall needs, passed in once: settings, the province, the wall file,
the live and replay readers, the operator actions and the clock. Also the reading of a page's
query string (?lang=, ?source=replay, ?kiosk=1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from ioc.calendar import WorkCalendar, load_calendar
from ioc.indicators import IndicatorSet, load_indicator_set
from ioc.province import Province
from ioc.rhythms import Rhythms, load_rhythms
from ioc.settings import Settings
from ioc_dashboard.config import WallConfig
from ioc_dashboard.data import Snapshot, WallData
from ioc_dashboard.figures import replay_clock
from ioc_dashboard.i18n import LANGUAGES

if TYPE_CHECKING:
    from ioc_dashboard.actions import Operator


@dataclass(frozen=True)
class View:
    """How one browser asked to see the wall (from the query string)."""

    lang: str = "vi"
    replay: bool = False
    kiosk: bool = False
    every: float | None = None  # kiosk rotation override, seconds
    wall: str | None = None

    def query(self, **changes: object) -> str:
        """The query string that keeps this view (for links between pages)."""
        values = {"lang": self.lang, "source": "replay" if self.replay else None,
                  "kiosk": "1" if self.kiosk else None, "wall": self.wall}
        values.update(changes)
        kept = {k: v for k, v in values.items() if v not in (None, "")}
        return "?" + urlencode(kept) if kept else ""


def parse_view(search: str | None, default_lang: str = "vi") -> View:
    """?lang=en&source=replay&kiosk=1&every=20&wall=hall-a -> View; unknown values ignored."""
    q = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    lang = q.get("lang", default_lang)
    every = None
    try:
        every = max(5.0, float(q["every"])) if "every" in q else None
    except ValueError:
        every = None
    return View(lang=lang if lang in LANGUAGES else default_lang,
                replay=q.get("source") == "replay",
                kiosk=q.get("kiosk", "") in ("1", "true", "yes"),
                every=every, wall=(q.get("wall") or None) and q["wall"][:100])


@dataclass
class WallContext:
    settings: Settings
    province: Province
    config: WallConfig
    live: WallData
    replay: WallData | None = None
    operator: Operator | None = None
    replay_operator: Operator | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    calendar: WorkCalendar = field(default_factory=load_calendar)  # working hours
    # how activity spreads over the day: the typical band until history is stored
    rhythms: Rhythms = field(default_factory=load_rhythms)
    # Decision 766/QĐ-TTg's indicators on the public-services page
    indicators: IndicatorSet = field(default_factory=load_indicator_set)
    # rules that watch the IOC itself: shown in the pipeline strip, not the operators' list
    pipeline_rules: frozenset[str] = frozenset()
    # what pages compute once for this wall and reuse on every refresh (the map's layout)
    cache: dict[object, object] = field(default_factory=dict, repr=False)

    def view(self, search: str | None) -> View:
        return parse_view(search, self.settings.wall_language)

    def read(self, view: View) -> tuple[Snapshot, datetime]:
        """The snapshot for this view and its "now" (the replay's event time on a replay)."""
        if view.replay and self.replay is not None:
            snap = self.replay.snapshot()
            return snap, replay_clock(snap, self.clock())
        return self.live.snapshot(), self.clock()
