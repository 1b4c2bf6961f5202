-- 006_hot_writes.sql — cheaper writes on the batch path (measured with the benchmark).
--
-- Identifiers compare byte-wise: their order carries no meaning, and "C" comparisons are a
-- memcmp where the database's default collation goes through the locale library on every
-- index probe. (For UTF-8 the order is the same as C.UTF-8's.)
ALTER TABLE event_log ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE cases ALTER COLUMN case_id TYPE text COLLATE "C";
ALTER TABLE alert_actions DROP CONSTRAINT alert_actions_dedup_key_fkey;
ALTER TABLE alerts ALTER COLUMN dedup_key TYPE text COLLATE "C";
ALTER TABLE alert_actions ALTER COLUMN dedup_key TYPE text COLLATE "C";
ALTER TABLE alert_actions ADD CONSTRAINT alert_actions_dedup_key_fkey
    FOREIGN KEY (dedup_key) REFERENCES alerts (dedup_key);
ALTER TABLE alert_outbox ALTER COLUMN alert_id TYPE text COLLATE "C";
ALTER TABLE alert_history ALTER COLUMN alert_id TYPE text COLLATE "C";
ALTER TABLE alert_history ALTER COLUMN dedup_key TYPE text COLLATE "C";

-- Rows rewritten by every batch (a case per event, aggregate counters, alert state) leave
-- room in their page, so an update that changes no indexed column is a heap-only tuple
-- update: no new entry in any of the table's indexes.
ALTER TABLE cases SET (fillfactor = 70);
ALTER TABLE alerts SET (fillfactor = 70);
ALTER TABLE agg_cohort SET (fillfactor = 50);
ALTER TABLE agg_live SET (fillfactor = 50);
ALTER TABLE agg_workers SET (fillfactor = 50);
ALTER TABLE agg_reports SET (fillfactor = 50);
ALTER TABLE areas SET (fillfactor = 50);
ALTER TABLE consumer_offsets SET (fillfactor = 50);
