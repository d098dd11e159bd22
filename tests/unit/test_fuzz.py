"""Fuzzing what comes from outside, with hypothesis: the event decoder (any bytes, and valid
events of every type broken in one place) and the wall's HTTP inputs (the login form, callback
bodies). Briefly in the suite (--fuzz-examples, default 300); `make fuzz` runs long and prints
how many inputs were tried. The contract: a clear refusal, never a crash."""

from __future__ import annotations

import contextlib
import json
import logging
import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc import contract
from ioc.errors import ContractError
from ioc.settings import Settings
from tests.unit.test_events_doc import EXAMPLES

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
VALID = [json.loads(e.raw) for e in EXAMPLES]
TRIED: dict[str, int] = {}

scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=40)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from(["Infinity", "NaN", "0001-01-01T00:00:00+14:00", "\x00", "\x9b",
                              "9999-12-31T23:59:59-14:00", "2026-03-02T09:00:00+07:00"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                           max_leaves=8)


@pytest.fixture
def examples(request) -> int:
    return request.config.getoption("--fuzz-examples")


def _fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _check_decoded(raw: bytes, feed: str) -> None:
    """Decoded, or refused with a ContractError; a decoded event holds only sane values."""
    try:
        event = contract.decode(raw, feed, NOW)
    except ContractError as exc:
        assert str(exc), "a refusal must say why"
        return
    dumped = event.model_dump()
    for value in [*dumped.values(), *dumped["data"].values()]:
        if isinstance(value, float):
            assert math.isfinite(value)
        if isinstance(value, datetime):
            assert contract.EARLIEST <= value < contract.LATEST
    assert contract.decode(contract.encode(event), feed, NOW) == event


@st.composite
def broken_events(draw) -> tuple[bytes, str]:
    """A valid event of a random type with one field replaced, removed, added or repeated."""
    body = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    feed = body["feed"]
    where = body if draw(st.booleans()) else body["data"]
    key = draw(st.sampled_from(sorted(where)) | st.text(max_size=12))
    how = draw(st.sampled_from(["replace", "remove", "repeat"]))
    if how == "remove":
        where.pop(key, None)
    else:
        where[key] = draw(json_values)
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode()
    if how == "repeat":  # the key given twice: a parser keeps the last
        raw = raw.replace(b"{", b"{" + json.dumps(key).encode() + b": 1, ", 1)
    return raw, draw(st.sampled_from([feed, *contract.FEEDS]))


def test_the_decoder_never_crashes_on_any_bytes(examples):
    @_fuzz(examples)
    @given(st.binary(max_size=600), st.sampled_from(contract.FEEDS))
    def run(raw: bytes, feed: str) -> None:
        TRIED["decoder, any bytes"] = TRIED.get("decoder, any bytes", 0) + 1
        _check_decoded(raw, feed)

    run()


def test_the_decoder_never_crashes_on_broken_events(examples):
    @_fuzz(examples)
    @given(broken_events())
    def run(case: tuple[bytes, str]) -> None:
        TRIED["decoder, broken events"] = TRIED.get("decoder, broken events", 0) + 1
        _check_decoded(*case)

    run()


@pytest.fixture(scope="module")
def wall():
    """The wall's server with no database behind it (port 1): inputs are judged before any
    read, and a read that fails must be shown, not crash."""
    from ioc_dashboard.app import create_app
    from ioc_dashboard.data import WallData

    logging.disable(logging.ERROR)  # the dead database is expected here
    s = Settings(database_url="postgresql://postgres@127.0.0.1:1/postgres", wall_view="login")
    app = create_app(s, WallData.from_settings(s))
    yield app
    logging.disable(logging.NOTSET)


def test_the_login_form_refuses_any_input_plainly(wall, examples):
    client = wall.server.test_client()

    @_fuzz(min(examples, 60))  # each try costs a scrypt
    @given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
    def run(user: str, password: str, next_path: str) -> None:
        TRIED["login form"] = TRIED.get("login form", 0) + 1
        answer = client.post("/login", data={"username": user, "password": password,
                                             "next": next_path})
        assert answer.status_code in (401, 429), answer.status_code
        page = answer.get_data(as_text=True)
        assert "Traceback" not in page and "<script>" not in page.split("</head>")[1]

    run()


def test_callback_bodies_are_refused_or_answered_never_a_server_error(wall, examples):
    client = wall.server.test_client()
    outputs = sorted(wall.callback_map)

    @st.composite
    def bodies(draw):
        if draw(st.booleans()):
            return draw(json_values)  # anything at all
        output = draw(st.sampled_from(outputs))  # a real callback, its inputs' values wild
        spec = wall.callback_map[output]
        return {"output": output, "outputs": draw(json_values),
                "inputs": [{**i, "value": draw(json_values)} for i in spec["inputs"]],
                "state": [{**s, "value": draw(json_values)} for s in spec["state"]],
                "changedPropIds": draw(st.lists(st.text(max_size=20), max_size=2))}

    @_fuzz(examples)
    @given(bodies())
    def run(body) -> None:
        TRIED["callback bodies"] = TRIED.get("callback bodies", 0) + 1
        answer = client.post("/_dash-update-component", json=body)
        # logged out, this wall (login view) refuses before reading the body
        assert answer.status_code in (400, 401), answer.status_code

    run()


def test_callback_bodies_of_a_viewer_are_never_a_server_error(examples):
    from ioc_dashboard.app import create_app
    from ioc_dashboard.data import WallData

    logging.disable(logging.ERROR)
    try:
        s = Settings(database_url="postgresql://postgres@127.0.0.1:1/postgres")
        app = create_app(s, WallData.from_settings(s))
        client = app.server.test_client()
        outputs = sorted(app.callback_map)

        @_fuzz(examples)
        @given(st.sampled_from(outputs), st.data())
        def run(output: str, data) -> None:
            TRIED["callback bodies (open wall)"] = TRIED.get("callback bodies (open wall)", 0) + 1
            spec = app.callback_map[output]
            body = {"output": output, "outputs": [],
                    "inputs": [{**i, "value": data.draw(json_values)} for i in spec["inputs"]],
                    "state": [{**x, "value": data.draw(json_values)} for x in spec["state"]],
                    "changedPropIds": []}
            answer = client.post("/_dash-update-component", json=body)
            assert answer.status_code < 500, (output, body, answer.get_data(as_text=True)[:300])

        run()
    finally:
        logging.disable(logging.NOTSET)


def test_the_intake_answers_any_body_plainly_never_a_server_error(examples):
    """POST /v1/events (issue 41) with any bytes, any JSON, or arrays and NDJSON of events
    broken in one place: a whole-request refusal (400, 413, 415) or one verdict per event,
    and only valid, new events sent."""
    from tests.unit.test_intake import _app, post

    app, parts = _app()
    valid = [json.dumps(v).encode() for v in VALID]
    bodies = (st.binary(max_size=400)
              | json_values.map(lambda v: json.dumps(v).encode())
              | st.lists(broken_events().map(lambda c: c[0]) | st.sampled_from(valid),
                         min_size=1, max_size=6).map(lambda rs: (b"[" + b",".join(rs) + b"]")))

    @_fuzz(examples)
    @given(bodies, st.sampled_from(["application/json", "application/x-ndjson", "text/plain"]))
    def run(body: bytes, kind: str) -> None:
        TRIED["intake bodies"] = TRIED.get("intake bodies", 0) + 1
        if kind == "application/x-ndjson" and body.startswith(b"[{"):  # an array of events
            with contextlib.suppress(ValueError, TypeError):
                body = b"\n".join(json.dumps(v).encode() for v in json.loads(body))
        before = len(parts.publisher.sent)
        status, answer = post(app, body, content_type=kind)
        assert status in (200, 400, 413, 415), answer
        if status != 200:
            assert answer["detail"] and len(parts.publisher.sent) == before
            return
        results = answer["results"]
        assert [r["index"] for r in results] == list(range(len(results)))
        assert {r["status"] for r in results} <= {"accepted", "duplicate", "refused"}
        assert all(r.get("reason") and r.get("detail") for r in results
                   if r["status"] == "refused")
        assert len(parts.publisher.sent) - before == answer["accepted"]

    run()


def test_report(request):
    """Last in the file: how many inputs each fuzz test tried (shown with -s / make fuzz)."""
    print("\nfuzz inputs tried:", json.dumps(TRIED, ensure_ascii=False))
    assert all(n > 0 for n in TRIED.values())
