-- kabar's schema on PostgreSQL, version 2: a fleet of workers on one database.

-- Each `kabar run` on this database, with its last heartbeat. The times of this file are
-- Unix milliseconds: leases are a few seconds long.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,            -- host name and process id
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Who polls each host's feeds: one worker at a time, until `expires_at`. `fence` grows
-- with every new holder, and a poll commits only under the lease it was started with, so
-- a worker that was paused past its lease cannot overwrite newer work.
CREATE TABLE leases (
    host       TEXT PRIMARY KEY,              -- fetch::host_key: name and port
    owner      TEXT,
    expires_at BIGINT NOT NULL DEFAULT 0,
    fence      BIGINT NOT NULL DEFAULT 0,
    claimed_at BIGINT
);
CREATE INDEX leases_owner ON leases(owner);

-- The worker delivering an alert it claimed (until `next_attempt_at`, when any worker
-- may claim it again); a worker that stops cleanly hands its claims back.
ALTER TABLE alerts ADD COLUMN claimed_by TEXT;
