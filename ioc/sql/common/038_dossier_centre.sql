-- The Public Administrative Service Centre that received a dossier (Decree 118/2025/NĐ-CP):
-- the provincial centre's code or a commune's centre by the commune's code (ioc/contract.py,
-- DossierReceivedData.centre_code). NULL on resolutions, on rows stored before this
-- migration and from producers that do not send it.
ALTER TABLE dossier_events ADD COLUMN centre_code text;
