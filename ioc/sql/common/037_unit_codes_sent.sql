-- The unit codes as the producer sent them, when they were pre-2025 codes the worker mapped
-- to the units since 1/7/2025 (ioc/unit_codes.py); NULL when the codes were stored as sent.
-- Rows stored before this migration keep their codes as they were (the 2022 district codes
-- of older versions stay readable; no panel or rule matches them).
ALTER TABLE dossier_events ADD COLUMN unit_codes_sent text[];
ALTER TABLE portal_health ADD COLUMN unit_codes_sent text[];
ALTER TABLE link_heartbeats ADD COLUMN unit_codes_sent text[];
ALTER TABLE consultations ADD COLUMN unit_codes_sent text[];
ALTER TABLE payments ADD COLUMN unit_codes_sent text[];
