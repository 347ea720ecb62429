-- Notifications. `domain_events` is the outbox of booking events: written
-- before the event is published on the bus, claimed by one instance's
-- notifications worker, marked processed once its notification is stored, so
-- an event the bus lost (Redis pub/sub is at-most-once) is still picked up by
-- the worker's poll.
CREATE TABLE domain_events (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    booking_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    processed_at  BIGINT,
    claimed_by    TEXT,
    claimed_until BIGINT
);
CREATE INDEX domain_events_pending ON domain_events (processed_at, created_at);

-- One notification per event (`event_id` unique); `seq` numbers a session's
-- notifications gap-free in commit order, which is what makes
-- `notifications(after:)` lose nothing: a concurrent insert that computed the
-- same next number fails on the primary key and takes the next one.
CREATE TABLE notifications (
    session_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    booking_id TEXT,
    language   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at    BIGINT,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE notification_preferences (
    session_id TEXT PRIMARY KEY,
    email      BIGINT NOT NULL,
    sms        BIGINT NOT NULL,
    push       BIGINT NOT NULL,
    push_token TEXT,
    updated_at BIGINT NOT NULL
);

-- One row per notification and channel (unique), claimed before each attempt;
-- `DEAD` rows are the dead letters.
CREATE TABLE notification_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    message         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    provider_id     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_id, channel)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_attempt_at);
