//! Text → query parser → search-index expression → matcher: no input may panic.
#![no_main]

use kabar::query::{Doc, Matcher, Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, doc) = text.split_once('\n').unwrap_or((&text, "kerja sama digital di New Delhi"));
    if let Ok(q) = Query::parse(query) {
        let _ = q.fts();
        let m = Matcher::new([&q.expr]);
        let _ = m.matches(&Doc::new("Indonesia India", doc, Some("id"), "f"));
    }
});
