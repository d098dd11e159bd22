"""The wall's HTTP side through Flask's test client on the real database: security headers,
/metrics closed by default, viewing behind a login, and identity from a trusted proxy."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ioc.db import connect
from ioc_dashboard.actions import Operator
from ioc_dashboard.app import create_app
from ioc_dashboard.auth import hash_password
from ioc_dashboard.data import WallData

pytestmark = pytest.mark.integration


def _client(settings):
    app = create_app(settings, WallData.from_settings(settings),
                     operator=Operator.from_settings(settings))
    assert not app.server.debug  # never Flask's debug mode
    return app.server.test_client()


def test_security_headers_and_closed_metrics(migrated):
    client = _client(migrated)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"  # the kiosk may frame its own site
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "object-src 'none'" in csp and "unsafe-eval" not in csp
    assert client.get("/metrics").status_code == 404  # not public without a token

    client = _client(migrated.with_(wall_metrics_token="s3cret-token"))
    assert client.get("/metrics").status_code == 401
    metrics = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert metrics.status_code == 200 and b"ioc_wall_read_seconds " in metrics.data
    # Prometheus' own linter passes it, as it does the worker's
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make test-deps` installs Debian's prometheus package"
    check = subprocess.run([promtool, "check", "metrics"], input=metrics.data.decode(),
                           capture_output=True, text=True)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), (
        check.stdout + check.stderr)


def test_viewing_behind_a_login(migrated):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO wall_users (username, display_name, password_hash)"
                     " VALUES ('an.nguyen', 'Nguyễn An', %s) ON CONFLICT DO NOTHING",
                     (hash_password("bí mật 2026"),))
    client = _client(migrated.with_(wall_view="login"))
    first = client.get("/alerts")
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?next=/alerts")
    assert client.get("/healthz").status_code == 200  # health stays open for probes
    assert client.post("/_dash-update-component", json={}).status_code == 401
    wrong = client.post("/login", data={"username": "an.nguyen", "password": "sai"})
    assert wrong.status_code == 401 and "Sai tên đăng nhập" in wrong.get_data(as_text=True)
    ok = client.post("/login", data={"username": "an.nguyen", "password": "bí mật 2026",
                                     "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"  # no open redirect
    assert client.get("/alerts").status_code == 200


def test_identity_from_a_trusted_proxy_header(migrated):
    client = _client(migrated.with_(wall_view="login", wall_proxy_user_header="X-Remote-User"))
    assert client.get("/", headers={"X-Remote-User": "chi.tran"}).status_code == 200
    refused = client.get("/")  # no header: the proxy did not authenticate; no login loop
    assert refused.status_code == 401
    assert "reverse proxy" in refused.get_data(as_text=True)
