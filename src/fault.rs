//! Faults injected on purpose, to test the failure paths of the real binary: set
//! `KABAR_FAULT` to a comma-separated list (unset in normal operation, and then this
//! module does nothing).
//!
//! * `panic-processing:FEED` — processing FEED's document panics (the poll must record
//!   an `internal` error and the daemon keep running);
//! * `freeze-writer:SECONDS` — the database writer stops answering SECONDS after it
//!   starts (the watchdog must go quiet);
//! * `slow-search:MILLISECONDS` — a search takes that long over each article it reads
//!   (its budget, its cap and its cancellation must hold).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Faults {
    panic_processing: Vec<String>,
    freeze_writer_at: Option<Instant>,
    slow_search: Option<Duration>,
}

fn faults() -> &'static Faults {
    static FAULTS: OnceLock<Faults> = OnceLock::new();
    FAULTS.get_or_init(|| {
        let spec = std::env::var("KABAR_FAULT").unwrap_or_default();
        let mut f = Faults { panic_processing: Vec::new(), freeze_writer_at: None, slow_search: None };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once(':') {
                Some(("panic-processing", feed)) => f.panic_processing.push(feed.to_string()),
                Some(("freeze-writer", secs)) => {
                    let secs = secs.parse().unwrap_or(0);
                    f.freeze_writer_at = Some(Instant::now() + Duration::from_secs(secs));
                }
                Some(("slow-search", ms)) => f.slow_search = ms.parse().ok().map(Duration::from_millis),
                _ => tracing::warn!(fault = item, "unknown KABAR_FAULT entry ignored"),
            }
        }
        if !spec.is_empty() {
            tracing::warn!(faults = %spec, "fault injection is on (KABAR_FAULT)");
        }
        f
    })
}

/// Panics when processing `feed` is to fail.
pub fn maybe_panic_processing(feed: &str) {
    if faults().panic_processing.iter().any(|f| f == feed) {
        panic!("injected fault: panic while processing {feed}");
    }
}

/// Blocks forever once the writer is to be frozen.
pub fn maybe_freeze_writer() {
    if faults().freeze_writer_at.is_some_and(|at| Instant::now() >= at) {
        loop {
            std::thread::park();
        }
    }
}

/// Sleeps over each article a search reads when searches are to be slow.
pub fn maybe_slow_search() {
    if let Some(d) = faults().slow_search {
        std::thread::sleep(d);
    }
}
