"""Province files: the shipped ones load; a broken one names file, path and problem."""

from __future__ import annotations

import pytest
import yaml

from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR


def test_thanh_hoa_has_its_27_units_and_hospitals():
    p = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
    assert len(p.units) == 27 and len(p.hospitals) == 27
    assert {h.unit for h in p.hospitals} == {u.code for u in p.units}
    assert sum(u.communes for u in p.units) == 559
    assert "Bỉm Sơn" in " ".join(u.name_vi for u in p.units)


def test_hung_yen_has_10_units():
    p = load_province(PROVINCES_DIR / "hung-yen.yaml")
    assert len(p.units) == 10 and len(p.hospitals) == 10


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["hospitals"][0].update(hub="nowhere"), "hospitals.0.hub: unknown hub"),
    (lambda d: d["units"][1].update(code=d["units"][0]["code"]), "units.1.code: duplicate"),
    (lambda d: d["units"][2].update(lat="north"), "units.2.lat"),
    (lambda d: d["targets"].update(payment_success_ratio=1.5), "targets.payment_success_ratio"),
    (lambda d: d["procedures"][0].update(agency="so-x"), "procedures.0.agency: unknown agency"),
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
