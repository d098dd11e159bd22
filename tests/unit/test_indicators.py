"""Decision 766/QĐ-TTg's indicator set: validated on load, evaluated against targets."""

from __future__ import annotations

import pytest
import yaml

from ioc.errors import SettingsError
from ioc.indicators import DECISION_766, evaluate, load_indicator_set, scopes_of
from ioc.province import load_province

INDICATORS = load_indicator_set()
TARGETS = load_province("38").targets


def test_the_shipped_set_names_the_decisions_five_groups_and_computes_three():
    assert INDICATORS.decision == "766/QĐ-TTg"
    assert [(g.name_vi, g.points) for g in INDICATORS.groups] == [
        ("Công khai, minh bạch", 18), ("Tiến độ, kết quả giải quyết", 20),
        ("Số hóa hồ sơ", 22), ("Cung cấp dịch vụ trực tuyến", 22), ("Mức độ hài lòng", 18)]
    assert {i.group for i in INDICATORS.indicators} == {"tien_do", "so_hoa", "truc_tuyen"}
    assert {i.key for i in INDICATORS.indicators} == {
        "on_time", "e_result", "digitised", "online", "online_payment"}


def test_readings_against_targets_and_nothing_counted_is_no_value():
    counts = {"resolved": 200, "resolved_on_time": 196, "received": 100, "received_online": 80,
              "received_fee": 0, "received_paid_online": 0, "received_digitised": 90,
              "received_digitised_known": 100}
    readings = {r.indicator.key: r for r in evaluate(counts, INDICATORS, TARGETS)}
    assert readings["on_time"].value == 0.98 and readings["on_time"].met is True
    assert readings["online"].value == 0.8 and readings["online"].met is False  # target 0.9
    assert readings["online_payment"].value is None and readings["online_payment"].met is None
    assert readings["e_result"].denominator == 0  # no producer reported it
    assert readings["digitised"].target == TARGETS.dossier_digitised_ratio


@pytest.mark.parametrize("change, message", [
    (lambda d: d["groups"][0].update(points=19), "groups: the points must add up to 100"),
    (lambda d: d["indicators"][0].update(group="nowhere"), "names unknown group 'nowhere'"),
    (lambda d: d["indicators"][0].update(numerator="received_by_fax"), "indicators.0.numerator"),
    (lambda d: d["indicators"][0].update(target="happiness_ratio"), "indicators.0.target"),
    (lambda d: d["groups"][1].update(not_computed_because="x"), "'tien_do' must either"),
])
def test_a_broken_set_is_refused_naming_the_place(tmp_path, change, message):
    data = yaml.safe_load(DECISION_766.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SettingsError, match=message) as err:
        load_indicator_set(path)
    assert str(path) in str(err.value)


def test_rows_of_the_grouping_sets_become_ordered_scopes():
    zeros = [0] * 10
    rows = [(2, None, "so-y-te", *zeros), (1, None, None, *zeros), (3, None, None, *zeros),
            (1, "ttphvhcc", None, *zeros), (1, "14797", None, 5, *zeros[1:])]
    scopes = scopes_of(rows)
    assert [(s.level, s.code) for s in scopes] == [
        ("province", None), ("centre", "14797"), ("centre", "ttphvhcc"), ("centre", None),
        ("agency", "so-y-te")]
    assert scopes[1].counts["received"] == 5


def test_a_province_file_changes_only_the_targets_it_names(tmp_path):
    text = (DECISION_766.parent.parent / "provinces" / "hung-yen.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["targets"] = {"online_payment_ratio": 0.7}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    targets = load_province(path).targets
    assert targets.online_payment_ratio == 0.7
    assert targets.dossier_on_time_ratio == TARGETS.dossier_on_time_ratio  # from the defaults
