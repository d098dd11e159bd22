-- Indexes the alert engine's event-time queries need: the newest heartbeat per link, and
-- whether a dossier was resolved by a given moment (overdue backlog per agency).
CREATE INDEX link_heartbeats_link_time_idx ON link_heartbeats (link_id, occurred_at DESC);
CREATE INDEX dossier_events_resolved_idx ON dossier_events (dossier_id, occurred_at)
    WHERE event_type = 'resolved';
