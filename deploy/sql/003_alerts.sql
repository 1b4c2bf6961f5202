-- 003_alerts.sql — alert state, history, the outbox to the alerts topic, silences and the
-- audit trail of what people did with alerts.
--
-- Written in the same batch transaction as the events that caused them (or the clock tick
-- that did), so alert state is exactly as durable as case state; the outbox is published
-- after commit and marked sent on the delivery report (at-least-once, de-duplicated by
-- alert_id downstream).

-- One row per alert occurrence key (rule, case or area or worker, subject): its current state.
CREATE TABLE alerts (
    dedup_key      text PRIMARY KEY,
    rule           text NOT NULL,
    rule_version   bigint NOT NULL,
    family         text NOT NULL,
    severity       text NOT NULL,
    state          text NOT NULL,          -- pending | firing | resolved
    resolution     text,                   -- met | met_late | case_closed | …
    case_id        text,
    subject        text NOT NULL DEFAULT '',
    court_area     text,
    worker_id      text,
    case_type      text,
    kpartition     integer NOT NULL,       -- owning partition; -1 for area/worker alerts
    armed_at       timestamptz,
    due_at         timestamptz,
    pending_at     timestamptz,
    firing_at      timestamptz,
    resolved_at    timestamptz,
    notified_at    timestamptz,
    notify_count   integer NOT NULL DEFAULT 0,
    value          double precision,
    threshold      double precision,
    cause_event_id text,
    cause_topic    text,
    cause_partition integer,
    cause_offset   bigint,
    acknowledged   boolean NOT NULL DEFAULT false,
    acknowledged_by text,
    assignee       text,
    silenced       boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_active_idx ON alerts (kpartition) WHERE state IN ('pending', 'firing');
CREATE INDEX alerts_case_idx ON alerts (case_id);

-- Every transition, in order.
CREATE TABLE alert_history (
    id          bigserial PRIMARY KEY,
    alert_id    text NOT NULL,
    dedup_key   text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    resolution  text,
    at          timestamptz NOT NULL,
    notified    boolean NOT NULL,
    silenced    boolean NOT NULL,
    repeat      boolean NOT NULL,
    cause_event_id text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alert_id, to_state)
);
CREATE INDEX alert_history_key_idx ON alert_history (dedup_key);

-- Notifications to publish: protobuf casewatch.v1.Alert, keyed by subject.
CREATE TABLE alert_outbox (
    alert_id   text PRIMARY KEY,
    dedup_key  text NOT NULL,
    msg_key    text NOT NULL,
    payload    bytea NOT NULL,
    silenced   boolean NOT NULL,           -- recorded, never published
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX alert_outbox_unsent_idx ON alert_outbox (created_at)
    WHERE sent_at IS NULL AND NOT silenced;

-- Silences by matcher (empty = any), with an expiry.
CREATE TABLE silences (
    id           bigserial PRIMARY KEY,
    rule         text NOT NULL DEFAULT '',
    court_area   text NOT NULL DEFAULT '',
    case_id      text NOT NULL DEFAULT '',
    min_severity text NOT NULL DEFAULT '',
    starts_at    timestamptz NOT NULL DEFAULT now(),
    ends_at      timestamptz NOT NULL,
    created_by   text NOT NULL,
    comment      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Who did what to an alert: acknowledge, unacknowledge, assign, comment.
CREATE TABLE alert_actions (
    id         bigserial PRIMARY KEY,
    dedup_key  text NOT NULL REFERENCES alerts (dedup_key),
    action     text NOT NULL,
    actor      text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_actions_key_idx ON alert_actions (dedup_key);
