//! Bytes → decode → parse → clean → classify → entry keys: no input may panic.
#![no_main]

use std::sync::OnceLock;

use kabar::config::FeedConfig;
use kabar::pipeline::classify::Topics;
use kabar::pipeline::parse::Limits;
use libfuzzer_sys::fuzz_target;

/// The feed, and its topic compiled: every document goes through topic matching too.
fn setup() -> &'static (FeedConfig, Topics) {
    static SETUP: OnceLock<(FeedConfig, Topics)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let text = "[[feeds]]\nname = \"fuzz\"\nurl = \"https://fuzz.example/feed\"\n\n[[topics]]\nname = \"t\"\nquery = 'digital* NEAR/5 (\"kerja sama\" OR cooperation)'\n";
        let mut config = kabar::config::parse(text, std::path::Path::new("fuzz.toml")).unwrap();
        let topics = Topics::new(config.topic_queries());
        (config.feeds.remove(0), topics)
    })
}

fuzz_target!(|data: &[u8]| {
    let (feed, topics) = setup();
    let limits = Limits { max_entries: 100, max_body: 1 << 20 };
    for charset in [None, Some("iso-8859-1")] {
        if let Ok((_, articles)) =
            kabar::poll::process(data, charset, &feed.url, feed, topics, &Default::default(), limits)
        {
            let _ = kabar::pipeline::dedup::entry_keys(&articles, true);
            let _ = kabar::pipeline::dedup::entry_keys(&articles, false);
        }
    }
});
