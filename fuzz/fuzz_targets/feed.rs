//! Bytes → decode → parse → clean → classify → entry keys: no input may panic.
#![no_main]

use std::sync::OnceLock;

use kabar::config::FeedConfig;
use kabar::pipeline::parse::Limits;
use libfuzzer_sys::fuzz_target;

fn feed() -> &'static FeedConfig {
    static FEED: OnceLock<FeedConfig> = OnceLock::new();
    FEED.get_or_init(|| {
        let text = "[[feeds]]\nname = \"fuzz\"\nurl = \"https://fuzz.example/feed\"\n\n[[topics]]\nname = \"t\"\nquery = 'digital* NEAR/5 (\"kerja sama\" OR cooperation)'\n";
        kabar::config::parse(text, std::path::Path::new("fuzz.toml")).unwrap().feeds.remove(0)
    })
}

fuzz_target!(|data: &[u8]| {
    let feed = feed();
    let limits = Limits { max_entries: 100, max_body: 1 << 20 };
    for charset in [None, Some("iso-8859-1")] {
        if let Ok((_, articles)) =
            kabar::pipeline::process(data, charset, &feed.url, feed, &Default::default(), &Default::default(), limits)
        {
            let _ = kabar::pipeline::dedup::entry_keys(&articles, true);
            let _ = kabar::pipeline::dedup::entry_keys(&articles, false);
        }
    }
});
