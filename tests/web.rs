//! The web interface over HTTP: every page renders what the store holds, errors say
//! where a query broke, and pages carry their own Content-Security-Policy. (Checks in a
//! real browser are the next step of issue 20.)

use std::process::Child;
use std::time::Duration;

use crate::support::{
    Item, Response, Server, Setup, body, daemon_log, feed_toml, free_port, http_get, rss, spawn_daemon, terminate,
    wait_for,
};

const TOPIC: &str = r#"
[[topics]]
name = "digital"
query = '(digital* OR siber) NEAR/10 ("kerja sama" OR kemitraan OR partnership)'
"#;

/// Three feeds carrying one story (the same text under three URLs) and one feed with
/// another story; a daemon serving the pages on a free port, ready once all four
/// articles are stored.
fn web_daemon() -> (Server, Setup, Child, u16) {
    let server = Server::start();
    let text = body("kerja sama digital", 1);
    let mut feeds = String::new();
    for site in ["wire", "mirror", "portal"] {
        let doc = rss(
            site,
            &[Item {
                link: Some(format!("https://{site}.example/berita/1")),
                ..Item::new(&format!("{site}-1"), "Indonesia dan India perkuat kerja sama digital", &text)
            }],
        );
        server.route(&format!("/{site}.xml"), move |_| Response::new(200, doc.clone()));
        feeds.push_str(&feed_toml(site, &server.url(&format!("/{site}.xml")), "interval = \"1h\""));
    }
    let other = rss("pasar", &[Item::new("p1", "Harga cabai naik", &body("harga cabai di pasar", 2))]);
    server.route("/pasar.xml", move |_| Response::new(200, other.clone()));
    feeds.push_str(&feed_toml("pasar", &server.url("/pasar.xml"), "interval = \"1h\""));
    let port = free_port();
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n\n{feeds}\n{TOPIC}"));
    let child = spawn_daemon(&setup);
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && {
            let (s, _, b) = http_get(port, "/api/articles?all=true", None);
            s == 200
                && serde_json::from_str::<serde_json::Value>(&b)
                    .is_ok_and(|v| v.as_array().is_some_and(|a| a.len() == 4))
        }
    });
    assert!(ready, "{}", daemon_log(&setup));
    (server, setup, child, port)
}

#[test]
fn the_pages_show_stories_copies_feeds_topics_and_where_a_query_broke() {
    let (_server, setup, child, port) = web_daemon();

    // Stories: one row per story; the 3-copy one says so and lists its copies.
    let (status, headers, home) = http_get(port, "/", None);
    assert_eq!(status, 200, "{home}");
    assert!(headers["content-type"].starts_with("text/html"), "{headers:?}");
    let csp = &headers["content-security-policy"];
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(home.matches("<li tabindex=\"-1\"").count(), 2, "{home}");
    assert!(home.contains("3 sources"), "{home}");
    assert!(home.contains("All 3 copies"), "{home}");
    let reasons: Vec<&str> =
        home.split("<td class=\"reason\">").skip(1).map(|s| s.split('<').next().unwrap()).collect();
    assert_eq!(reasons.len(), 3, "{home}");
    assert_eq!(reasons.iter().filter(|r| **r == "first copy").count(), 1, "{reasons:?}");
    assert!(
        reasons.iter().filter(|r| **r != "first copy").all(|r| ["url", "content", "near"].contains(r)),
        "{reasons:?}"
    );
    assert!(home.contains("href=\"/topics/digital\""), "the topic chip links to its page: {home}");

    // Filters live in the URL.
    let (_, _, filtered) = http_get(port, "/?feed=pasar", None);
    assert!(filtered.contains("Harga cabai naik") && !filtered.contains("kerja sama digital</a>"), "{filtered}");

    // A story: its text, highlighted evidence, copies.
    let id = home.split("href=\"/stories/").nth(1).unwrap().split('"').next().unwrap().to_string();
    let (status, _, story) = http_get(port, &format!("/stories/{id}"), None);
    assert_eq!(status, 200, "{story}");
    assert!(story.contains("<mark>"), "the topic's words are highlighted: {story}");
    assert_eq!(http_get(port, "/stories/999999", None).0, 404);
    assert_eq!(http_get(port, "/stories/x", None).0, 400);

    // Search: the count, and a broken query's column with a caret under it.
    let (status, _, found) = http_get(port, "/search?q=cabai", None);
    assert_eq!(status, 200);
    assert!(found.contains("1 story") && found.contains("Harga cabai naik"), "{found}");
    let (status, _, broken) = http_get(port, "/search?q=digital%20AND", None);
    assert_eq!(status, 400, "{broken}");
    assert!(broken.contains("(column 12)"), "{broken}");
    assert!(broken.contains(&format!("{}^", " ".repeat(11))), "the caret stands under column 12: {broken}");

    // Feeds and a topic's chart: the bars add up to the topic's articles.
    let (status, _, feeds) = http_get(port, "/feeds", None);
    assert_eq!(status, 200);
    for f in ["wire", "mirror", "portal", "pasar"] {
        assert!(feeds.contains(&format!("<td>{f}")), "{f}: {feeds}");
    }
    let (status, _, topic) = http_get(port, "/topics/digital", None);
    assert_eq!(status, 200, "{topic}");
    let counts: usize =
        topic.split("data-count=\"").skip(1).map(|s| s.split('"').next().unwrap().parse::<usize>().unwrap()).sum();
    assert_eq!(counts, 3, "{topic}");
    assert!(topic.contains("href=\"/topics/digital.atom\""), "{topic}");
    assert_eq!(http_get(port, "/topics/nosuch", None).0, 404);

    // The script and style sheet come from the binary.
    let (status, headers, js) = http_get(port, "/static/kabar.js", None);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/javascript") && js.contains("keydown"), "{headers:?}");
    terminate(&child);
    let _ = setup;
}
