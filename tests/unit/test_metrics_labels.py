"""Dead-letter reasons become a small set of metric labels."""

from __future__ import annotations

import pytest

from ioc.refusals import reason_label


@pytest.mark.parametrize("reason, label", [
    ("undecodable: Invalid JSON", "undecodable"),
    ("oversize: 70000 bytes > 65536", "oversize"),
    ("missing event_type", "missing_event_type"),
    ("unknown event_type 'x'", "unknown_event_type"),
    ("unknown schema version 2 (supported: 1)", "unknown_schema_version"),
    ("occurred_at 2030-01-01T00:00:00+00:00 is more than 300 s in the future",
     "future_timestamp"),
    ("occurred_at 2020-01-01T00:00:00+00:00 is more than 1100 days in the past (the live "
     "limit, IOC_MAX_EVENT_AGE_DAYS; replay old data with ioc replay)", "old_timestamp"),
    ("feed 'payments' sent on the 'portal' topic", "wrong_feed"),
    ("duplicate key 'status'", "duplicate_key"),
    ("data.amount_vnd: Input should be a valid integer", "invalid_field"),
])
def test_labels(reason, label):
    assert reason_label(reason) == label
