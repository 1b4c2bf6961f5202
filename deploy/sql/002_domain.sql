-- 002_domain.sql — full case state and the aggregates the board figures are computed from.
--
-- Aggregates are maintained incrementally: each batch adds the difference between the changed
-- cases' contributions after and before the batch (commutative increments, so several daemons
-- sharing the partitions write correct totals). The figures are never computed by rescanning
-- cases; see README "The figures" for each definition.

ALTER TABLE cases
    ADD COLUMN status        text NOT NULL DEFAULT 'stub',  -- stub | open | closed
    ADD COLUMN case_type     text,
    ADD COLUMN court_area    text,
    ADD COLUMN service_area  text,
    ADD COLUMN team          text,
    ADD COLUMN worker_id     text,
    ADD COLUMN allocation    text,
    ADD COLUMN children      integer NOT NULL DEFAULT 0,
    ADD COLUMN start_at      timestamptz,
    ADD COLUMN closed_at     timestamptz,
    ADD COLUMN state         bytea;                          -- casewatch.v1.CaseState
CREATE INDEX cases_area_idx ON cases (court_area, case_type) WHERE status = 'open';

-- Cases and children by start day and close day ('infinity' while open): open cases at any
-- date, new cases per period, closed-case durations (close_day - start_day), 52/100 weeks.
CREATE TABLE agg_cohort (
    court_area text NOT NULL,
    case_type  text NOT NULL,
    start_day  date NOT NULL,
    close_day  date NOT NULL,
    cases      bigint NOT NULL,
    children   bigint NOT NULL,
    PRIMARY KEY (court_area, case_type, start_day, close_day)
);

-- Live gauges of open cases: allocation status counts, children in allocated cases, seen,
-- seen in person.
CREATE TABLE agg_live (
    court_area text NOT NULL,
    case_type  text NOT NULL,
    metric     text NOT NULL,
    value      bigint NOT NULL,
    PRIMARY KEY (court_area, case_type, metric)
);

-- Open cases allocated to each worker, by the case's court area (caseload).
CREATE TABLE agg_workers (
    worker_id  text NOT NULL,
    court_area text NOT NULL,
    cases      bigint NOT NULL,
    PRIMARY KEY (worker_id, court_area)
);

-- Filed reports by filed day, kind, on time (filed day <= due day in force) and extended.
CREATE TABLE agg_reports (
    court_area  text NOT NULL,
    case_type   text NOT NULL,
    report_kind text NOT NULL,
    filed_day   date NOT NULL,
    on_time     boolean NOT NULL,
    extended    boolean NOT NULL,
    reports     bigint NOT NULL,
    PRIMARY KEY (court_area, case_type, report_kind, filed_day, on_time, extended)
);

-- Court areas and their prioritisation state (latest event wins: stamp_ms, stamp_hash).
CREATE TABLE areas (
    court_area  text PRIMARY KEY,
    prioritised boolean NOT NULL,
    since       timestamptz NOT NULL,
    stamp_ms    bigint NOT NULL,
    stamp_hash  numeric(20) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Impossible transitions, recorded not dropped.
CREATE TABLE anomalies (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL,
    case_id     text,
    kind        text NOT NULL,     -- e.g. report_not_ordered, event_after_close
    detail      text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, kind)
);

-- UTC ms (0 = none) to timestamptz, and day numbers (days since 1970-01-01, 2147483647 = open)
-- to dates: the daemon sends integers, never formatted dates.
CREATE FUNCTION cw_ms(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN ms IS NULL OR ms = 0 THEN NULL
                ELSE timestamptz 'epoch' + ms * interval '1 millisecond' END
$$;
CREATE FUNCTION cw_day(d integer) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN d = 2147483647 THEN 'infinity'::date ELSE date '1970-01-01' + d END
$$;
