//! `web-pages`: each page of the web interface, its server time over the `scale-db`
//! database (`--articles`, a million by default; filled once, kept with `--out`): a
//! daemon with `[http]` on that database, and for each page one untimed request, then
//! the median of at least 15 (one connection each, the whole answer read).

use std::io::Read as _;
use std::net::TcpStream;

use crate::prelude::*;
use crate::scale_db::filled;

/// One GET: the status and the time until the whole answer was read.
fn get(port: u16, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("the daemon listens");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let status = String::from_utf8_lossy(&answer[..answer.len().min(16)])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

pub(crate) fn web_pages(dir: &Path, articles: usize, runs: usize) {
    let db = filled(dir, articles);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let topics = topics_toml();
    let config = dir.join("web-pages.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndatabase = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{topics}", db.display()),
    )
    .unwrap();
    let mut daemon = kabar_daemon(&config, "error").stdout(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() || get(port, "/healthz").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(300), "the daemon never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let runs = runs.max(15);
    let mut out = format!(
        "\nweb pages over {articles} stored articles: server time, medians of {runs} requests after one untimed\n\n| page | median | slowest |\n|---|---|---|\n"
    );
    let story = format!("/stories/{}", articles / 2);
    for (label, path) in [
        ("stories (home)", "/"),
        ("stories of a topic", "/?topic=digital"),
        ("a story", story.as_str()),
        ("search 'digital', 7 days", "/search?q=digital&since=7d"),
        (
            "search '\"kerja sama\" NEAR/5 digital', 7 days",
            "/search?q=%22kerja%20sama%22%20NEAR%2F5%20digital&since=7d",
        ),
        ("search 'nikel', all time", "/search?q=nikel"),
        ("a broken query", "/search?q=digital%20AND"),
        ("feeds", "/feeds"),
        ("a topic, 30 days", "/topics/digital"),
        ("a topic, 1 day (hourly)", "/topics/digital?days=1"),
    ] {
        let (status, _) = get(port, path);
        let mut times: Vec<Duration> = (0..runs).map(|_| get(port, path).1).collect();
        times.sort();
        let _ = writeln!(
            out,
            "| {label}{} | {:.1} ms | {:.1} ms |",
            if status == 200 { String::new() } else { format!(" (HTTP {status})") },
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0
        );
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    print!("{out}");
}
