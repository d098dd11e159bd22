"""Unit codes at the edge: events name units of the province; pre-2025 codes are mapped when
the producer says they are old; anything else is dead-lettered with the reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ioc import contract
from ioc.errors import ContractError
from ioc.province import load_province
from ioc.unit_codes import UnitCodes
from ioc.units import UnitsDataset
from streams.app import decode_records
from streams.metrics import dead_letter_reason_label
from streams.sink import rows_by_table

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
UNITS = UnitCodes(load_province("38"), UnitsDataset())


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
    return UNITS.current(contract.decode(raw, "payments", NOW))


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
    assert dead_letter_reason_label(str(err.value)) == "unknown_unit"


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
                                "payments", NOW, units=UNITS)
    assert [g.offset for g in good] == [0]
    assert [(d.offset, d.reason.split(":")[0]) for d in dead] == [(1, "unit_codes.0")]
