//! kabar's integration tests, in one binary (Cargo.toml sets `autotests = false`), and
//! the load test and the fleet test in binaries of their own (`tests/load.rs`,
//! `tests/fleet.rs`): test binaries run one after the other, so each has the machine
//! to itself.
//! Every server they talk to runs on 127.0.0.1 inside the test.
//!
//! * `config`: the example configuration passes `kabar check` and holds every key;
//!   bad files fail with line and column.
//! * `corpus`: every document of the shared corpus goes through parse and clean.
//! * `hostile`: misbehaving servers and documents against a running daemon.
//! * `layers`: the modules of `src/` import one way, in ARCHITECTURE.md's order.
//! * `ingest`: storing polls — entry keys, updates, URL and content copies, the
//!   tempo-rss positional-GUID trap, dates from the future.
//! * `cli`: `kabar fetch` from a loopback server, then every listing and format.
//! * `clients`: hostile and careless clients — API requests, queries, configuration
//!   files, a second writer — against the real binary.
//! * `dedup`: precision and recall of duplicate pairs on the labelled set.
//! * `extract`: page extraction over WCXB's dev articles (word F1).
//! * `fetch`: failure classes, each stored on its own feed.
//! * `moves`: permanent redirects over days (a clock the test sets), and retention.
//! * `pages`: teaser feeds whose pages are read, re-decided, or recorded as failed.
//! * `parse`: golden feeds, one for each way real feeds lost entries, titles, links or
//!   dates.
//! * `properties`: no input makes a stage panic (proptest); fuzz findings replayed.
//! * `security`: the network policy, TLS, encodings, terminal safety.
//! * `service`: the HTTP API, Atom topic feeds, reload, alerts, systemd, the unit, OPML.
//! * `topics`: the example topic on a labelled set; search agrees with topics.
//! * `crash`: SIGKILL during ingest, many times: nothing committed lost, nothing half stored.
//! * `daemon`: `kabar run` — conditional GET, backoff, SIGTERM, readers during ingest,
//!   a full disk.

mod support;

mod browser;
mod cli;
mod clients;
mod config;
mod corpus;
mod crash;
mod daemon;
mod dedup;
mod extract;
mod fetch;
mod hostile;
mod ingest;
mod layers;
mod moves;
mod pages;
mod parse;
mod properties;
mod security;
mod service;
mod topics;
mod web;
