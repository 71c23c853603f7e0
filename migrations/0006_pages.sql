-- kabar schema, version 6: article pages. An entry whose feed carries only a teaser has
-- its page fetched; the page's main text replaces the teaser as the article's text, and
-- the feed's own text is kept in `summary`.

ALTER TABLE articles ADD COLUMN summary TEXT;            -- the feed's text, once a page replaced it
ALTER TABLE articles ADD COLUMN page_status TEXT;        -- NULL (no page wanted) | queued | ok | a final failure
ALTER TABLE articles ADD COLUMN page_extractor INTEGER;  -- pipeline::extract::VERSION that read the page

-- Pages waiting to be fetched: a restart or a SIGKILL loses none of them.
CREATE TABLE pages (
    article_id      INTEGER PRIMARY KEY REFERENCES articles(id),
    url             TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX pages_due ON pages(next_attempt_at);
