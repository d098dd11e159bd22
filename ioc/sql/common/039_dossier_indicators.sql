-- What Decision 766/QĐ-TTg's indicators need from a dossier beyond its timing (ioc/contract.py):
-- digitised at reception, the fee and how it was paid (received); the result issued
-- electronically (resolved), and the receiving centre on a resolution too, so results count
-- per centre. NULL where a producer does not report it (counted in no ratio) and on rows
-- stored before this migration.
ALTER TABLE dossier_events
    ADD COLUMN digitised boolean,
    ADD COLUMN payment text CHECK (payment IN ('none', 'online', 'in_person')),
    ADD COLUMN e_result boolean;
