"""`ioc sources`: the systems that may send events over HTTP and their keys (issue 41,
item 2): a key printed once and stored only hashed, looked up by the intake's role through
one function, revoked and rotated at once, every change audited."""

from __future__ import annotations

import json

import pytest

from ioc import sources
from ioc.db import WRITER_ROLE, connect, role_url
from ioc.province import load_province
from tests.conftest import run_ioc

pytestmark = pytest.mark.integration


def _writer(settings):
    """The intake's role (ioc_writer): it may look a key up, and read nothing else."""
    return connect(role_url(settings.database_url, WRITER_ROLE, settings.writer_password),
                   settings.db_schema, autocommit=True)


def test_sources_keys_are_shown_once_stored_hashed_revoked_and_rotated(migrated):
    def ioc(*args: str):
        return run_ioc("sources", *args, settings=migrated, timeout=60)

    hospital = load_province(migrated.province_file).hospitals[0]
    added = ioc("add", "motcua-thanhhoa", "--feeds", "portal,payments", "--by", "an.nguyen")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]  # the key: the last line, alone
    assert key.startswith("ioc_") and len(key) > 40
    bv = ioc("add", "bv-1", "--feeds", "telemedicine", "--codes",
             f"{hospital.code},{hospital.link_id}")
    bv_key = bv.stdout.strip().splitlines()[-1]
    # the key is nowhere in the database, only its SHA-256
    with connect(migrated.database_url, migrated.db_schema) as conn:
        stored = conn.execute("SELECT key_hash FROM intake_sources ORDER BY name").fetchall()
        dump = str(conn.execute("SELECT * FROM intake_sources").fetchall())
    assert key not in dump and bv_key not in dump
    assert {h for (h,) in stored} == {sources.key_hash(key), sources.key_hash(bv_key)}
    listed = json.loads(ioc("list", "--json").stdout)
    assert [(s["name"], s["feeds"], s["codes"], s["active"]) for s in listed] == [
        ("bv-1", ["telemedicine"], [hospital.code, hospital.link_id], True),
        ("motcua-thanhhoa", ["portal", "payments"], [], True)]
    assert key not in ioc("list").stdout
    # what the intake's role sees of a key, and of nothing else
    with _writer(migrated) as conn:
        grant = sources.grant_of(conn, bv_key)
        assert grant == sources.Grant("bv-1", frozenset({"telemedicine"}),
                                      frozenset({hospital.code, hospital.link_id}))
        assert sources.grant_of(conn, "ioc_not-a-key") is None
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("SELECT * FROM intake_sources")
    # revoked: the key stops at once; rotated: a new key works and the old one does not
    assert ioc("revoke", "motcua-thanhhoa").returncode == 0
    with _writer(migrated) as conn:
        assert sources.grant_of(conn, key) is None
    rotated = ioc("rotate", "motcua-thanhhoa")
    new_key = rotated.stdout.strip().splitlines()[-1]
    with _writer(migrated) as conn:
        assert sources.grant_of(conn, new_key).source == "motcua-thanhhoa"
        assert sources.grant_of(conn, key) is None
    with connect(migrated.database_url, migrated.db_schema) as conn:
        audit = conn.execute("SELECT actor, action, target FROM audit_log ORDER BY id").fetchall()
    assert [(a, t) for _, a, t in audit] == [
        ("source_add", "source:motcua-thanhhoa"), ("source_add", "source:bv-1"),
        ("source_revoke", "source:motcua-thanhhoa"), ("source_rotate", "source:motcua-thanhhoa")]
    assert audit[0][0] == "an.nguyen"
    # refused, each in one line naming what to change
    for args, says in [
            (("add", "motcua-thanhhoa", "--feeds", "portal"), "exists: `ioc sources rotate"),
            (("add", "Bad Name", "--feeds", "portal"), "source name 'Bad Name'"),
            (("add", "x", "--feeds", "portal,weather"), "give one or more of portal"),
            (("add", "x", "--feeds", "portal", "--codes", "99999"), "99999 not among"),
            (("revoke", "nobody"), "no source named 'nobody'"),
            (("rotate", "nobody"), "no source named 'nobody'")]:
        refused = ioc(*args)
        assert refused.returncode == 2 and says in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr
