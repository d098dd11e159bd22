"""Settings: every IOC_* variable parsed once; a bad value names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ioc.errors import SettingsError
from ioc.settings import ENV_NAMES, PROVINCES_DIR, Settings, describe

REPO = Path(__file__).resolve().parents[2]


def test_defaults_mean_embedded_services():
    s = Settings.from_env({})
    assert s.embedded_db and s.embedded_kafka
    assert s.dashboard_port == 8050
    assert s.province_file == PROVINCES_DIR / "thanh-hoa.yaml"
    assert s.topic("portal") == "ioc.portal"


def test_values_are_parsed():
    s = Settings.from_env({
        "IOC_DATABASE_URL": "postgresql://u:p@db:5432/ioc",
        "IOC_KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
        "IOC_DASHBOARD_PORT": "9000",
        "IOC_REFRESH_SECONDS": "2.5",
        "IOC_PROVINCE": "hung-yen",
        "IOC_DATA_DIR": "/tmp/x",
    })
    assert not s.embedded_db and not s.embedded_kafka
    assert (s.dashboard_port, s.refresh_seconds) == (9000, 2.5)
    assert s.province_file.name == "hung-yen.yaml"
    assert s.data_dir == Path("/tmp/x")
    assert Settings.from_env({"IOC_PROVINCE": "01"}).province_file == "01"


@pytest.mark.parametrize("name, value, expected", [
    ("IOC_DASHBOARD_PORT", "eighty", "TCP port"),
    ("IOC_WORKER_PORT", "70000", "TCP port"),
    ("IOC_DATABASE_URL", "mysql://db/x", "PostgreSQL URL"),
    ("IOC_KAFKA_BOOTSTRAP", "localhost", "host:port"),
    ("IOC_REFRESH_SECONDS", "-1", "positive number"),
    ("IOC_DB_SCHEMA", "Bad-Name", "SQL identifier"),
    ("IOC_DB_BACKEND", "mysql", "one of auto, postgres, timescale"),
    ("IOC_LOG_LEVEL", "LOUD", "one of DEBUG"),
    ("IOC_PROVINCE", "atlantis", "thanh-hoa"),
    ("IOC_PROVINCE", "99", "not one of the 34 provinces"),
    ("IOC_TANSU_BIN", "/nonexistent/tansu", "executable"),
    ("IOC_MAX_EVENT_AGE_DAYS", "30", "at least 1100"),
    ("IOC_MAX_EVENT_AGE_DAYS", "many", "at least 1100"),
])
def test_bad_values_name_the_variable_and_what_was_expected(name, value, expected):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: value})
    assert name in str(err.value) and expected in str(err.value)


def test_unknown_ioc_variable_is_refused():
    with pytest.raises(SettingsError, match="IOC_DASHBORD_PORT"):
        Settings.from_env({"IOC_DASHBORD_PORT": "8050"})


def test_to_env_round_trips():
    s = Settings.from_env({"IOC_DATABASE_URL": "postgresql://u@h:1/d", "IOC_DB_SCHEMA": "x"})
    assert Settings.from_env(s.to_env()) == s


def test_describe_covers_every_variable():
    rows = describe()
    assert [r[0] for r in rows] == list(ENV_NAMES)
    assert all(doc for _, _, doc in rows)


def test_readme_documents_every_variable_with_its_default():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, default, doc in describe():
        shown = f"`{default}`" if default else "(unset)"
        assert f"| `{name}` | {shown} | {doc} |" in readme, name
