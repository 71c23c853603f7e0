//! Fetch failures are classified and stored on their feed; the other feeds of the same
//! run are not affected.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::support::{Item, Response, Server, Setup, body, feed_toml, ndjson, ok, rss};

#[test]
fn each_failure_is_classified_on_its_own_feed() {
    let server = Server::start();
    let good = rss("good", &[Item::new("g1", "A good story", &body("good", 1))]);
    server.feed_with_etag("/good.xml", good.clone(), "\"g\"");
    server.route("/slow.xml", |_| {
        std::thread::sleep(Duration::from_secs(3));
        Response::new(200, "<rss version=\"2.0\"><channel></channel></rss>")
    });
    server.route("/huge.xml", |_| Response::new(200, vec![b' '; 2 << 20]));
    server.route("/loop.xml", |_| Response::new(302, "").header("Location", "/loop.xml"));
    for i in 0..10 {
        let next = format!("/chain{}.xml", i + 1);
        server.route(&format!("/chain{i}.xml"), move |_| Response::new(301, "").header("Location", &next));
    }
    server.route("/old.xml", |_| Response::new(301, "").header("Location", "/good.xml"));
    server.route("/bot.xml", |_| {
        Response::new(403, "<html><head><title>Just a moment...</title></head><body>cf-chl</body></html>")
            .header("Content-Type", "text/html")
    });
    server.route("/page.xml", |_| {
        Response::new(200, "<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>")
            .header("Content-Type", "text/html")
    });
    server.route("/limited.xml", |_| Response::new(429, "slow down").header("Retry-After", "120"));
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();

    let feeds = [
        ("good", server.url("/good.xml")),
        ("slow", server.url("/slow.xml")),
        ("huge", server.url("/huge.xml")),
        ("loop", server.url("/loop.xml")),
        ("chain", server.url("/chain0.xml")),
        ("moved", server.url("/old.xml")),
        ("bot", server.url("/bot.xml")),
        ("page", server.url("/page.xml")),
        ("missing", server.url("/missing.xml")),
        ("limited", server.url("/limited.xml")),
        ("refused", format!("http://{closed}/feed.xml")),
    ]
    .iter()
    // A one-minute feed, so that Retry-After, not the schedule, sets its next attempt.
    .map(|(name, url)| feed_toml(name, url, if *name == "limited" { "interval = \"1m\"" } else { "" }))
    .collect::<String>();
    let setup = Setup::raw(&format!(
        "[storage]\ndatabase = \"kabar.db\"\n[fetch]\ntimeout = \"1s\"\nmax_body = \"1MiB\"\nper_host = {{ concurrency = 16, min_interval = \"0s\" }}\n\n{feeds}"
    ));
    let started = Utc::now();
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("11 feeds: 2 ok, 9 failed"), "{summary}");

    let rows = ndjson(&ok(&setup.config, &["feeds", "--format", "ndjson"]));
    let feed = |name: &str| rows.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{name}")).clone();
    let expect = [
        ("slow", "timeout", "within 1s"),
        ("huge", "too_large", "announced 2097152 bytes"),
        ("loop", "redirect", "redirect loop"),
        ("chain", "redirect", "more than 5 redirects"),
        ("bot", "bot_wall", "bot-check page"),
        ("page", "parse", "HTML page"),
        ("missing", "http", "HTTP 404"),
        ("limited", "http", "HTTP 429"),
        ("refused", "connect", "Connection refused"),
    ];
    for (name, kind, message) in expect {
        let f = feed(name);
        assert_eq!(f["last_error_kind"], kind, "{f}");
        assert!(f["last_error"].as_str().unwrap().contains(message), "{f}");
        assert_eq!(f["failures"], 1, "{f}");
        assert_eq!(f["articles"], 0, "{f}");
    }
    // The redirect loop stops at once; a long chain after 1 + 5 requests.
    assert_eq!(server.hits("/loop.xml"), 1);
    let chain: usize = (0..10).map(|i| server.hits(&format!("/chain{i}.xml"))).sum();
    assert_eq!(chain, 6);

    // Retry-After: 120 puts the next attempt two minutes out, past its first backoff
    // step (one interval).
    let next: DateTime<Utc> = feed("limited")["next_due"].as_str().unwrap().parse().unwrap();
    let wait = (next - started).num_seconds();
    assert!((118..=130).contains(&wait), "next attempt {wait}s after the fetch");

    // The good feed and the one behind a permanent redirect both stored their story;
    // one redirect is not enough to move the feed.
    assert_eq!(feed("good")["articles"], 1);
    let moved = feed("moved");
    assert_eq!((moved["status"].as_str(), moved["articles"].as_i64()), (Some("ok"), Some(1)));
    assert!(moved["url"].as_str().unwrap().ends_with("/old.xml"), "{moved}");
}

