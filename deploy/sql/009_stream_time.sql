-- 009_stream_time.sql — each input partition's stream time, kept with its offset ([L]).
--
-- Cost: one column with a constant default (no table rewrite in PostgreSQL 11+), one
-- function; instant on a populated database.
--
-- stream_ms is the newest occurred_at applied from the topic-partition. Partition N's event
-- clock is the minimum over the input topics' partition N, less the allowed lateness, and an
-- event is late for an obligation when its topic-partition had passed the due time by the
-- lateness before it came. Both must survive a restart exactly, or a catch-up after a crash
-- would judge lateness from zero and record a different history than an uninterrupted run.
ALTER TABLE consumer_offsets ADD COLUMN stream_ms bigint NOT NULL DEFAULT 0;

-- cw_advance_offsets() with the stream times: same fence (CW001), and stream_ms only grows.
CREATE FUNCTION cw_advance_offsets(p_topic text[], p_part integer[], p_expected bigint[],
                                   p_next bigint[], p_stream bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE consumer_offsets o
       SET next_offset = u.nxt, stream_ms = greatest(o.stream_ms, u.stream), updated_at = now()
      FROM unnest(p_topic, p_part, p_expected, p_next, p_stream)
           AS u(topic, part, expected, nxt, stream)
     WHERE o.topic = u.topic AND o.kpartition = u.part AND o.next_offset = u.expected;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> cardinality(p_topic) THEN
        RAISE EXCEPTION 'casewatch offset fence: % of % partitions at the expected offset',
            n, cardinality(p_topic) USING ERRCODE = 'CW001';
    END IF;
END
$$;
