//! `feeds`: a daemon polling ten thousand feeds: memory, CPU, the log and the writer.

use crate::prelude::*;

pub(crate) fn many_feeds(dir: &Path, feeds: usize, items: usize) {
    let corpus = generate(dir, feeds, items);
    let server = nginx(dir, &corpus.www);
    let db = dir.join("feeds.db");
    remove_db(&db);
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let extra = format!("[schedule]\ndefault = \"1h\"\n[http]\nlisten = \"{api}\"\n");
    let config = kabar_config(dir, server.port, &corpus, &db, &extra);
    let mut child = kabar_daemon(&config, "warn").stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let status = |field: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let cpu = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
            + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        ticks / 100.0
    };
    // Wait for the first round: every feed polled once.
    let started = Instant::now();
    let conn_db = db.clone();
    let polled = || -> usize {
        rusqlite::Connection::open(&conn_db)
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM feeds WHERE last_fetch_at IS NOT NULL", [], |r| r.get::<_, i64>(0))
            })
            .map(|n| n as usize)
            .unwrap_or(0)
    };
    let wal = kabar::store::wal_path(&db);
    let mut wal_peak = 0;
    while polled() < feeds && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_secs(1));
        wal_peak = wal_peak.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    let round = started.elapsed();
    let writes = write_times(api);
    let rss_after_round = status("VmRSS:");
    // Two windows of 30 s: the first still holds the round's tail (its last writes and
    // the checkpoint of its WAL), the second is the daemon at rest.
    let at_round = cpu();
    std::thread::sleep(Duration::from_secs(30));
    let after_first = cpu();
    std::thread::sleep(Duration::from_secs(30));
    let (tail, idle) = (after_first - at_round, cpu() - after_first);
    let rss_idle = status("VmRSS:");
    let peak = status("VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "\n{feeds} feeds × {items} items: first round in {:.1} s; daemon RSS {:.1} MiB after it, {:.1} MiB idle, peak {:.1} MiB; CPU {:.2} % of one core over the 30 s after the round, {:.2} % over the next 30 s (idle)",
        round.as_secs_f64(),
        rss_after_round as f64 / 1024.0,
        rss_idle as f64 / 1024.0,
        peak as f64 / 1024.0,
        tail / 30.0 * 100.0,
        idle / 30.0 * 100.0
    );
    println!(
        "write-ahead log at most {:.1} MiB during the round (sampled each second); {writes}",
        wal_peak as f64 / 1048576.0
    );
}

/// The writer's time per job in the round, from the daemon's `/metrics` histogram.
pub(crate) fn write_times(api: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut text = String::new();
    if let Ok(mut stream) = std::net::TcpStream::connect(api) {
        let _ = write!(stream, "GET /metrics HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n");
        let _ = stream.read_to_string(&mut text);
    }
    // Cumulative counts per upper bound, in the order the daemon writes them.
    let buckets: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("kabar_write_seconds_bucket{le=\""))
        .filter_map(|l| l.split_once("\"} "))
        .filter_map(|(le, n)| Some((le.to_string(), n.trim().parse().ok()?)))
        .collect();
    let Some(&(_, total)) = buckets.last() else {
        return "no writer times (is /metrics answering?)".into();
    };
    let within = |share: f64| buckets.iter().find(|(_, n)| *n as f64 >= share * total as f64).map_or("?", |(le, _)| le);
    let within_25ms = buckets.iter().find(|(le, _)| le == "0.025").map_or(0, |(_, n)| *n);
    format!(
        "writer jobs: {total}, {within_25ms} within 25 ms; 99 % within {} s, all within {} s",
        within(0.99),
        within(1.0)
    )
}
