-- 005_alert_origin.sql — which event began an alert's current occurrence (FNV-1a 64 of its
-- event_id, as a signed bigint). Part of the occurrence's identity: two occurrences that begin
-- at the same clock time (a case closed and reopened while the clock stands still, e.g. late
-- events on the event clock) still get different alert ids.
ALTER TABLE alerts ADD COLUMN origin bigint NOT NULL DEFAULT 0;
