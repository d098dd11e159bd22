"""Province files: the shipped ones load; a broken one names file, path and problem."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
import yaml

from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR
from ioc.units import UnitsDataset


def test_thanh_hoa_has_its_166_communes_and_27_hospitals():
    p = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
    assert p.province.code == "38" and p.units_effective.isoformat() == "2025-07-01"
    assert Counter(u.kind for u in p.units) == {"xa": 147, "phuong": 19}
    assert len(p.hospitals) == 27 and len({h.unit for h in p.hospitals}) == 27
    # every unit is the dataset's, by code, name and place
    assert [(u.code, u.name_vi, u.lat, u.lon) for u in p.units] == [
        (c.code, c.name_vi, c.lat, c.lon) for c in UnitsDataset().communes("38")]
    by_code = {u.code: u for u in p.units}
    hac_thanh = next(h for h in p.hospitals if h.name_vi == "Bệnh viện Đa khoa Hạc Thành")
    assert by_code[hac_thanh.unit].name_vi == "Phường Hạc Thành" == p.seat.name_vi
    assert not any("huyện" in h.name_vi for h in p.hospitals if h.code != "bv-dong-son")


def test_hung_yen_has_its_104_communes():
    p = load_province(PROVINCES_DIR / "hung-yen.yaml")
    assert p.province.code == "33"
    assert Counter(u.kind for u in p.units) == {"xa": 93, "phuong": 11}
    assert len(p.hospitals) == 10


def test_units_come_from_the_dataset_handed_in():
    class Renamed(UnitsDataset):
        def communes(self, province_code):
            return [replace(c, name_vi=c.name_vi.upper())
                    for c in UnitsDataset.communes(self, province_code)]

    p = load_province(PROVINCES_DIR / "hung-yen.yaml", Renamed())
    assert p.units[0].name_vi == "PHƯỜNG PHỐ HIẾN"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["hospitals"][0].update(hub="nowhere"), "hospitals.0.hub: unknown hub"),
    (lambda d: d["hospitals"][1].update(code=d["hospitals"][0]["code"]),
     "hospitals.1.code: duplicate"),
    (lambda d: d["hospitals"][2].update(unit="99999"), "hospitals.2.unit: unknown unit"),
    (lambda d: d.update(units=[]), "units: a province file lists no units"),
    (lambda d: d["province"].update(code="99"), "province.code: province code '99' is not"),
    (lambda d: d["targets"].update(payment_success_ratio=1.5), "targets.payment_success_ratio"),
    (lambda d: d.update(procedures=[{"code": "p", "name_vi": "p", "name_en": "p", "agency": "so-x",
                                     "working_days": 1, "service_level": "full"}]),
     "procedures.0.agency: unknown agency"),
])
def test_broken_file_names_file_path_and_problem(tmp_path, edit, message):
    data = yaml.safe_load((PROVINCES_DIR / "hung-yen.yaml").read_text(encoding="utf-8"))
    edit(data)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load_province(broken)
    assert str(broken) in str(err.value) and message in str(err.value)


def test_not_yaml_is_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: [unclosed", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_province(bad)


def test_a_national_code_finds_the_shipped_file_or_runs_on_the_defaults():
    assert load_province("38") == load_province(PROVINCES_DIR / "thanh-hoa.yaml")
    hanoi = load_province("01")
    assert (hanoi.province.name_vi, hanoi.province.name_en) == ("Thành phố Hà Nội", "Ha Noi City")
    assert len(hanoi.units) == 126 and hanoi.hospitals == [] and hanoi.hub_hospitals == []
    assert "so-nong-nghiep-moi-truong" in {a.code for a in hanoi.agencies}
    assert [p.code for p in hanoi.portals] == ["dvc-quoc-gia", "mot-cua-dien-tu"]
    # the defaults' volumes are Thanh Hóa's for 166 units, scaled by the unit count
    thanh_hoa = load_province("38")
    assert hanoi.simulation.dossiers_per_working_day == pytest.approx(
        thanh_hoa.simulation.dossiers_per_working_day * 126 / 166, abs=0.001)
    assert hanoi.simulation.on_time_share == thanh_hoa.simulation.on_time_share
    with pytest.raises(SettingsError, match="province '99'.*not one of the 34"):
        load_province("99")


def test_a_file_gives_only_what_is_its_own(tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text('schema_version: 2\nprovince: {code: "46", name_vi: Huế, name_en: Hue,'
                   ' center: {lat: 16.46, lon: 107.59}}\n', encoding="utf-8")
    hue = load_province(own)
    assert len(hue.units) == 40 and hue.portals == load_province("01").portals
