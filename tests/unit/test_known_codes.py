"""The province's codes at the edge: events name its units, hospitals, links, portals,
agencies and procedures; pre-2025 unit codes are mapped when
the producer says they are old; anything else is dead-lettered with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ioc import contract
from ioc.errors import ContractError
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.refusals import reason_label
from ioc.units import UnitsDataset
from streams.app import decode_records
from streams.sink import rows_by_table

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CODES = KnownCodes(load_province("38"), UnitsDataset())


def _event(codes: list[str], code_set: str | None = None) -> bytes:
    body = {"event_id": "evt-00000001", "feed": "payments", "schema_version": 1,
            "event_type": "payment.completed", "occurred_at": NOW.isoformat(),
            "unit_codes": codes,
            "data": {"payment_id": "p-1", "category": "admin_fee", "channel": "qr_code",
                     "amount_vnd": 50000, "status": "succeeded"}}
    if code_set:
        body["unit_code_set"] = code_set
    return json.dumps(body).encode()


def _current(raw: bytes) -> contract.Envelope:
    return CODES.current(contract.decode(raw, "payments", NOW))


def test_a_unit_of_the_province_passes_unchanged():
    event = _current(_event(["14797"]))
    assert event.unit_codes == ["14797"] and event._unit_codes_sent is None


@pytest.mark.parametrize("codes, code_set, message", [
    (["01234"], None, "unknown unit code '01234': not a commune-level unit of Thanh Hóa"),
    (["14797", "11953"], None, "unit_codes.1: unknown unit code '11953'"),  # Hưng Yên's
    (["ba-thuoc"], None, "unknown unit code 'ba-thuoc'"),  # a 2022 district code
    (["389"], "pre-2025", "pre-2025 district code (Huyện Ngọc Lặc), which covers many"),
    (["99999"], "pre-2025", "not a pre-2025 commune code"),
    (["12004"], "pre-2025", "unknown unit code '12004': not a commune-level unit of Thanh"),
])
def test_a_code_the_province_does_not_have_is_refused_with_the_reason(codes, code_set, message):
    with pytest.raises(ContractError, match="unknown unit code") as err:
        _current(_event(codes, code_set))
    assert message in str(err.value)
    assert reason_label(str(err.value)) == "unknown_unit"


def test_pre_2025_codes_are_mapped_and_the_codes_as_sent_kept_on_the_row():
    # old 14758 was Phường Đông Thọ, now in Phường Hạc Thành (14797); new 14758 is Hàm Rồng:
    # the same code means another place, so only the producer's marker makes it old
    assert _current(_event(["14758"])).unit_codes == ["14758"]
    event = _current(_event(["14758", "14923"], "pre-2025"))
    assert event.unit_codes == ["14797", "14923"]
    assert event._unit_codes_sent == ["14758", "14923"]
    row = rows_by_table([event])["payments"][0]
    assert row[:5] == ("evt-00000001", NOW, "14797", ["14797", "14923"], ["14758", "14923"])


def test_the_worker_dead_letters_unknown_units_and_stores_the_rest():
    class Record:
        def __init__(self, offset: int, value: bytes):
            self.topic, self.partition, self.offset, self.value = "ioc.payments", 0, offset, value

    good, dead = decode_records([Record(0, _event(["14797"])), Record(1, _event(["01234"]))],
                                "payments", NOW, codes=CODES)
    assert [g.offset for g in good] == [0]
    assert [(d.offset, d.reason.split(":")[0]) for d in dead] == [(1, "unit_codes.0")]


PROVINCE = load_province("38")
HOSPITAL = PROVINCE.hospitals[0]


def _data_event(event_type: str, feed: str, data: dict) -> bytes:
    return json.dumps({"event_id": "evt-00000002", "feed": feed, "schema_version": 1,
                       "event_type": event_type, "occurred_at": NOW.isoformat(),
                       "unit_codes": ["14797"], "data": data}).encode()


def _beat(**changes: str) -> bytes:
    data = {"link_id": HOSPITAL.link_id, "hospital_code": HOSPITAL.code,
            "hub_code": HOSPITAL.hub, "status": "down", **changes}
    return _data_event("link.heartbeat", "telemedicine", data)


def _dossier(**changes: str) -> bytes:
    proc = PROVINCE.procedures[0]
    data = {"dossier_id": "hs-1", "procedure_code": proc.code, "agency_code": proc.agency,
            "service_level": "full", "channel": "online", "due_at": NOW.isoformat(), **changes}
    return _data_event("dossier.received", "portal", data)


def _health(code: str) -> bytes:
    return _data_event("portal.health", "portal", {
        "portal_code": code, "window_seconds": 10, "requests": 5, "errors": 0,
        "p95_latency_ms": 300.0})


def _check(raw: bytes, feed: str) -> contract.Envelope:
    return CODES.check(contract.decode(raw, feed, NOW))


def test_the_provinces_own_hospitals_links_portals_agencies_and_procedures_pass():
    assert _check(_beat(), "telemedicine").data.hospital_code == HOSPITAL.code
    assert _check(_dossier(), "portal").data.procedure_code == PROVINCE.procedures[0].code
    assert _check(_health(PROVINCE.portals[0].code), "portal").data.requests == 5


@pytest.mark.parametrize("raw, feed, message, label", [
    (_beat(hospital_code="bv-khong-co"), "telemedicine",
     "data.hospital_code: unknown hospital code 'bv-khong-co': Thanh Hóa: not among its "
     "hospitals", "unknown_hospital"),
    (_beat(hospital_code=f"{HOSPITAL.code}-r1", link_id=f"{HOSPITAL.code}-r1--{HOSPITAL.hub}"),
     "telemedicine", f"unknown hospital code '{HOSPITAL.code}-r1'", "unknown_hospital"),
    (_beat(hub_code="bv-khac"), "telemedicine",
     f"data.hub_code: unknown link: hospital '{HOSPITAL.code}' is linked to hub "
     f"'{HOSPITAL.hub}', not 'bv-khac'", "unknown_link"),
    (_beat(link_id="lien-ket-9"), "telemedicine",
     f"data.link_id: unknown link 'lien-ket-9': the link of hospital '{HOSPITAL.code}' is "
     f"'{HOSPITAL.link_id}'", "unknown_link"),
    (_health("cong-tinh-cu"), "portal",
     "data.portal_code: unknown portal code 'cong-tinh-cu': not among Thanh Hóa's portals",
     "unknown_portal"),
    (_dossier(agency_code="so-khong-co"), "portal",
     "data.agency_code: unknown agency code 'so-khong-co'", "unknown_agency"),
    (_dossier(procedure_code="tt-khong-co"), "portal",
     "data.procedure_code: unknown procedure code 'tt-khong-co'", "unknown_procedure"),
])
def test_a_code_the_province_file_does_not_have_is_refused_with_the_reason(raw, feed, message,
                                                                            label):
    with pytest.raises(ContractError) as err:
        _check(raw, feed)
    assert message in str(err.value)
    assert reason_label(str(err.value)) == label


def test_a_province_with_no_hospitals_refuses_every_link_event_and_says_why():
    hanoi = KnownCodes(load_province("01"), UnitsDataset())
    raw = _beat()
    event = contract.decode(raw, "telemedicine", NOW).model_copy(update={"unit_codes": ["00004"]})
    with pytest.raises(ContractError, match="Hà Nội: no hospitals are configured"):
        hanoi.check(event)


@pytest.mark.parametrize("centre, ok", [("ttphvhcc", True), ("14797", True), ("11953", False),
                                        ("ttphvhcc-ha-noi", False)])
def test_a_dossier_is_received_at_the_provincial_centre_or_a_communes(centre, ok):
    raw = _dossier(centre_code=centre)
    if ok:
        assert _check(raw, "portal").data.centre_code == centre
        return
    with pytest.raises(ContractError, match=f"data.centre_code: unknown centre code '{centre}'"
                       ) as err:
        _check(raw, "portal")
    assert reason_label(str(err.value)) == "unknown_centre"


def test_a_resolution_names_a_known_centre_too():
    raw = contract.decode(_dossier(), "portal", NOW).model_dump(mode="json")
    resolved = {**raw, "event_type": "dossier.resolved", "data": {
        k: raw["data"][k] for k in ("dossier_id", "procedure_code", "agency_code", "due_at")}}
    resolved["data"].update(result="approved", centre_code="11953", e_result=True)
    event = contract.decode(json.dumps(resolved).encode(), "portal", NOW)
    with pytest.raises(ContractError, match="data.centre_code: unknown centre code '11953'"):
        CODES.check(event)
    resolved["data"]["centre_code"] = "ttphvhcc"
    assert CODES.check(contract.decode(json.dumps(resolved).encode(), "portal", NOW)
                       ).data.e_result is True
