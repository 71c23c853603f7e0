-- kabar schema, version 4: the alert outbox. A story flagged for a topic with
-- `notify` is queued once per channel; delivery is retried until it succeeds, across
-- restarts.

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    topic           TEXT NOT NULL,
    channel         TEXT NOT NULL,              -- webhook | command
    story_id        INTEGER NOT NULL,
    article_id      INTEGER NOT NULL REFERENCES articles(id),
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT,
    UNIQUE (topic, channel, story_id)
);
CREATE INDEX alerts_due ON alerts(next_attempt_at) WHERE delivered_at IS NULL;
