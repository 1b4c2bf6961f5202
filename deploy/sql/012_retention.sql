-- 012_retention.sql — indexes the retention prune reads by ([I]).
--
-- Cost: five BRIN indexes, each one pass over its table (on a populated database about as
-- long as a sequential scan of it: seconds per million rows) while holding a SHARE lock that
-- blocks writes to that table; nothing is rewritten. Run it deliberately on a large database:
-- casewatchd --migrate-only.
--
-- The prune (src/retention.c) deletes in small batches, oldest first, by these columns: sent
-- alert notifications by when they were recorded, alert history by when its transitions
-- happened, anomalies by when their events happened, dead letters by when they arrived. All
-- four grow in the order these columns grow, which is what a BRIN index needs: a few pages
-- per table, and nearly nothing for the insert path to maintain (no B-tree on the hot path).
CREATE INDEX alert_outbox_created_brin ON alert_outbox USING brin (created_at);
CREATE INDEX alert_history_at_brin ON alert_history USING brin (at);
CREATE INDEX anomalies_occurred_brin ON anomalies USING brin (occurred_at);
CREATE INDEX dead_letters_received_brin ON dead_letters USING brin (received_at);
CREATE INDEX alerts_resolved_brin ON alerts USING brin (resolved_at);
