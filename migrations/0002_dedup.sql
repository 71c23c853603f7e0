-- kabar schema, version 2: what near-duplicate and translation checks need.

-- The fingerprint of each article's text (see src/pipeline/dedup/sketch.rs), so the
-- in-memory window of recent articles can be rebuilt at start without re-reading texts.
CREATE TABLE article_sketches (
    article_id INTEGER PRIMARY KEY REFERENCES articles(id),
    bins       BLOB NOT NULL,                   -- 64 × u16, little-endian
    shingles   INTEGER NOT NULL,
    signals    BLOB NOT NULL,                   -- u32 each, little-endian
    numbers    BLOB NOT NULL                    -- u32 each, little-endian
);

-- Short lines a site repeats across its articles: after enough articles, they are
-- boilerplate for matching (see src/pipeline/clean.rs).
CREATE TABLE site_lines (
    host      TEXT NOT NULL,
    line_hash INTEGER NOT NULL,
    articles  INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (host, line_hash)
) WITHOUT ROWID;
