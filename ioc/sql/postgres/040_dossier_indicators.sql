-- dossiers_1h by receiving centre too, with the counts Decision 766/QĐ-TTg's indicators need
-- (ioc/indicator_sets/decision-766.yaml). New columns come last (CREATE OR REPLACE VIEW keeps
-- the old ones in place); a reader that sums over centres sees the same figures as before.
CREATE OR REPLACE VIEW dossiers_1h AS
SELECT date_bin('1 hour', occurred_at, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       unit_code, agency_code,
       count(*) FILTER (WHERE event_type = 'received') AS received,
       count(*) FILTER (WHERE event_type = 'received' AND channel = 'online') AS received_online,
       count(*) FILTER (WHERE event_type = 'resolved') AS resolved,
       count(*) FILTER (WHERE event_type = 'resolved' AND occurred_at <= due_at) AS resolved_on_time,
       centre_code,
       count(*) FILTER (WHERE event_type = 'received' AND digitised) AS received_digitised,
       count(*) FILTER (WHERE event_type = 'received' AND digitised IS NOT NULL)
           AS received_digitised_known,
       count(*) FILTER (WHERE event_type = 'received' AND payment IN ('online', 'in_person'))
           AS received_fee,
       count(*) FILTER (WHERE event_type = 'received' AND payment = 'online')
           AS received_paid_online,
       count(*) FILTER (WHERE event_type = 'resolved' AND e_result) AS resolved_e_result,
       count(*) FILTER (WHERE event_type = 'resolved' AND e_result IS NOT NULL)
           AS resolved_e_result_known
  FROM dossier_events
 GROUP BY 1, 2, 3, centre_code;