#[test]
fn compressed_bodies_and_per_host_spacing() {
    use std::io::Write;
    let server = Server::start();
    let doc = rss("zipped", &[Item::new("z1", "Compressed story", &body("zip", 1))]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(doc.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    server.route("/gz.xml", move |req| {
        assert!(req.header("accept-encoding").is_some_and(|a| a.contains("gzip")), "{req:?}");
        Response::new(200, gz.clone()).header("Content-Encoding", "gzip")
    });
    for i in 0..3 {
        let doc = rss("plain", &[Item::new(&format!("p{i}"), &format!("Plain {i}"), &body("plain", i))]);
        server.route(&format!("/p{i}.xml"), move |_| Response::new(200, doc.clone()));
    }
    let mut feeds = feed_toml("gz", &server.url("/gz.xml"), "");
    for i in 0..3 {
        feeds.push_str(&feed_toml(&format!("p{i}"), &server.url(&format!("/p{i}.xml")), ""));
    }
    let setup = Setup::raw(&format!(
        "[storage]\ndatabase = \"kabar.db\"\n[fetch]\nper_host = {{ concurrency = 4, min_interval = \"400ms\" }}\n\n{feeds}"
    ));
    let summary = ok(&setup.config, &["fetch"]);
    assert!(summary.contains("4 feeds: 4 ok, 0 failed; 4 new articles"), "{summary}");
    let rows = ndjson(&ok(&setup.config, &["search", "compressed", "--format", "ndjson"]));
    assert_eq!(rows.len(), 1);
    // Four requests to one host start at least 400 ms apart.
    let mut starts: Vec<std::time::Instant> =
        ["/gz.xml", "/p0.xml", "/p1.xml", "/p2.xml"].iter().map(|p| server.requests(p)[0].at).collect();
    starts.sort();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(380), "requests {gap:?} apart");
    }
}

#[test]
fn fetches_in_flight_stay_within_the_limit() {
    let server = Server::start();
    let active = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut feeds = String::new();
    for i in 0..6 {
        let (a, p) = (active.clone(), peak.clone());
        let doc = rss("slow", &[Item::new(&format!("s{i}"), &format!("Slow {i}"), &body("slow", i))]);
        server.route(&format!("/s{i}.xml"), move |_| {
            let now = a.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            p.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            a.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            Response::new(200, doc.clone())
        });
        feeds.push_str(&feed_toml(&format!("s{i}"), &server.url(&format!("/s{i}.xml")), ""));
    }
    let setup = Setup::raw(&format!(
        "[storage]\ndatabase = \"kabar.db\"\n[fetch]\nconcurrency = 2\nper_host = {{ concurrency = 8, min_interval = \"0s\" }}\n{feeds}"
    ));
    let out = ok(&setup.config, &["fetch"]);
    assert!(out.contains("6 feeds: 6 ok"), "{out}");
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2, "fetches in flight exceeded fetch.concurrency");
}

#[test]
fn a_busy_host_holds_up_no_other_host() {
    // Six slow feeds on one host, listed first, and one feed on another host. With two
    // global slots and one per host, the other host's feed starts at once: the feeds
    // waiting for their busy host hold no global slot.
    let busy = Server::start();
    let other = Server::start();
    let mut feeds = String::new();
    for i in 0..6 {
        let doc = rss("slow", &[Item::new(&format!("s{i}"), &format!("Slow {i}"), &body("slow", i))]);
        busy.route(&format!("/s{i}.xml"), move |_| {
            std::thread::sleep(Duration::from_millis(500));
            Response::new(200, doc.clone())
        });
        feeds.push_str(&feed_toml(&format!("s{i}"), &busy.url(&format!("/s{i}.xml")), ""));
    }
    let doc = rss("quick", &[Item::new("q", "Quick", &body("quick", 1))]);
    other.route("/q.xml", move |_| Response::new(200, doc.clone()));
    feeds.push_str(&feed_toml("quick", &other.url("/q.xml"), ""));
    let setup = Setup::raw(&format!(
        "[storage]\ndatabase = \"kabar.db\"\n[fetch]\nconcurrency = 2\nper_host = {{ concurrency = 1, min_interval = \"0s\" }}\n{feeds}"
    ));
    let out = ok(&setup.config, &["fetch"]);
    assert!(out.contains("7 feeds: 7 ok"), "{out}");
    let first = (0..6).map(|i| busy.requests(&format!("/s{i}.xml"))[0].at).min().unwrap();
    let waited = other.requests("/q.xml")[0].at.saturating_duration_since(first);
    // Behind the busy host's queue it would start about 2.5 s (five slow requests) later.
    assert!(waited < Duration::from_millis(1000), "the other host waited {waited:?} behind the busy one");
}
