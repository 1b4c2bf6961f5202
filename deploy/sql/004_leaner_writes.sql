-- 004_leaner_writes.sql — fewer indexes on the write-once tables of the hot path.
--
-- alert_history is written once per transition inside the batch
-- transaction that caused it, so a transition cannot be recorded twice (a failed batch rolls
-- back whole): the unique index only cost time on every insert.
ALTER TABLE alert_history DROP CONSTRAINT alert_history_alert_id_to_state_key;
CREATE INDEX alert_history_alert_idx ON alert_history (alert_id);

-- event_log is written once per event and read by event_id (de-duplication); the index by
-- case only slowed every insert. Per-case history is in cases.state.
DROP INDEX event_log_case_idx;
