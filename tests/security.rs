//! Untrusted bytes stay inert: the network policy (RELIABILITY.md F11), TLS (F6),
//! encodings (F12) and terminal safety (F19).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kabar::fetch::Settings as FetchSettings;
use kabar::fetch::policy::{Resolved, Resolver};
use kabar::fetch::{Access, Fetcher};
use kabar::model::{ErrorKind, Validators};
use url::Url;

use crate::support::{Item, Response, Server, Setup, body, feed_toml, ndjson, ok, rss, run, stdout};

/// Names this test knows; anything else fails without a real lookup.
struct TestResolver(HashMap<String, Vec<IpAddr>>);

impl Resolver for TestResolver {
    fn resolve(&self, host: &str) -> Resolved {
        let found = self.0.get(host).cloned();
        let host = host.to_string();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}: unknown to the test"))
            })
        })
    }
}

fn settings(extra: &str) -> FetchSettings {
    let text = format!("[fetch]\ntimeout = \"5s\"\nper_host = {{ concurrency = 16, min_interval = \"0s\" }}\n{extra}");
    kabar::config::parse(&text, Path::new("t.toml")).unwrap().fetch
}

fn fetcher(extra: &str) -> Fetcher {
    let names = HashMap::from([
        ("canary.test".to_string(), vec!["127.0.0.2".parse().unwrap()]),
        ("feeds.test".to_string(), vec!["127.0.0.1".parse().unwrap()]),
    ]);
    Fetcher::with_resolver(&settings(extra), Arc::new(TestResolver(names))).unwrap()
}

/// A plain HTTP listener that only counts connections: nothing may reach it.
fn canary(addr: &str) -> Option<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind(addr).ok()?;
    let port = listener.local_addr().ok()?.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            h.fetch_add(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    Some((port, hits))
}

#[tokio::test]
async fn redirects_and_names_into_internal_addresses_are_refused() {
    let (port, hits) = canary("127.0.0.2:0").expect("127.0.0.2 is a loopback address on Linux");
    let v6 = canary("[::1]:0");
    let server = Server::start();
    let feed = rss("ok", &[Item::new("x", "A story", &body("story", 1))]);
    server.route("/ok.xml", move |_| Response::new(200, feed.clone()));
    server.route("/same.xml", |_| Response::new(302, "").header("Location", "/ok.xml"));
    let mut forms: Vec<String> = [
        "127.0.0.2",
        "0x7f.0.0.2",
        "2130706434",
        "0177.0.0.2",
        "127.2",
        "0x7f000002",
        "127.0.2",
        "127.000.000.002",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "[0:0:0:0:0:ffff:127.0.0.2]",
        "canary.test",
        "localhost",
        "sub.localhost",
        "0.0.0.0",
    ]
    .iter()
    .map(|h| format!("http://{h}:{port}/canary"))
    .collect();
    match &v6 {
        Some((p6, _)) => forms.push(format!("http://[::1]:{p6}/canary")),
        // Without IPv6 the form cannot be tried; say so (and fail in CI where the kernel
        // has IPv6 and the loopback is still missing).
        None if Path::new("/proc/net/if_inet6").exists() => {
            crate::support::skip_or_fail("no IPv6 loopback although the kernel has IPv6: [::1] not tried")
        }
        None => eprintln!("skipped: [::1] (no IPv6 on this machine): {} address forms", forms.len()),
    }
    let fetch = fetcher("");
    for (i, target) in forms.iter().enumerate() {
        let path = format!("/r{i}.xml");
        let target = target.clone();
        let status = if i % 2 == 0 { 301 } else { 302 };
        server.route(&path, move |_| Response::new(status, "").header("Location", &target));
        let url = Url::parse(&server.url(&path)).unwrap();
        let e = fetch.fetch(&url, &Validators::default(), &Access::for_feed(&url, false)).await.expect_err(&forms[i]);
        assert_eq!(e.kind, ErrorKind::SsrfBlocked, "{}: {e}", forms[i]);
    }
    assert!(forms.len() >= 12);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the canary was reached");
    if let Some((_, h6)) = v6 {
        assert_eq!(h6.load(Ordering::SeqCst), 0, "the IPv6 canary was reached");
    }
    assert_eq!(server.hits("/canary"), 0);
    crate::support::figure("ssrf (F11)", &format!("{} address forms refused, canary hits 0", forms.len()));

    // A configured hostname that resolves to loopback is refused before connecting.
    let url = Url::parse(&format!("http://feeds.test:{}/ok.xml", server.addr.port())).unwrap();
    let e = fetch.fetch(&url, &Validators::default(), &Access::for_feed(&url, false)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::SsrfBlocked, "{e}");
    assert_eq!(server.hits("/ok.xml"), 0);
    // ... unless allow_networks opens the range.
    let open = fetcher("allow_networks = [\"127.0.0.0/8\"]");
    let url = Url::parse(&format!("http://feeds.test:{}/ok.xml", server.addr.port())).unwrap();
    let fetched = open.fetch(&url, &Validators::default(), &Access::for_feed(&url, false)).await.unwrap();
    assert!(fetched.body.is_some());

    // A feed configured on an IP literal or localhost is fetched as written, and a
    // redirect that stays on that host is followed.
    for url in [server.url("/same.xml"), format!("http://localhost:{}/ok.xml", server.addr.port())] {
        let url = Url::parse(&url).unwrap();
        let fetched = fetch.fetch(&url, &Validators::default(), &Access::for_feed(&url, false)).await;
        assert!(fetched.is_ok(), "{url}: {fetched:?}");
    }
}

