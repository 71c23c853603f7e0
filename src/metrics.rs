//! Counters the daemon keeps for `GET /metrics`, in Prometheus' text format.
//!
//! Only numbers that come from kabar's own work are here (per feed: fetch results,
//! latency, bytes, articles; per topic: hits; the database writer's time per job);
//! gauges read at scrape time (queue depth, database size) are passed to
//! [`Metrics::render`].

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
struct FeedCounters {
    ok: u64,
    not_modified: u64,
    errors: BTreeMap<&'static str, u64>,
    seconds: f64,
    bytes: u64,
    new: u64,
    updated: u64,
    duplicates: u64,
    failures: u32,
    warnings: u64,
}

/// A per-feed metric: name, type, help, and how to read it off a feed's counters.
type Family = (&'static str, &'static str, &'static str, fn(&FeedCounters) -> String);

#[derive(Debug, Default)]
pub struct Metrics {
    feeds: Mutex<BTreeMap<String, FeedCounters>>,
    topics: Mutex<BTreeMap<String, u64>>,
    /// Article pages by outcome (`ok`, `retry`, or the final status).
    pages: Mutex<BTreeMap<String, u64>>,
    /// Time spent extracting pages, in microseconds, and how many.
    extract_micros: std::sync::atomic::AtomicU64,
    extracted: std::sync::atomic::AtomicU64,
}

/// What one poll did, for the counters.
#[derive(Debug, Default)]
pub struct PollFigures<'a> {
    pub outcome: &'a str,
    pub error_kind: Option<&'static str>,
    pub duration: Duration,
    pub bytes: u64,
    pub new: u64,
    pub updated: u64,
    pub duplicates: u64,
    pub failures: u32,
    /// The document was read with a warning (an encoding not as declared, entry
    /// elements none of which could be read, a text of an unknown type).
    pub warned: bool,
}

/// Upper bounds of the write-time buckets, in seconds.
const WRITE_BOUNDS: [f64; 7] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// How long the database writer took per job (a poll's transaction, mostly): a
/// histogram the writer thread adds to without locking.
#[derive(Debug, Default)]
pub struct WriteTimes {
    /// Jobs per bucket (not cumulative); the last counts those over every bound.
    buckets: [AtomicU64; WRITE_BOUNDS.len() + 1],
    micros: AtomicU64,
    /// The slowest job, in microseconds.
    max_micros: AtomicU64,
}

impl WriteTimes {
    pub fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = WRITE_BOUNDS.iter().position(|b| seconds <= *b).unwrap_or(WRITE_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.max_micros.fetch_max(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Jobs done, and how many took longer than `seconds` (a bucket bound).
    pub fn over(&self, seconds: f64) -> (u64, u64) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total = counts.iter().sum();
        let first_over = WRITE_BOUNDS.iter().position(|b| *b > seconds).unwrap_or(WRITE_BOUNDS.len());
        (total, counts[first_over..].iter().sum())
    }

    /// The slowest job so far.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_micros.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String) {
        let name = "kabar_write_seconds";
        let _ = writeln!(out, "# HELP {name} Time the database writer took per job.\n# TYPE {name} histogram");
        let mut total = 0;
        for (i, count) in self.buckets.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let le = WRITE_BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        let _ = writeln!(out, "{name}_sum {:.6}", self.micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {total}");
        let max = "kabar_write_seconds_max";
        let _ = writeln!(out, "# HELP {max} The database writer's slowest job.\n# TYPE {max} gauge");
        let _ = writeln!(out, "{max} {:.6}", self.max().as_secs_f64());
    }
}

/// Values read when the metrics are scraped.
#[derive(Debug, Default)]
pub struct Gauges {
    pub write_times: Arc<WriteTimes>,
    pub queue_depth: usize,
    pub database_bytes: u64,
    pub wal_bytes: u64,
    pub polls_in_flight: usize,
    pub alerts_pending: i64,
    /// This worker's name, on a database a fleet shares (each worker serves its own).
    pub worker: Option<String>,
}

impl Metrics {
    pub fn record_poll(&self, feed: &str, p: &PollFigures) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let c = feeds.entry(feed.to_string()).or_default();
        match p.outcome {
            "ok" => c.ok += 1,
            "not_modified" => c.not_modified += 1,
            _ => *c.errors.entry(p.error_kind.unwrap_or("internal")).or_default() += 1,
        }
        c.seconds += p.duration.as_secs_f64();
        c.bytes += p.bytes;
        c.new += p.new;
        c.updated += p.updated;
        c.duplicates += p.duplicates;
        c.failures = p.failures;
        c.warnings += u64::from(p.warned);
    }

