//! kabar's benchmark harness (not a timed test): `cargo bench --bench harness -- MODE`.
//!
//! * `compare` (default): generates N feeds × M items of article HTML in English and
//!   Indonesian, RSS and Atom, with a known share of re-published copies across feeds;
//!   serves them from nginx on loopback; runs `kabar fetch` cold (empty database) and
//!   warm (every feed answers 304), and `newsboat -x reload` and `sfeed_update` on the
//!   same files when they are installed, all with 16 fetches in flight (`PARALLEL`);
//!   reports wall time, CPU
//!   time, items/s, MB/s and peak RSS (medians of `--runs`), kabar's ratio to each
//!   peer, and dedup precision/recall on the copies.
//! * `scale-db`: a database pre-filled with `--articles` (1,000,000) articles over a
//!   year: search latency for typical queries (7-day and all-time), and the cold
//!   ingest of the compare corpus into it against an empty database. With `--postgres`,
//!   the same searches over a PostgreSQL database filled the same way (kept for later runs).
//! * `feeds`: `--feeds` (10,000) configured feeds served from loopback: daemon RSS
//!   after the first round, and its CPU over the 30 s after it and the 30 s after those;
//!   the write-ahead log's largest size during the round, and the writer's time per job
//!   (the daemon's `/metrics` histogram).
//! * `scale-out`: `--workers N` (else 1, 2 and 4) `kabar run` workers on one PostgreSQL
//!   database (`--postgres CONNINFO` or `KABAR_BENCH_POSTGRES`, an admin connection that
//!   may create databases) beside one daemon on SQLite: items/s, schedule lag p50/p99,
//!   and the time to reclaim a killed worker's hosts.
//! * `topics`: matching throughput with 10, 1,000 and 10,000 topics.
//! * `web-pages`: each web page's server time over the `scale-db` database.
//! * `translations DIR`: translation links on pseudo-articles of real sentence pairs.
//! * `extract DIR`: page extraction against gold main text (word F1, time per page).
//!
//! Options: `--feeds N --items M --runs R --articles A --workers W --postgres C --out DIR` (DIR keeps the
//! corpus and databases; default a temporary folder), `--no-peers` (kabar alone).

mod compare;
mod corpus;
mod extract;
mod feeds;
mod measure;
mod nginx;
mod scale_db;
mod scale_out;
mod score;
mod topics;
mod translations;
mod web_pages;

/// What the modes share: the standard library's pieces and each other's helpers.
mod prelude {
    pub(crate) use std::collections::{BTreeMap, HashMap};
    pub(crate) use std::fmt::Write as _;
    pub(crate) use std::io::Write as _;
    pub(crate) use std::path::{Path, PathBuf};
    pub(crate) use std::process::{Child, Command, Stdio};
    pub(crate) use std::time::{Duration, Instant};

    pub(crate) use crate::KABAR;
    pub(crate) use crate::compare::*;
    pub(crate) use crate::corpus::*;
    pub(crate) use crate::measure::*;
    pub(crate) use crate::nginx::*;
}

use compare::compare;
use feeds::many_feeds;
use prelude::*;
use scale_db::scale_db;
use topics::topics;

pub(crate) const KABAR: &str = env!("CARGO_BIN_EXE_kabar");

/// The daemon's allocator (`src/main.rs`), so what the harness times in-process
/// (`topics`, `extract`) allocates as `kabar run` does.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mode = args.iter().find(|a| !a.starts_with("--") && !is_value(&args, a)).cloned().unwrap_or("compare".into());
    let opt = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let temp = tempdir();
    let dir = out.unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let feeds = opt("--feeds", if mode == "feeds" { 10_000 } else { 200 });
    let items = opt("--items", if mode == "feeds" { 5 } else { 50 });
    let runs = opt("--runs", 3);
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("KABAR_BENCH_POSTGRES").ok());
    match mode.as_str() {
        "compare" => compare(&dir, feeds, items, runs, !args.iter().any(|a| a == "--no-peers")),
        "scale-db" => scale_db(&dir, opt("--articles", 1_000_000), runs, postgres),
        "scale-out" => {
            let workers = args.iter().any(|a| a == "--workers").then(|| opt("--workers", 1));
            scale_out::scale_out(&dir, feeds, items, workers, postgres)
        }
        "feeds" => many_feeds(&dir, feeds, items),
        "web-pages" => web_pages::web_pages(&dir, opt("--articles", 1_000_000), runs),
        "topics" => topics(args.iter().position(|a| a == "--words").and_then(|i| args.get(i + 1)).map(String::as_str)),
        "translations" => match args.iter().skip_while(|a| *a != "translations").nth(1) {
            Some(d) => translations::translations(Path::new(d)),
            None => {
                eprintln!("translations DIR: the folder with news-test.en and news-test.id");
                std::process::exit(2);
            }
        },
        "extract" => match args.iter().skip_while(|a| *a != "extract").nth(1) {
            Some(d) => extract::extract(Path::new(d)),
            None => {
                eprintln!("extract DIR: the folder with html/ and ground-truth/");
                std::process::exit(2);
            }
        },
        other => {
            eprintln!(
                "unknown mode {other}: compare, scale-db, scale-out, feeds, topics, translations, extract, web-pages"
            );
            std::process::exit(2);
        }
    }
    let _ = std::fs::remove_dir_all(&temp);
}

pub(crate) fn is_value(args: &[String], a: &String) -> bool {
    args.iter().position(|x| x == a).is_some_and(|i| i > 0 && args[i - 1].starts_with("--"))
}

pub(crate) fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kabar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