/// A TLS server (rustls, on a plain thread) with the given certificate and key; counts
/// the HTTP requests it reads, which only happen after a successful handshake.
fn tls_server(cert: rustls::pki_types::CertificateDer<'static>, key: &rcgen::KeyPair) -> (u16, Arc<AtomicUsize>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let r = requests.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut line = String::new();
            if BufReader::new(&mut tls).read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            r.fetch_add(1, Ordering::SeqCst);
            let body = rss("tls", &[Item::new("t1", "Over TLS", &body("tls", 1))]);
            let _ = write!(tls, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = tls.flush();
        }
    });
    (port, requests)
}

/// Certificate parameters for `names`, valid from `from` to `until` (years).
fn params(names: &[&str], from: i32, until: i32) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.not_before = rcgen::date_time_ymd(from, 1, 1);
    p.not_after = rcgen::date_time_ymd(until, 1, 1);
    p
}

/// Fetches `https://127.0.0.1:PORT/` through `fetch`, with or without the feed's opt-in.
async fn fetch_tls(fetch: &Fetcher, port: u16, opted_in: bool) -> Result<(), kabar::model::FeedError> {
    let url = Url::parse(&format!("https://127.0.0.1:{port}/feed.xml")).unwrap();
    fetch.fetch(&url, &Validators::default(), &Access::for_feed(&url, opted_in)).await.map(|_| ())
}

#[tokio::test]
async fn certificates_are_checked_for_issuer_expiry_and_host() {
    // A CA of the test's own, trusted through fetch.ca_certificates, so that expiry and
    // host checks are reached (an unknown issuer would be refused before them).
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = params(&[], 2020, 2040);
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let fetch = fetcher(&format!("ca_certificates = [\"{}\"]\n", ca_file.display()));
    let issued = |p: rcgen::CertificateParams| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        tls_server(cert.der().clone(), &key)
    };
    let (good, good_hits) = issued(params(&["127.0.0.1"], 2020, 2040));
    fetch_tls(&fetch, good, false).await.expect("a certificate from the trusted CA, in date, for the host");
    assert_eq!(good_hits.load(Ordering::SeqCst), 1);
    for (name, p, says) in [
        ("expired", params(&["127.0.0.1"], 2019, 2020), "expired"),
        ("not yet valid", params(&["127.0.0.1"], 2099, 2100), "not valid yet"),
        ("wrong host", params(&["other.example"], 2020, 2040), "not valid for name"),
    ] {
        let (port, hits) = issued(p);
        let e = fetch_tls(&fetch, port, false).await.expect_err(name);
        assert_eq!(e.kind, ErrorKind::Tls, "{name}: {e}");
        assert!(e.message.to_lowercase().contains(says), "{name}: {e}");
        // The opt-in for self-signed certificates waives nothing here.
        let e = fetch_tls(&fetch, port, true).await.expect_err(name);
        assert_eq!(e.kind, ErrorKind::Tls, "{name} with allow_self_signed: {e}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{name}: a request was sent over a bad certificate");
    }
}

#[tokio::test]
async fn a_self_signed_certificate_is_accepted_only_where_the_feed_opts_in_and_only_if_valid() {
    let fetch = fetcher("");
    let self_signed = |p: rcgen::CertificateParams| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        tls_server(cert.der().clone(), &key)
    };
    let (port, hits) = self_signed(params(&["127.0.0.1"], 2020, 2040));
    let e = fetch_tls(&fetch, port, false).await.expect_err("self-signed without the opt-in");
    assert_eq!(e.kind, ErrorKind::Tls, "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    fetch_tls(&fetch, port, true).await.expect("self-signed, in date, for the host, with allow_self_signed");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let e = fetch_tls(&fetch, port, false).await.expect_err("the opt-in leaked to another feed");
    assert_eq!(e.kind, ErrorKind::Tls);
    // Self-signed but expired, or for another host: refused even with the opt-in.
    for (name, p) in
        [("expired", params(&["127.0.0.1"], 2019, 2020)), ("wrong host", params(&["other.example"], 2020, 2040))]
    {
        let (port, hits) = self_signed(p);
        let e = fetch_tls(&fetch, port, true).await.expect_err(name);
        assert_eq!(e.kind, ErrorKind::Tls, "{name}: {e}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{name}");
    }
}

/// Serves `bytes` with `content_type`.
fn serve(server: &Server, path: &str, bytes: Vec<u8>, content_type: &'static str) {
    server.route(path, move |_| Response::new(200, bytes.clone()).header("Content-Type", content_type));
}

