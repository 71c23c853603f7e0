-- kabar schema, version 5: an index on when articles were first stored, so loading the
-- dedup window at start reads the window's articles, not the whole archive.

CREATE INDEX articles_first_seen ON articles(first_seen);
