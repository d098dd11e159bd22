-- Rows stored by versions before the two-level local government (1/7/2025) name their unit
-- by the 2022 district slugs of the shipped province files (`tp-thanh-hoa`, `ba-thuoc`, …;
-- Thanh Hóa's 27 and Hưng Yên's 10), which no panel or rule matches any more. A district
-- became many communes, so no mapping is exact: each slug goes to the commune-level unit that
-- took in the former district seat (where its offices and its general hospital stood; the
-- same unit the province files give that hospital). The slug is kept in unit_codes_sent, as
-- the worker keeps pre-2025 codes it maps (037), so nothing is lost and the choice can be
-- undone.
CREATE TEMPORARY TABLE district_slug_2022 (slug text PRIMARY KEY, unit text NOT NULL)
    ON COMMIT DROP;
INSERT INTO district_slug_2022 (slug, unit) VALUES
    ('tp-thanh-hoa', '14797'), -- Thành phố Thanh Hóa → Phường Hạc Thành
    ('tp-sam-son', '16531'), -- Thành phố Sầm Sơn → Phường Sầm Sơn
    ('tx-bim-son', '14812'), -- Thị xã Bỉm Sơn → Phường Bỉm Sơn
    ('tx-nghi-son', '16654'), -- Thị xã Nghi Sơn → Phường Nghi Sơn
    ('ba-thuoc', '14923'), -- Huyện Bá Thước → Xã Bá Thước
    ('cam-thuy', '15127'), -- Huyện Cẩm Thủy → Xã Cẩm Thủy
    ('dong-son', '16378'), -- Huyện Đông Sơn → Phường Đông Sơn
    ('ha-trung', '15271'), -- Huyện Hà Trung → Xã Hà Trung
    ('hau-loc', '16012'), -- Huyện Hậu Lộc → Xã Hậu Lộc
    ('hoang-hoa', '15865'), -- Huyện Hoằng Hóa → Xã Hoằng Hóa
    ('lang-chanh', '15055'), -- Huyện Lang Chánh → Xã Linh Sơn
    ('muong-lat', '14845'), -- Huyện Mường Lát → Xã Mường Lát
    ('nga-son', '16093'), -- Huyện Nga Sơn → Xã Nga Sơn
    ('ngoc-lac', '15061'), -- Huyện Ngọc Lặc → Xã Ngọc Lặc
    ('nhu-thanh', '16228'), -- Huyện Như Thanh → Xã Như Thanh
    ('nhu-xuan', '16174'), -- Huyện Như Xuân → Xã Như Xuân
    ('nong-cong', '16279'), -- Huyện Nông Cống → Xã Nông Cống
    ('quan-hoa', '14869'), -- Huyện Quan Hóa → Xã Hồi Xuân
    ('quan-son', '15016'), -- Huyện Quan Sơn → Xã Quan Sơn
    ('quang-xuong', '16438'), -- Huyện Quảng Xương → Xã Lưu Vệ
    ('thach-thanh', '15187'), -- Huyện Thạch Thành → Xã Kim Tân
    ('thieu-hoa', '15772'), -- Huyện Thiệu Hóa → Xã Thiệu Hóa
    ('tho-xuan', '15499'), -- Huyện Thọ Xuân → Xã Thọ Xuân
    ('thuong-xuan', '15646'), -- Huyện Thường Xuân → Xã Thường Xuân
    ('trieu-son', '15664'), -- Huyện Triệu Sơn → Xã Triệu Sơn
    ('vinh-loc', '15349'), -- Huyện Vĩnh Lộc → Xã Vĩnh Lộc
    ('yen-dinh', '15469'), -- Huyện Yên Định → Xã Yên Định
    ('tp-hung-yen', '11953'), -- Thành phố Hưng Yên → Phường Phố Hiến
    ('tx-my-hao', '12103'), -- Thị xã Mỹ Hào → Phường Mỹ Hào
    ('van-lam', '12004'), -- Huyện Văn Lâm → Xã Như Quỳnh
    ('van-giang', '12019'), -- Huyện Văn Giang → Xã Văn Giang
    ('yen-my', '12073'), -- Huyện Yên Mỹ → Xã Yên Mỹ
    ('an-thi', '12142'), -- Huyện Ân Thi → Xã Ân Thi
    ('khoai-chau', '12205'), -- Huyện Khoái Châu → Xã Khoái Châu
    ('kim-dong', '12280'), -- Huyện Kim Động → Xã Lương Bằng
    ('phu-cu', '12391'), -- Huyện Phù Cừ → Xã Quang Hưng
    ('tien-lu', '12337'); -- Huyện Tiên Lữ → Xã Hoàng Hoa Thám

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dossier_events', 'portal_health', 'link_heartbeats',
                             'consultations', 'payments'] LOOP
        EXECUTE format($sql$
            UPDATE %I AS e
               SET unit_codes_sent = coalesce(e.unit_codes_sent, e.unit_codes),
                   unit_code = coalesce((SELECT m.unit FROM district_slug_2022 m
                                          WHERE m.slug = e.unit_code), e.unit_code),
                   unit_codes = ARRAY(SELECT coalesce(m.unit, c)
                                        FROM unnest(e.unit_codes) WITH ORDINALITY AS u(c, n)
                                        LEFT JOIN district_slug_2022 m ON m.slug = u.c
                                       ORDER BY u.n)
             WHERE e.unit_codes && (SELECT array_agg(slug) FROM district_slug_2022)
                OR e.unit_code IN (SELECT slug FROM district_slug_2022)
        $sql$, t);
    END LOOP;
END
$$;
