-- 013_offset_gaps.sql — every time Kafka no longer held what casewatch expected to read ([N]).
--
-- Cost: one new table; instant.
--
-- A row per occurrence: the topic-partition, the offset stored in PostgreSQL (where casewatch
-- was to go on), the log's start and end when it was found, what it was (records_deleted: the
-- stored offset is below the log start, retention or kafka-delete-records removed events
-- casewatch had not read; log_reset: it is beyond the log end, the topic was recreated or the
-- producers moved to another cluster), how many messages were lost when that can be told, the
-- first record still there (its time: the loss ends there), and who acknowledged it. Until
-- every row is acknowledged /readyz says degraded.
CREATE TABLE offset_gaps (
    id              bigserial PRIMARY KEY,
    topic           text NOT NULL,
    kpartition      integer NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('records_deleted', 'log_reset')),
    stored_offset   bigint NOT NULL,
    log_start       bigint,
    log_end         bigint,
    missed          bigint,          -- messages never read (records_deleted), else NULL
    first_offset    bigint,          -- the first record read after it
    first_record_at timestamptz,     -- and its time
    detected_at     timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz,
    acknowledged_by text
);
CREATE INDEX offset_gaps_open_idx ON offset_gaps (id) WHERE acknowledged_at IS NULL;
