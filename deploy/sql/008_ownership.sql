-- 008_ownership.sql — who writes this database, with which rules, over which partitioning ([G]).
--
-- Cost: two new empty tables; instant on a populated database.
--
-- group_members: one row per running casewatchd, heartbeated every few seconds. Only one
-- consumer group may own a database: two groups would each own every partition and fence
-- each other's offset advances for ever. A member starting in another group while a member
-- of the owning group is alive (heartbeat within the lease) refuses to start. The group's
-- rule set is the one the newest member loaded (rules_at); a member whose rules_hash differs
-- evaluates no rules until it agrees (README "Ownership and partitioning").
CREATE TABLE group_members (
    member_id    text PRIMARY KEY,            -- host:pid:start time
    group_id     text NOT NULL,
    rules_hash   text NOT NULL,               -- the member's rule set (names, configuration)
    rules_at     timestamptz NOT NULL,        -- when it loaded them (start or reload)
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX group_members_group_idx ON group_members (group_id, rules_at);

-- kafka_topics: the partition count of every input topic when casewatch first consumed it.
-- Case state is owned by partition (cases.kpartition = the producers' hash of case_id modulo
-- this count); a topic whose count changed would move cases to new owners, so casewatchd
-- refuses to consume until the counts agree again.
CREATE TABLE kafka_topics (
    topic       text PRIMARY KEY,
    partitions  integer NOT NULL CHECK (partitions > 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
