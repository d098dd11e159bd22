"""What the wall shows, read through the read-only role, shared by every open wall.

All walls share one snapshot per refresh interval (one set of queries, however many
screens are open); a failed read keeps the last snapshot and records since when the
database has been unreachable, so the wall can say so instead of freezing.

Every figure comes from the aggregate views (payments_1m, dossiers_1h, link_heartbeats_1m,
portal_health_1m) over a short window ending at each feed's newest event, so a refresh costs
the same with a day or with months of data, and a replayed (or stopped) feed still shows its
last figures, marked late.

The read model in three parts: its statements (`queries`), the rows they give (`rows`, and the
`Snapshot` that holds one read), one read of them all (`snapshot`), and the snapshot every
wall shares (`cache`: `WallData`).
"""

from __future__ import annotations

from ioc_dashboard.data.cache import WallData, reader_url
from ioc_dashboard.data.queries import DEAD_LETTERS, FEED_STATS
from ioc_dashboard.data.rows import (
    Alert,
    BacktestChoice,
    BacktestRun,
    DossierWeekHour,
    PaymentWeekMinute,
    ReplayRun,
    Snapshot,
    local_day_start,
    telemedicine_at,
)
from ioc_dashboard.data.snapshot import read_snapshot

# what the wall's other modules read; each row type is in `rows`
__all__ = ["DEAD_LETTERS", "FEED_STATS", "Alert", "BacktestChoice", "BacktestRun",
           "DossierWeekHour", "PaymentWeekMinute", "ReplayRun", "Snapshot", "WallData",
           "local_day_start", "read_snapshot", "reader_url", "telemedicine_at"]
