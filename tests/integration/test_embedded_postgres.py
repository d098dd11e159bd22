"""The embedded PostgreSQL asks everyone for a password (scram-sha-256), its superuser too,
and a cluster of an earlier version (trust) is brought to passwords at its next start."""

from __future__ import annotations

import stat
from urllib.parse import urlsplit

import psycopg
import pytest

from ioc.services.postgres import SECRETS_FILE, EmbeddedPostgres, load_secrets, owner_url
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def _refused(url: str) -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url, connect_timeout=5).close()
    return str(refused.value)


def test_no_role_logs_in_without_its_password(services):
    port = urlsplit(services.database_url).port
    assert "no password supplied" in _refused(owner_url(port, None))
    assert "password authentication failed" in _refused(owner_url(port, "guessed"))
    for role in ("ioc_reader", "ioc_writer", "ioc_operator"):
        assert "password" in _refused(f"postgresql://{role}@127.0.0.1:{port}/postgres"), role
    _refused(f"postgresql://postgres@[::1]:{port}/postgres")  # it listens on 127.0.0.1 only
    with psycopg.connect(services.database_url) as conn:
        assert conn.execute("SHOW password_encryption").fetchone()[0] == "scram-sha-256"
    mode = (services.data_dir / SECRETS_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_a_trusting_cluster_of_an_earlier_version_gets_passwords(tmp_path):
    pg = EmbeddedPostgres(tmp_path, free_port()).start()
    pg.stop()
    # as an earlier version left it: every local user trusted, no secrets file
    (pg.pgdata / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    (tmp_path / SECRETS_FILE).unlink()
    again = EmbeddedPostgres(tmp_path, pg.port).start()
    try:
        assert load_secrets(tmp_path) == again.secrets != pg.secrets
        assert "no password supplied" in _refused(owner_url(again.port, None))
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        again.stop()
