"""The units of 2026 from the pinned dataset: 34 provinces, 3,321 communes, old codes mapped."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest

from ioc.errors import SettingsError
from ioc.units import UnitsDataset, ascii_name
from tests.conftest import run_ioc

UNITS = UnitsDataset()


def test_the_country_since_1_july_2025():
    assert len(UNITS.provinces) == 34
    communes = [c for code in UNITS.provinces for c in UNITS.communes(code)]
    assert len(communes) == len({c.code for c in communes}) == 3321
    # 2,621 xã, 687 phường, 13 đặc khu (DOMAIN.md, Resolution 202/2025/QH15 and after)
    assert Counter(c.kind for c in communes) == {"xa": 2621, "phuong": 687, "dac_khu": 13}


@pytest.mark.parametrize("code, name, xa, phuong", [
    ("38", "Tỉnh Thanh Hóa", 147, 19),     # not merged; Resolution 1686/NQ-UBTVQH15
    ("33", "Tỉnh Hưng Yên", 93, 11),       # with Thái Bình; Resolution 1666/NQ-UBTVQH15
])
def test_the_shipped_provinces(code, name, xa, phuong):
    assert UNITS.province(code).name_vi == name
    kinds = Counter(c.kind for c in UNITS.communes(code))
    assert kinds == {"xa": xa, "phuong": phuong}


def test_a_commune_has_code_kind_names_centroid_and_area():
    hac_thanh = next(c for c in UNITS.communes("38") if c.code == "14797")
    assert (hac_thanh.name_vi, hac_thanh.kind, hac_thanh.name_en) == (
        "Phường Hạc Thành", "phuong", "Hac Thanh ward")
    assert 19.7 < hac_thanh.lat < 19.9 and 105.7 < hac_thanh.lon < 105.9
    assert hac_thanh.area_km2 > 0
    for c in UNITS.communes("38"):  # every centroid inside Thanh Hóa's box
        assert 19.2 < c.lat < 20.7 and 104.3 < c.lon < 106.2, c


def test_an_unknown_province_code_names_the_known_ones():
    with pytest.raises(SettingsError, match=r"'99' is not one of the 34 provinces \(01, 04"):
        UNITS.communes("99")


def test_old_codes_map_to_their_successors():
    # old 14755 Phường Hàm Rồng became (part of) new Phường Hàm Rồng, whose code is 14758
    kept = UNITS.old_unit("14755")
    assert kept.successors == ("14758",) and not kept.divided
    # old 14758 Phường Đông Thọ was divided: its main successor is Phường Hạc Thành. The new
    # 14758 is another unit: the reorganisation reused codes, so old and new cannot be mixed
    divided = UNITS.old_unit("14758")
    assert divided.old_name_vi == "Phường Đông Thọ"
    assert divided.divided and divided.default == "14797" and "14758" in divided.successors
    assert UNITS.old_unit("00000") is None


def test_ascii_names_keep_the_letters():
    assert ascii_name("Đông Sơn") == "Dong Son"
    assert ascii_name("Quảng Phú") == "Quang Phu"


def test_ioc_units_lists_provinces_and_communes():
    def run(*args: str) -> subprocess.CompletedProcess:
        return run_ioc("units", *args)

    listing = run()
    assert listing.returncode == 0 and "38  Tỉnh Thanh Hóa" in listing.stdout
    assert len(listing.stdout.splitlines()) == 34
    thanh_hoa = run("--province", "38")
    assert len(thanh_hoa.stdout.splitlines()) == 166 and "14797  phuong" in thanh_hoa.stdout
    assert "14797" in run("--old", "14758").stdout
    unknown = run("--province", "99")
    assert unknown.returncode != 0 and "not one of the 34 provinces" in unknown.stderr
