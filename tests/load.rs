//! A daemon under a crowd of hostile clients for 30 s, with the descriptor limit systemd
//! gives a service by default (1,024): 1,500 slow-loris connections and 200 clients
//! sending heavy searches back to back, while loopback feeds keep being polled.
//!
//! Its own test binary: cargo runs test binaries one after another, so the crowd is the
//! only load on the machine (in the main binary it would share the cores with the tests
//! running beside it).

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Item, Server, Setup, body, daemon_log, free_port, kabar, peak_rss_kib, terminate, wait_for};

const SECONDS: u64 = 30;
const SLOW_CLIENTS: usize = 1_500;
const SEARCHERS: usize = 200;
const FD_LIMIT: u64 = 1_024;
/// Seconds after the crowd leaves that memory is measured again.
const RETURN_WAIT: u64 = 15;

/// The resident memory (VmRSS) of a running process, in KiB.
fn current_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap_or("0");
    line.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)
}

/// A search near every limit: 60 words with many forms each (near the index-term limit), two NEAR groups.
fn heavy_query() -> String {
    let stems = [
        "kerjasama",
        "kemitraan",
        "digital",
        "teknologi",
        "investasi",
        "ekonomi",
        "pemerintah",
        "kebijakan",
        "perdagangan",
        "infrastruktur",
        "pendidikan",
        "kesehatan",
        "pembangunan",
        "keamanan",
        "pertahanan",
    ];
    let words: Vec<String> =
        (0..60).map(|i| format!("{}{}", stems[i % stems.len()], ["", "x", "y", "z"][i / 15])).collect();
    let (left, right) = words.split_at(30);
    format!("({}) NEAR/15 ({}) OR \"kerja sama\" OR digital*", left.join(" OR "), right.join(" OR "))
}

/// Keeps `count` connections open, each sending a request head one byte every second and
/// never finishing it; a connection the server closes is opened again.
fn slow_loris(port: u16, count: usize, stop: Arc<AtomicBool>, reopened: Arc<AtomicUsize>) {
    let open = || -> Option<TcpStream> {
        let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).ok()?;
        s.set_write_timeout(Some(Duration::from_millis(100))).ok()?;
        s.write_all(b"GET /api/articles?q=digital HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").ok()?;
        Some(s)
    };
    let mut conns: Vec<Option<TcpStream>> = (0..count).map(|_| open()).collect();
    while !stop.load(Ordering::Relaxed) {
        let round = Instant::now();
        for c in conns.iter_mut() {
            let alive = c.as_mut().is_some_and(|s| s.write_all(b"a").is_ok());
            if !alive {
                *c = open();
                reopened.fetch_add(1, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(round.elapsed()));
    }
}

/// Lowers the calling thread's priority. The crowd runs on the daemon's own two cores
/// here, where hundreds of client threads would otherwise take most of the CPU from the
/// daemon's few; on a real deployment the crowd's CPU is on other machines.
fn as_remote_crowd() {
    // SAFETY: gettid has no preconditions; setpriority on our own thread id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// One GET with a deadline for the whole answer: the status, or 0 when none came.
fn get(port: u16, path: &str, deadline: Duration) -> u16 {
    get_why(port, path, deadline).0
}

/// As [`get`], with what went wrong when no answer came.
fn get_why(port: u16, path: &str, deadline: Duration) -> (u16, String) {
    let mut s = match TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), deadline) {
        Ok(s) => s,
        Err(e) => return (0, format!("connect: {e}")),
    };
    let _ = s.set_read_timeout(Some(deadline));
    let _ = s.set_write_timeout(Some(deadline));
    if let Err(e) = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") {
        return (0, format!("write: {e}"));
    }
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    let status = String::from_utf8_lossy(&answer).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let why = match read {
        Err(e) => format!("read: {e} after {} bytes", answer.len()),
        Ok(n) => format!("{n} bytes"),
    };
    (status, why)
}

/// A client that keeps its connection: one request after another on it, each answer read
/// to its end (by Content-Length); a new connection when the server closes it.
struct KeptAlive {
    port: u16,
    stream: Option<std::io::BufReader<TcpStream>>,
}

impl KeptAlive {
    /// The status of one GET, or 0 when no answer came within `deadline`.
    fn get(&mut self, path: &str, deadline: Duration) -> u16 {
        let answer = self.try_get(path, deadline);
        if answer.is_none() {
            self.stream = None;
        }
        answer.unwrap_or(0)
    }

    fn try_get(&mut self, path: &str, deadline: Duration) -> Option<u16> {
        use std::io::BufRead;
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), deadline).ok()?;
            s.set_read_timeout(Some(deadline)).ok()?;
            s.set_write_timeout(Some(deadline)).ok()?;
            self.stream = Some(std::io::BufReader::new(s));
        }
        let reader = self.stream.as_mut()?;
        write!(reader.get_mut(), "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let header = line.trim_end().to_ascii_lowercase();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header.strip_prefix("content-length:") {
                length = v.trim().parse().ok()?;
            }
            close |= header == "connection: close";
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        if close {
            self.stream = None;
        }
        Some(status)
    }
}

