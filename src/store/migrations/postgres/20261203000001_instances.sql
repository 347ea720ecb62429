-- Server instances sharing this store, with a heartbeat, so every instance
-- (and /api/status) can tell which peers are alive. Timestamps throughout the
-- store are BIGINT milliseconds since the Unix epoch, UTC: one representation
-- that SQLite and PostgreSQL read and compare alike.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    stopped_at   BIGINT
);
CREATE INDEX instances_heartbeat ON instances (heartbeat_at);