#[test]
fn cafe_survives_every_encoding_fixture() {
    let server = Server::start();
    let doc = |enc: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"{enc}\"?>\n<rss version=\"2.0\"><channel><title>Kafe</title>\
             <item><title>café</title><guid>g</guid><link>https://e.example/cafe</link>\
             <description>Une tasse de café noir.</description></item></channel></rss>"
        )
    };
    let latin1 = |s: String| s.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>();
    let utf16 = |s: String, big: bool| {
        let mut out: Vec<u8> = if big { vec![0xFE, 0xFF] } else { vec![0xFF, 0xFE] };
        for u in s.encode_utf16() {
            out.extend(if big { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    };
    let fixtures: Vec<(&str, Vec<u8>, &'static str)> = vec![
        ("utf8", doc("UTF-8").into_bytes(), "application/rss+xml; charset=utf-8"),
        ("latin1-declared-utf8", latin1(doc("UTF-8")), "application/rss+xml"),
        ("utf16le-bom", utf16(doc("UTF-16"), false), "application/xml"),
        ("utf16be-bom", utf16(doc("UTF-16"), true), "application/xml"),
        ("latin1-header-says-utf8", latin1(doc("ISO-8859-1")), "text/xml; charset=utf-8"),
        ("utf8-header-says-latin1", doc("UTF-8").into_bytes(), "text/xml; charset=iso-8859-1"),
    ];
    let mut feeds = String::new();
    for (name, bytes, ct) in fixtures.iter().cloned() {
        serve(&server, &format!("/{name}.xml"), bytes, ct);
        feeds.push_str(&feed_toml(name, &server.url(&format!("/{name}.xml")), ""));
    }
    let setup = Setup::new(&feeds);
    let out = ok(&setup.config, &["fetch"]);
    assert!(out.contains("6 feeds: 6 ok, 0 failed"), "{out}");
    let rows = ndjson(&ok(&setup.config, &["search", "--all", "--format", "ndjson"]));
    assert_eq!(rows.len(), 6, "{rows:?}");
    for r in &rows {
        assert_eq!(r["title"], "café", "{}", r["feed"]);
    }
    // The lie is reported on its feed.
    let feeds = ndjson(&ok(&setup.config, &["feeds", "--format", "ndjson"]));
    let lie = feeds.iter().find(|f| f["name"] == "latin1-declared-utf8").unwrap();
    assert!(lie["warning"].as_str().unwrap().contains("windows-1252"), "{lie}");
    let honest = feeds.iter().find(|f| f["name"] == "utf8").unwrap();
    assert!(honest["warning"].is_null(), "{honest}");
}

#[test]
fn feed_text_reaches_a_terminal_inert() {
    let server = Server::start();
    let hostile = [
        "Clear \u{1b}[2J screen",
        "Title \u{1b}]0;owned\u{7} bar",
        "Link \u{1b}]8;;http://evil.example\u{1b}\\click\u{1b}]8;;\u{1b}\\",
        "Clipboard \u{1b}]52;c;SGVsbG8=\u{7}",
        "Bell \u{7}\u{7} and C1 \u{9b}31m CSI \u{9d}0;x\u{9c}",
        "Bidi \u{202e}txt.exe",
        "Isolate \u{2067}evil\u{2069} and mark \u{200f}",
    ];
    let items: Vec<Item> = hostile
        .iter()
        .enumerate()
        .map(|(i, t)| Item::new(&format!("h{i}"), t, &format!("{t}<p>{}</p>", body("hostile", i))))
        .collect();
    // The control characters go into the XML raw, as a hostile feed sends them.
    let xml = rss("hostile", &items);
    server.route("/h.xml", move |_| Response::new(200, xml.clone()));
    let setup = Setup::new(&feed_toml("hostile", &server.url("/h.xml"), ""));
    let out = run(&setup.config, &["fetch"]);
    let rows_json = ok(&setup.config, &["search", "--all", "--format", "json"]);
    let stored: Vec<serde_json::Value> = serde_json::from_str(&rows_json).unwrap();
    assert!(!stored.is_empty(), "nothing stored: {}", stdout(&out));
    let mut outputs = vec![stdout(&out), rows_json];
    for args in [
        &["search", "--all"][..],
        &["search", "--all", "--format", "ndjson"][..],
        &["search", "--all", "--format", "csv"][..],
        &["feeds"][..],
        &["topics"][..],
    ] {
        outputs.push(ok(&setup.config, args));
    }
    for r in &stored {
        let id = r["id"].to_string();
        outputs.push(ok(&setup.config, &["show", &id]));
        outputs.push(ok(&setup.config, &["show", &id, "--format", "json"]));
    }
    let mut checked = 0;
    for text in &outputs {
        // Characters, not bytes: C1 controls are two bytes in UTF-8, and so is no other
        // control; the bidi controls are three.
        for c in text.chars() {
            let bad = ((c as u32) < 0x20 && c != '\n' && c != '\t')
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || kabar::output::is_bidi_control(c);
            assert!(!bad, "control character U+{:04X} in output:\n{text}", c as u32);
            checked += 1;
        }
    }
    crate::support::figure(
        "terminal escapes (F19)",
        &format!("{} outputs, {checked} characters, 0 control characters", outputs.len()),
    );
}
