"""deploy/alertmanager.yml is a valid Alertmanager 0.25 configuration (checked by its own
amtool, installed with prometheus-alertmanager by `make test`)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO


def test_alertmanager_config_is_valid():
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: `make test` installs prometheus-alertmanager (apt)"
    out = subprocess.run([amtool, "check-config", str(REPO / "deploy/alertmanager.yml")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 receivers" in out.stdout
