-- 001_foundation.sql — the exactly-once ingest core of casewatch.
--
-- Every batch of consumed events is applied in ONE transaction that writes event_log rows,
-- the changed cases, dead letters and the next offsets per topic-partition. The offsets are
-- advanced by cw_advance_offsets() only from the value the writer last read: a daemon that
-- lost its partitions (a zombie) cannot commit over its successor.

-- Every event applied, once: the primary key is the de-duplication of event_id.
CREATE TABLE event_log (
    event_id     text PRIMARY KEY,
    case_id      text,                 -- NULL for area events (prioritisation)
    kind         text NOT NULL,        -- payload kind, e.g. case_opened
    occurred_at  timestamptz NOT NULL, -- when it happened (event time)
    topic        text NOT NULL,        -- where it was read from
    kpartition   integer NOT NULL,
    koffset      bigint NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_case_idx ON event_log (case_id);

-- One row per case: written from the daemon's in-memory state, one row per changed case per
-- batch. kpartition is the partition that owns the case (cases are keyed by case_id).
CREATE TABLE cases (
    case_id        text PRIMARY KEY,
    kpartition     integer NOT NULL,
    event_count    bigint NOT NULL,
    first_event_at timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_partition_idx ON cases (kpartition);

-- The consumed position, the only one casewatch trusts (Kafka's committed offsets are not).
-- next_offset is the next offset to read; -2 (librdkafka's OFFSET_BEGINNING) before the first.
CREATE TABLE consumer_offsets (
    topic       text NOT NULL,
    kpartition  integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kpartition)
);

-- Bad input, set aside with its reason. Unique on its source position, so a batch replayed
-- after a failure cannot record the same message twice.
CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    reason        text NOT NULL,       -- stable class, e.g. undecodable, missing_field
    detail        text NOT NULL,       -- which field and why (never the input's content)
    topic         text NOT NULL,
    kpartition    integer NOT NULL,
    koffset       bigint NOT NULL,
    msg_key       bytea,
    payload       bytea,
    received_at   timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,         -- when the copy reached the dead-letter topic
    publish_error text,                -- a permanent failure to publish, if any
    UNIQUE (topic, kpartition, koffset)
);
CREATE INDEX dead_letters_unpublished_idx ON dead_letters (id) WHERE published_at IS NULL;

-- Advance offsets only from the values this writer last read. Raises SQLSTATE CW001 when any
-- partition was moved by someone else: the transaction rolls back and the writer reloads.
CREATE FUNCTION cw_advance_offsets(p_topic text[], p_part integer[], p_expected bigint[],
                                   p_next bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE consumer_offsets o
       SET next_offset = u.nxt, updated_at = now()
      FROM unnest(p_topic, p_part, p_expected, p_next) AS u(topic, part, expected, nxt)
     WHERE o.topic = u.topic AND o.kpartition = u.part AND o.next_offset = u.expected;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_topic) THEN
        RAISE EXCEPTION 'casewatch offset fence: % of % partitions at the expected offset',
            n, cardinality(p_topic) USING ERRCODE = 'CW001';
    END IF;
END
$$;
