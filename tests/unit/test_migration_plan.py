"""The migration plan: ordered, backend-specific, same reader-facing names on both paths."""

from __future__ import annotations

import re

import pytest

from ioc.errors import MigrationError
from ioc.migrate import SQL_DIR, plan

READER_NAMES = ("payments_1m", "dossiers_1h", "link_heartbeats_1m", "portal_health_1m")


def test_plans_are_ordered_and_share_the_common_files():
    pg, ts = plan("postgres"), plan("timescale")
    for p in (pg, ts):
        assert [m.version for m in p] == sorted(m.version for m in p)
    assert [m.name for m in pg if m.name.startswith("common/")] == [
        m.name for m in ts if m.name.startswith("common/")]


@pytest.mark.parametrize("name", READER_NAMES)
def test_both_paths_define_the_same_aggregate_names(name):
    pg = " ".join(m.path.read_text() for m in plan("postgres"))
    ts = " ".join(m.path.read_text() for m in plan("timescale"))
    assert re.search(rf"CREATE VIEW {name}\b", pg)
    assert re.search(rf"CREATE MATERIALIZED VIEW {name}\s+WITH \(timescaledb.continuous", ts)


def test_timescale_path_has_hypertables_and_policies():
    ts = " ".join(m.path.read_text() for m in plan("timescale"))
    for call in ("create_hypertable", "add_continuous_aggregate_policy",
                 "add_compression_policy", "add_retention_policy"):
        assert call in ts


def test_duplicate_versions_are_refused(tmp_path):
    for folder in ("common", "postgres"):
        (tmp_path / folder).mkdir()
    (tmp_path / "common" / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "postgres" / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 001 is also used"):
        plan("postgres", tmp_path)


def test_badly_named_files_are_refused(tmp_path):
    (tmp_path / "common").mkdir()
    (tmp_path / "postgres").mkdir()
    (tmp_path / "common" / "add-things.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_name.sql"):
        plan("postgres", tmp_path)


def test_shipped_sql_dir_exists():
    assert (SQL_DIR / "common").is_dir()
