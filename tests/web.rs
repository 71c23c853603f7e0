//! The web interface over HTTP: every page renders what the store holds, errors say
//! where a query broke, and pages carry their own Content-Security-Policy. (Checks in a
//! real browser are the next step of issue 20.)

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use crate::support::{
    Item, Response, Server, Setup, body, daemon_log, feed_toml, free_port, get_with, http_get, raw, rss, spawn_daemon,
    terminate, wait_for,
};

const TOPIC: &str = r#"
[[topics]]
name = "digital"
query = '(digital* OR siber) NEAR/10 ("kerja sama" OR kemitraan OR partnership)'
"#;

/// Three feeds carrying one story (the same text under three URLs) and one feed with
/// another story; a daemon serving the pages on a free port, ready once all four
/// articles are stored.
pub(crate) fn web_daemon() -> (Server, Setup, Child, u16) {
    web_daemon_with("")
}

/// [`web_daemon`] with more `[http]` settings (`extra`).
pub(crate) fn web_daemon_with(extra: &str) -> (Server, Setup, Child, u16) {
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
    // Undated, so dated today by its first sight (the others are dated January 2025).
    let other = rss(
        "pasar",
        &[Item { pub_date: None, ..Item::new("p1", "Harga cabai naik", &body("harga cabai di pasar", 2)) }],
    );
    server.route("/pasar.xml", move |_| Response::new(200, other.clone()));
    feeds.push_str(&feed_toml("pasar", &server.url("/pasar.xml"), "interval = \"1h\""));
    let port = free_port();
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n\n{feeds}\n{TOPIC}"));
    let child = spawn_daemon(&setup);
    let ready = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && {
            let (s, _, b) = http_get(port, "/api/articles?all=true", token(extra));
            s == 200
                && serde_json::from_str::<serde_json::Value>(&b)
                    .is_ok_and(|v| v.as_array().is_some_and(|a| a.len() == 4))
        }
    });
    assert!(ready, "{}", daemon_log(&setup));
    (server, setup, child, port)
}

/// The token an `extra` sets, if it does.
fn token(extra: &str) -> Option<&str> {
    extra.split_once("token = \"").and_then(|(_, rest)| rest.split_once('"')).map(|(t, _)| t)
}

pub(crate) const TOKEN: &str = "a-token-for-the-web-tests-0123456789";

/// A POST of a form body; the status, the headers (lower-case names) and the body.
fn post_form(port: u16, path: &str, body: &str) -> (u16, HashMap<String, String>, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw(port, request.as_bytes())
}

/// A GET with a cookie: its status.
fn get_with_cookie(port: u16, path: &str, cookie: &str) -> u16 {
    get_with(port, path, &format!("Cookie: {cookie}\r\n")).0
}