#[test]
fn a_crowd_of_hostile_clients_leaves_polling_health_and_memory_intact() {
    let query = heavy_query();
    let parsed = kabar::query::Query::parse(&query).expect("the heavy query is within the limits");
    let terms = parsed.fts().unwrap().matches('"').count() / 2;
    let server = Server::start();
    let feeds = server.busy_feeds("f", 12, 3, |f, n, i| {
        Item::new(
            &format!("f{f}-{n}-{i}"),
            &format!("Kerja sama digital dan investasi {f}/{n}/{i}"),
            &body(&format!("kerja sama digital investasi teknologi {f} {n} {i}"), i),
        )
    });
    let port = free_port();
    let setup = Setup::new(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n\n{feeds}"));
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    let mut command = kabar();
    command.arg("--config").arg(&setup.config).arg("run").env("KABAR_LOG", "info").stdout(Stdio::null()).stderr(log);
    // SAFETY: setrlimit is async-signal-safe, and nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: FD_LIMIT, rlim_max: FD_LIMIT };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(20), || get(port, "/healthz", Duration::from_secs(1)) == 200),
        "{}",
        daemon_log(&setup)
    );
    let polls_before = server.hits("/f0.xml");

    let stop = Arc::new(AtomicBool::new(false));
    let reopened = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for _ in 0..5 {
        let (stop, reopened) = (stop.clone(), reopened.clone());
        threads.push(std::thread::spawn(move || {
            as_remote_crowd();
            slow_loris(port, SLOW_CLIENTS / 5, stop, reopened)
        }));
    }
    let statuses: Arc<Mutex<std::collections::BTreeMap<u16, usize>>> = Arc::default();
    let path = format!("/api/articles?all=1&limit=1000&q={}", urlencode(&query));
    for _ in 0..SEARCHERS {
        let (stop, statuses, path) = (stop.clone(), statuses.clone(), path.clone());
        threads.push(std::thread::spawn(move || {
            as_remote_crowd();
            let mut client = KeptAlive { port, stream: None };
            while !stop.load(Ordering::Relaxed) {
                let status = client.get(&path, Duration::from_secs(15));
                *statuses.lock().unwrap().entry(status).or_default() += 1;
            }
        }));
    }
    // Health every 250 ms, each answer within a second.
    let slowest = AtomicU64::new(0);
    let mut health_failures = Vec::new();
    let mut checks = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(SECONDS) {
        let at = Instant::now();
        let (status, why) = get_why(port, "/healthz", Duration::from_secs(1));
        let took = at.elapsed();
        slowest.fetch_max(took.as_millis() as u64, Ordering::Relaxed);
        checks += 1;
        if status != 200 || took > Duration::from_secs(1) {
            health_failures.push((started.elapsed(), status, took, why));
        }
        std::thread::sleep(Duration::from_millis(250).saturating_sub(took));
    }
    let polls_during = server.hits("/f0.xml") - polls_before;
    let fds_at_load = support::open_fds(pid);
    let rss = peak_rss_kib(pid).unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    // The crowd's memory goes back to the system once it is gone (jemalloc's background
    // thread, after the 10 s decay), while the feeds go on being polled.
    std::thread::sleep(Duration::from_secs(RETURN_WAIT));
    let rss_after = current_rss_kib(pid);
    let term = Instant::now();
    terminate(&child);
    let status = child.wait().unwrap();
    let exit_took = term.elapsed();
    let statuses = statuses.lock().unwrap().clone();
    let log = daemon_log(&setup);
    // Polls during the load, read from the database after the daemon stopped.
    let conn = rusqlite::Connection::open(setup.file()).unwrap();
    let errors: Vec<String> = conn
        .prepare("SELECT error_kind || ': ' || error FROM fetches WHERE status = 'error'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let (polls, failed): (i64, i64) = conn
        .query_row("SELECT count(*), count(*) FILTER (WHERE status = 'error') FROM fetches", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    eprintln!(
        "load: {SECONDS} s, {SLOW_CLIENTS} slow clients ({} reconnects), {SEARCHERS} searchers ({terms} index terms) \
         answered {statuses:?}; /healthz {checks} checks, slowest {} ms; {polls} polls, {failed} failed; \
         {fds_at_load} descriptors; peak RSS {} MiB, {} MiB {RETURN_WAIT} s after; SIGTERM to exit {exit_took:?}",
        reopened.load(Ordering::Relaxed),
        slowest.load(Ordering::Relaxed),
        rss / 1024,
        rss_after / 1024
    );
    assert!(health_failures.is_empty(), "/healthz failed or was slow: {health_failures:?}\n{log}");
    assert_eq!(failed, 0, "polls failed under load: {errors:?}\n{log}");
    assert!(polls_during >= SECONDS as usize / 2, "feed f0 polled {polls_during} times in {SECONDS} s");
    // Searches are answered, or refused with a 503 past the caps; a few of the crowd's
    // connections are dropped to make room for the rest (0: no answer; 0.4–1.0 % in the
    // runs that fixed the eviction order).
    let answered: usize = statuses.values().sum();
    assert!(statuses.get(&200).is_some_and(|n| *n > 0), "no search answered: {statuses:?}");
    assert!(statuses.keys().all(|s| matches!(s, 0 | 200 | 503)), "{statuses:?}\n{log}");
    assert!(statuses.get(&0).copied().unwrap_or(0) * 20 < answered, "{statuses:?}");
    assert!(rss < 256 * 1024, "peak RSS {} MiB", rss / 1024);
    assert!(rss_after < 96 * 1024, "{} MiB still resident {RETURN_WAIT} s after the crowd left", rss_after / 1024);
    assert!(fds_at_load < FD_LIMIT as usize, "{fds_at_load} descriptors");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(exit_took < Duration::from_secs(5), "SIGTERM took {exit_took:?}");
    assert!(!log.contains("Too many open files"), "{log}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
