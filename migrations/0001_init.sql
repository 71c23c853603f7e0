-- kabar schema, version 1. Migrations are append-only: never edit a released file,
-- add the next number instead. Times are Unix seconds (UTC).

-- One row per configured feed, matched by name. Holds the poll state that must
-- survive a restart: validators, backoff, next attempt.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    config_url           TEXT NOT NULL,          -- as written in the configuration
    url                  TEXT NOT NULL,          -- where it is fetched (after permanent moves)
    etag                 TEXT,                   -- verbatim from the server
    last_modified        TEXT,                   -- verbatim from the server
    guids_trusted        INTEGER NOT NULL DEFAULT 1,
    title                TEXT,
    site_url             TEXT,
    last_fetch_at        INTEGER,
    last_success_at      INTEGER,
    last_status          TEXT,                   -- ok | not_modified | error
    last_http_status     INTEGER,
    last_error_kind      TEXT,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    moved_to             TEXT,                   -- a permanent redirect seen but not yet applied
    moved_since          INTEGER,
    moved_count          INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL
);

-- Every entry a feed published, one row each; nothing is thrown away.
CREATE TABLE articles (
    id               INTEGER PRIMARY KEY,
    feed_id          INTEGER NOT NULL REFERENCES feeds(id),
    entry_key        TEXT NOT NULL,              -- g:<guid> | u:<canonical url> | h:<hash>
    guid             TEXT,
    url              TEXT,
    canonical_url    TEXT,
    title            TEXT NOT NULL,
    authors          TEXT,
    summary_html     TEXT,
    content_html     TEXT,
    text             TEXT NOT NULL,              -- plain text for display, as published
    boilerplate      TEXT,                       -- JSON array of lines left out of matching
    language         TEXT,
    published        INTEGER,                    -- clamped to first_seen + 1 day
    published_raw    TEXT,                       -- the feed's date when it was clamped
    updated          INTEGER,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    changed_at       INTEGER NOT NULL,           -- when this row's content last changed
    sort_time        INTEGER NOT NULL,           -- published, else first_seen
    content_hash     INTEGER,
    duplicate_of     INTEGER REFERENCES articles(id),
    duplicate_reason TEXT,                       -- url | content | near | translation
    similarity       REAL,
    story_id         INTEGER NOT NULL,           -- the id of the story's first copy
    UNIQUE (feed_id, entry_key)
);
CREATE INDEX articles_canonical_url ON articles(canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_content_hash ON articles(content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX articles_story ON articles(story_id);
CREATE INDEX articles_sort ON articles(sort_time DESC, id DESC);
CREATE INDEX articles_feed_sort ON articles(feed_id, sort_time DESC);

-- Which topics flagged which article, and why.
CREATE TABLE article_topics (
    topic      TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES articles(id),
    score      REAL NOT NULL,
    evidence   TEXT NOT NULL,                    -- JSON: [{term, field, position}]
    matched_at INTEGER NOT NULL,
    PRIMARY KEY (topic, article_id)
) WITHOUT ROWID;
CREATE INDEX article_topics_article ON article_topics(article_id);

-- One row per poll.
CREATE TABLE fetches (
    id          INTEGER PRIMARY KEY,
    feed_id     INTEGER NOT NULL REFERENCES feeds(id),
    started_at  INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status      TEXT NOT NULL,                   -- ok | not_modified | error
    http_status INTEGER,
    bytes       INTEGER,
    entries     INTEGER,
    new         INTEGER,
    updated     INTEGER,
    duplicates  INTEGER,
    truncated   INTEGER,
    error_kind  TEXT,
    error       TEXT
);
CREATE INDEX fetches_feed ON fetches(feed_id, started_at);

-- Full-text index over folded tokens (see src/text.rs); rowid = articles.id.
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