#[test]
fn with_a_token_every_page_needs_the_login_and_the_api_the_bearer_token() {
    let (_server, setup, child, port) = web_daemon_with(&format!("token = \"{TOKEN}\""));
    for path in ["/", "/feeds", "/search?q=digital", "/stories/1", "/topics/digital"] {
        let (status, headers, _) = http_get(port, path, None);
        assert_eq!(status, 303, "{path}");
        assert!(
            headers["location"].starts_with("/login?next=%2F") || headers["location"].starts_with("/login?next=/"),
            "{path}: {headers:?}"
        );
    }
    assert_eq!(http_get(port, "/api/articles", None).0, 401);
    assert_eq!(http_get(port, "/topics/digital.atom", None).0, 401);
    assert_eq!(http_get(port, "/", Some(TOKEN)).0, 200, "the bearer token opens pages too");
    let (status, _, form) = http_get(port, "/login?next=/feeds", None);
    assert_eq!(status, 200);
    assert!(form.contains("type=\"password\"") && form.contains("value=\"/feeds\""), "{form}");
    assert_eq!(http_get(port, "/static/kabar.css", None).0, 200, "the login page's style sheet is open");

    let (status, headers, _) = post_form(port, "/login", "token=wrong&next=%2Ffeeds");
    assert_eq!(status, 401);
    assert!(!headers.contains_key("set-cookie"));
    let (status, headers, _) = post_form(port, "/login", &format!("token={TOKEN}&next=%2F%2Fevil.example"));
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/", "only a path of this server is returned to");
    let (status, headers, _) = post_form(port, "/login", &format!("token={TOKEN}&next=%2Ffeeds"));
    assert_eq!((status, headers["location"].as_str()), (303, "/feeds"));
    let cookie = headers["set-cookie"].clone();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get_with_cookie(port, "/feeds", pair), 200);
    assert_eq!(get_with_cookie(port, "/feeds", "kabar_session=0000"), 303);
    assert_eq!(get_with_cookie(port, "/api/articles", pair), 401, "the API takes the bearer token only");
    // Nothing else may POST, and a login cannot carry a large body.
    let (status, _, _) = post_form(port, "/api/articles", "x=1");
    assert_eq!(status, 405);
    let (status, _, _) = post_form(port, "/login", &"t".repeat(10_000));
    assert_eq!(status, 413);
    terminate(&child);
    let _ = setup;
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
    // The digital story's row (rows with the same time may come in either order).
    let row = home.split("<li tabindex=\"-1\"").find(|r| r.contains("3 sources")).unwrap();
    let id = row.split("href=\"/stories/").nth(1).unwrap().split('"').next().unwrap().to_string();
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
    assert_eq!(status, 200, "the page shows the error: {broken}");
    assert!(broken.contains("(column 12)"), "{broken}");
    assert!(broken.contains(&format!("{}^", " ".repeat(11))), "the caret stands under column 12: {broken}");

    // The same query through the API gives the same stories.
    let page_ids: std::collections::BTreeSet<i64> = http_get(port, "/search?q=digital", None)
        .2
        .split("<li tabindex=\"-1\" data-story=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().parse().unwrap())
        .collect();
    let api: serde_json::Value = serde_json::from_str(&http_get(port, "/api/articles?q=digital", None).2).unwrap();
    let api_ids: std::collections::BTreeSet<i64> =
        api.as_array().unwrap().iter().map(|r| r["story"].as_i64().unwrap()).collect();
    assert!(!page_ids.is_empty() && page_ids == api_ids, "page {page_ids:?}, API {api_ids:?}");

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
    assert!(topic.contains("Top sources") && topic.contains("none in the period before"), "{topic}");
    let (status, _, hourly) = http_get(port, "/topics/digital?days=1", None);
    assert_eq!(status, 200);
    assert_eq!(hourly.matches("<rect ").count(), 24, "one bar an hour under 7 days");
    assert_eq!(http_get(port, "/topics/digital?days=0", None).0, 400);

    // "Try as topic": what `kabar topics test` answers, and the TOML to add.
    assert!(found.contains("href=\"/search?try=1&amp;q=cabai\""), "{found}");
    let (_, _, tried) = http_get(port, "/search?try=1&q=cabai", None);
    assert!(tried.contains("It would flag 1 articles in 1 stories of the 4 stored"), "{tried}");
    assert!(tried.contains("query = &quot;cabai&quot;"), "{tried}");
    // The feeds page groups by host and says why each is due.
    let host = format!("<h2>127.0.0.1:{}</h2>", _server.url("/").split(':').nth(2).unwrap().trim_end_matches('/'));
    assert!(feeds.contains(&host) && feeds.contains("interval"), "{feeds}");
    // Dated this week: only the undated one, dated by first sight.
    assert_eq!(feeds.matches("<span class=\"weekly\">1</span>").count(), 1, "{feeds}");
    assert_eq!(feeds.matches("<span class=\"weekly\">0</span>").count(), 3, "{feeds}");
    assert_eq!(http_get(port, "/topics/nosuch", None).0, 404);

    // The script and style sheet come from the binary.
    let (status, headers, js) = http_get(port, "/static/kabar.js", None);
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/javascript") && js.contains("keydown"), "{headers:?}");
    terminate(&child);
    let _ = setup;
}