    /// One page done: `outcome` is `ok`, `retry` or its final status; `extract` the time
    /// extraction took, when it ran.
    pub fn record_page(&self, outcome: &str, extract: Option<std::time::Duration>) {
        *self.pages.lock().unwrap_or_else(|e| e.into_inner()).entry(outcome.to_string()).or_default() += 1;
        if let Some(d) = extract {
            self.extract_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
            self.extracted.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn record_topic_hits(&self, topic: &str, n: u64) {
        *self.topics.lock().unwrap_or_else(|e| e.into_inner()).entry(topic.to_string()).or_default() += n;
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: &Gauges) -> String {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let topics = self.topics.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        let f = "kabar_fetches_total";
        let _ = writeln!(out, "# HELP {f} Polls by feed and result.\n# TYPE {f} counter");
        for (feed, c) in &feeds {
            let feed = label(feed);
            let _ = writeln!(out, "{f}{{feed=\"{feed}\",result=\"ok\"}} {}", c.ok);
            let _ = writeln!(out, "{f}{{feed=\"{feed}\",result=\"not_modified\"}} {}", c.not_modified);
            for (kind, n) in &c.errors {
                let _ = writeln!(out, "{f}{{feed=\"{feed}\",result=\"error\",kind=\"{kind}\"}} {n}");
            }
        }
        let metrics: [Family; 8] = [
            ("kabar_fetch_seconds_total", "counter", "Time spent polling each feed.", |c| format!("{:.3}", c.seconds)),
            ("kabar_fetch_bytes_total", "counter", "Body bytes received per feed.", |c| c.bytes.to_string()),
            ("kabar_articles_new_total", "counter", "New articles per feed.", |c| c.new.to_string()),
            ("kabar_articles_updated_total", "counter", "Updated articles per feed.", |c| c.updated.to_string()),
            ("kabar_articles_duplicate_total", "counter", "New articles that copy a stored story.", |c| {
                c.duplicates.to_string()
            }),
            ("kabar_feed_consecutive_failures", "gauge", "Failures in a row per feed.", |c| c.failures.to_string()),
            ("kabar_feed_warnings_total", "counter", "Polls whose document was read with a warning.", |c| {
                c.warnings.to_string()
            }),
            ("kabar_fetch_not_modified_ratio", "gauge", "Share of successful polls answered 304.", |c| {
                let done = c.ok + c.not_modified;
                format!("{:.3}", if done == 0 { 0.0 } else { c.not_modified as f64 / done as f64 })
            }),
        ];
        for (name, kind, help, value) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (feed, c) in &feeds {
                let _ = writeln!(out, "{name}{{feed=\"{}\"}} {}", label(feed), value(c));
            }
        }
        let _ = writeln!(
            out,
            "# HELP kabar_topic_hits_total Articles flagged per topic.\n# TYPE kabar_topic_hits_total counter"
        );
        for (topic, n) in &topics {
            let _ = writeln!(out, "kabar_topic_hits_total{{topic=\"{}\"}} {n}", label(topic));
        }
        let p = "kabar_pages_total";
        let _ = writeln!(out, "# HELP {p} Article pages fetched, by outcome.\n# TYPE {p} counter");
        for (outcome, n) in self.pages.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{p}{{outcome=\"{}\"}} {n}", label(outcome));
        }
        let e = "kabar_page_extract_seconds";
        let _ = writeln!(out, "# HELP {e} Time spent extracting the main text of pages.\n# TYPE {e} summary");
        let _ = writeln!(out, "{e}_sum {:.6}", self.extract_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{e}_count {}", self.extracted.load(Ordering::Relaxed));
        gauges.write_times.render(&mut out);
        if let Some(worker) = &gauges.worker {
            let w = "kabar_worker_info";
            let _ = writeln!(out, "# HELP {w} The fleet worker these figures are of.\n# TYPE {w} gauge");
            let _ = writeln!(out, "{w}{{worker=\"{}\"}} 1", label(worker));
        }
        let gauges = [
            ("kabar_writer_queue_depth", "Writes waiting for the database writer.", gauges.queue_depth as f64),
            ("kabar_polls_in_flight", "Polls under way.", gauges.polls_in_flight as f64),
            ("kabar_database_bytes", "Size of the database and its WAL.", gauges.database_bytes as f64),
            (
                "kabar_wal_bytes",
                "Size of the WAL file: about 16 MiB at most unless a reader holds a snapshot for long.",
                gauges.wal_bytes as f64,
            ),
            ("kabar_alerts_pending", "Alerts not delivered yet.", gauges.alerts_pending as f64),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::default();
        m.record_poll("a", &PollFigures { outcome: "ok", bytes: 100, new: 3, ..PollFigures::default() });
        m.record_poll("a", &PollFigures { outcome: "not_modified", ..PollFigures::default() });
        m.record_poll(
            "b\"x",
            &PollFigures { outcome: "error", error_kind: Some("timeout"), failures: 1, ..PollFigures::default() },
        );
        m.record_topic_hits("digital", 2);
        let writes = Arc::new(WriteTimes::default());
        for ms in [3, 7, 40, 2000] {
            writes.record(Duration::from_millis(ms));
        }
        let text = m.render(&Gauges {
            queue_depth: 1,
            database_bytes: 4096,
            wal_bytes: 512,
            write_times: writes,
            worker: Some("db1:42".into()),
            ..Gauges::default()
        });
        for needle in [
            "kabar_fetches_total{feed=\"a\",result=\"ok\"} 1",
            "kabar_fetches_total{feed=\"a\",result=\"not_modified\"} 1",
            "kabar_fetches_total{feed=\"b\\\"x\",result=\"error\",kind=\"timeout\"} 1",
            "kabar_fetch_not_modified_ratio{feed=\"a\"} 0.500",
            "kabar_worker_info{worker=\"db1:42\"} 1",
            "kabar_articles_new_total{feed=\"a\"} 3",
            "kabar_topic_hits_total{topic=\"digital\"} 2",
            "kabar_database_bytes 4096",
            "kabar_wal_bytes 512",
            // Cumulative buckets: 3 ms and 7 ms within 10 ms, 40 ms within 50 ms, 2 s over all.
            "kabar_write_seconds_bucket{le=\"0.005\"} 1",
            "kabar_write_seconds_bucket{le=\"0.01\"} 2",
            "kabar_write_seconds_bucket{le=\"0.05\"} 3",
            "kabar_write_seconds_bucket{le=\"1\"} 3",
            "kabar_write_seconds_bucket{le=\"+Inf\"} 4",
            "kabar_write_seconds_sum 2.050000",
            "kabar_write_seconds_count 4",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}
