-- kabar schema, version 3: the topics as last applied, so a new or changed topic is
-- re-evaluated over the stored archive; and a feed's last warning.

CREATE TABLE topics (
    name           TEXT PRIMARY KEY,
    query          TEXT NOT NULL,
    -- While re-evaluating: the last article id done, and the last id to do. NULL when
    -- every stored article has been evaluated with this query.
    reindex_done   INTEGER,
    reindex_upto   INTEGER,
    updated_at     INTEGER NOT NULL
);

-- Something the last successful fetch wants the operator to know (an encoding that was
-- not as declared, for one).
ALTER TABLE feeds ADD COLUMN last_warning TEXT;
