//! Golden tests of the parse stage: each fixture in `fixtures/parse/` is a small feed
//! written for one way real feeds lose entries, titles, links or dates; its
//! `.expect.json` says what kabar must read from it (every entry, in order, with its
//! title, link and date, and where given the start of its text and a warning).

use std::path::{Path, PathBuf};

use kabar::poll::process;
use serde_json::Value;

use crate::corpus::{LIMITS, feed_config};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parse");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".expect.json"))
        .collect();
    inputs.sort();
    inputs
}

/// What `input` yields against what `expect` says; the differences, one a line.
fn check(input: &Path, expect: &Value) -> Vec<String> {
    let feed = feed_config("golden");
    let bytes = std::fs::read(input).unwrap();
    let (parsed, articles) =
        match process(&bytes, None, &feed.url, &feed, &Default::default(), &Default::default(), LIMITS) {
            Ok(ok) => ok,
            Err(e) => return vec![format!("refused: {e}")],
        };
    let mut diffs = Vec::new();
    if let Some(w) = expect["warning"].as_str()
        && !parsed.warning.as_deref().is_some_and(|got| got.contains(w))
    {
        diffs.push(format!("warning: want one containing {w:?}, got {:?}", parsed.warning));
    }
    let want = expect["entries"].as_array().unwrap();
    if want.len() != articles.len() {
        diffs.push(format!("entries: want {}, got {}", want.len(), articles.len()));
    }
    for (i, (w, a)) in want.iter().zip(&articles).enumerate() {
        let published = a.entry.published.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let fields = [("title", Some(a.entry.title.clone())), ("link", a.entry.link.clone()), ("published", published)];
        for (name, got) in fields {
            let wanted = &w[name];
            if wanted.is_null() && w.get(name).is_none() {
                continue;
            }
            if wanted.as_str().map(str::to_string) != got {
                diffs.push(format!("entry {i} {name}: want {wanted}, got {got:?}"));
            }
        }
        if let Some(text) = w["text"].as_str()
            && a.text != text
        {
            diffs.push(format!("entry {i} text: want {text:?}, got {:?}", a.text));
        }
    }
    diffs
}

#[test]
fn every_golden_feed_reads_as_expected() {
    let mut failures = Vec::new();
    let inputs = fixtures();
    assert!(inputs.len() >= 13, "{} fixtures", inputs.len());
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy();
        let stem = name.rsplit_once('.').map_or(name.as_ref(), |(s, _)| s);
        let expect_path = input.with_file_name(format!("{stem}.expect.json"));
        let expect: Value = serde_json::from_str(&std::fs::read_to_string(&expect_path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
        for d in check(input, &expect) {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A document whose entries cannot be read is a warning, not a silent `ok`: `kabar
/// feeds` shows it and `/metrics` counts it. Two entries with no id, no date and the
/// same link are two rows.
#[test]
fn unreadable_entries_warn_and_every_entry_is_a_row() {
    use crate::support::{Response, Server, Setup, feed_toml, free_port, http_get, ndjson, ok, spawn_daemon, wait_for};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parse");
    let lost = std::fs::read_to_string(dir.join("unknown-namespace.xml")).unwrap();
    let same_link = r#"<rss version="2.0"><channel><title>Same link</title><link>https://s.example/</link>
        <item><title>One</title><link>https://s.example/shared</link><description>The first entry.</description></item>
        <item><title>One</title><link>https://s.example/shared</link><description>Another entry.</description></item>
        </channel></rss>"#
        .to_string();
    let server = Server::start();
    server.route("/lost.xml", move |_| Response::new(200, lost.clone()));
    server.route("/same.xml", move |_| Response::new(200, same_link.clone()));
    let port = free_port();
    let feeds = [
        feed_toml("lost", &server.url("/lost.xml"), "interval = \"1h\""),
        feed_toml("same", &server.url("/same.xml"), "interval = \"1h\""),
    ]
    .concat();
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n\n{feeds}"));
    let mut child = spawn_daemon(&setup);
    let counted = wait_for(std::time::Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/metrics", None).2.contains("kabar_feed_warnings_total{feed=\"lost\"} 1")
    });
    crate::support::terminate(&child);
    let _ = child.wait();
    assert!(counted, "{}", crate::support::daemon_log(&setup));
    let feeds: serde_json::Value = serde_json::from_str(&ok(&setup.config, &["feeds", "--format", "json"])).unwrap();
    let lost = feeds.as_array().unwrap().iter().find(|f| f["name"] == "lost").unwrap();
    assert!(lost["warning"].as_str().is_some_and(|w| w.contains("none could be read")), "{lost}");
    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--feed", "same", "--format", "ndjson"]));
    assert_eq!(rows.len(), 2, "{rows:?}");
}
