//! A fleet: three `kabar run` workers on one PostgreSQL database, against a loopback
//! farm of 2,000 feeds on 50 hosts, each host its own 127.0.0.x address. One feed hangs
//! for 20 s the first time it is asked for, and the worker inside that request is
//! SIGKILLed; another is SIGSTOPped past its lease and continued. The farm logs every
//! request with the worker that made it (each worker sends its own User-Agent).
//!
//! On SQLite (one process writes a database) there is no fleet: the tests return.
//! A binary of its own: its timing needs the machine to itself.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Item, Store, alert_recorder, kabar, recorded_alerts, rss, scalar, text_pairs, wait_for};

const HOSTS: usize = 50;
const FEEDS_PER_HOST: usize = 40;
const WORKERS: usize = 3;
/// The workers' `storage.lease`, in seconds; they claim every third of it.
const LEASE: u64 = 4;
/// Stories published by five feeds on five hosts (near copies: each adds its own line).
const SHARED_STORIES: usize = 40;

/// One request the farm answered: which host, which worker, when it began and ended.
#[derive(Debug, Clone)]
struct Hit {
    host: usize,
    worker: String,
    path: String,
    start: Instant,
    end: Instant,
}

struct Farm {
    ports: Vec<u16>,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Set when the hanging request has begun, with the worker inside it.
    hanging: Arc<Mutex<Option<(String, Instant)>>>,
}

/// The words of story `s`: about 120 of them, the same for every copy.
fn story_text(s: usize) -> String {
    const WORDS: [&str; 24] = [
        "minister", "harbour", "budget", "village", "festival", "railway", "election", "council", "factory", "river",
        "market", "school", "hospital", "airport", "bridge", "museum", "forest", "coffee", "nickel", "police",
        "stadium", "library", "harvest", "bank",
    ];
    let mut x = (s as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut words = Vec::new();
    for i in 0..120 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words.push(format!(
            "{}{}",
            WORDS[(x % 24) as usize],
            if i % 9 == 0 { format!(" {}", x % 997) } else { String::new() }
        ));
    }
    format!("Story {s}: {}.", words.join(" "))
}

/// Feed `f` of host `h`: two articles of its own, and on some feeds a copy of a shared
/// story (story `s` appears on five feeds, on five different hosts).
fn feed_document(h: usize, f: usize) -> String {
    let id = h * FEEDS_PER_HOST + f;
    let mut items: Vec<Item> = (0..2)
        .map(|i| Item::new(&format!("own-{id}-{i}"), &format!("Feed {id} item {i}"), &story_text(10_000 + id * 2 + i)))
        .collect();
    if f < 4 {
        // Host h's feeds 0..4 carry stories h*4/5 ... : each story on 5 hosts.
        let s = (h * 4 + f) % SHARED_STORIES;
        let extra = if s == 0 { " The zebrafish programme was named in the agreement." } else { "" };
        items.push(Item {
            link: Some(format!("https://site{h}.example/news/{s}")),
            ..Item::new(
                &format!("shared-{s}-{h}"),
                &format!("Story {s} as host {h} tells it"),
                &format!("<p>{}{extra}</p><p>Read also: more from site {h}.</p>", story_text(s)),
            )
        });
    }
    rss(&format!("feed {id}"), &items)
}

impl Farm {
    /// Binds 127.0.0.2 … 127.0.0.51, one listener each; `/hang.xml` on host 7 hangs for
    /// 20 s the first time it is asked for.
    fn start() -> Farm {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let hanging: Arc<Mutex<Option<(String, Instant)>>> = Arc::default();
        let hung = Arc::new(AtomicBool::new(false));
        let mut ports = Vec::new();
        for h in 0..HOSTS {
            let listener = TcpListener::bind(("127.0.0.".to_string() + &(h + 2).to_string(), 0)).unwrap();
            ports.push(listener.local_addr().unwrap().port());
            let (hits, hanging, hung) = (hits.clone(), hanging.clone(), hung.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (hits, hanging, hung) = (hits.clone(), hanging.clone(), hung.clone());
                    std::thread::spawn(move || {
                        let start = Instant::now();
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                        let mut worker = String::new();
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                                break;
                            }
                            if let Some(ua) = header.to_ascii_lowercase().strip_prefix("user-agent:") {
                                worker = ua.trim().to_string();
                            }
                        }
                        let body = if path == "/hang.xml" {
                            if h == 7 && !hung.swap(true, Ordering::SeqCst) {
                                *hanging.lock().unwrap() = Some((worker.clone(), Instant::now()));
                                std::thread::sleep(Duration::from_secs(20));
                            }
                            rss("hanging", &[Item::new("hang-1", "The slow feed", &story_text(99_999))])
                        } else {
                            let f: usize = path.trim_start_matches("/f").trim_end_matches(".xml").parse().unwrap_or(0);
                            feed_document(h, f)
                        };
                        let mut stream = stream;
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.flush();
                        hits.lock().unwrap().push(Hit { host: h, worker, path, start, end: Instant::now() });
                    });
                }
            });
        }
        Farm { ports, hits, hanging }
    }

    fn url(&self, h: usize, path: &str) -> String {
        format!("http://127.0.0.{}:{}{path}", h + 2, self.ports[h])
    }

    /// `[[feeds]]` for every feed of the farm (host 7's last feed is the hanging one).
    fn feeds_toml(&self) -> String {
        let mut toml = String::new();
        for h in 0..HOSTS {
            for f in 0..FEEDS_PER_HOST {
                let path =
                    if h == 7 && f == FEEDS_PER_HOST - 1 { "/hang.xml".to_string() } else { format!("/f{f}.xml") };
                toml.push_str(&format!(
                    "[[feeds]]\nname = \"h{h}f{f}\"\nurl = \"{}\"\ninterval = \"1h\"\n",
                    self.url(h, &path)
                ));
            }
        }
        toml
    }
}

/// A worker's folder and configuration: the shared store, its own User-Agent.
fn worker_config(dir: &Path, n: usize, store: &Store, feeds: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("worker{n}.toml"));
    std::fs::write(
        &path,
        format!(
            "[storage]\n{}\n[fetch]\nuser_agent = \"worker-{n}\"\nfull_text = \"never\"\ntimeout = \"30s\"\n\
             per_host = {{ concurrency = 4, min_interval = \"0s\" }}\n\n[schedule]\njitter = \"0%\"\n\n{extra}\n{feeds}",
            store.toml.replace("lease = \"4s\"", &format!("lease = \"{LEASE}s\""))
        ),
    )
    .unwrap();
    path
}

fn spawn_worker(config: &Path, log: &Path) -> Child {
    kabar()
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("KABAR_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start a worker")
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) with a pid this test started and a valid signal number.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

/// Requests of different workers to one host that overlap in time (the killed worker's
/// open request ends at its death).
fn overlaps(hits: &[Hit], dead: &str, died: Instant) -> Vec<(usize, String, String)> {
    let mut by_host: BTreeMap<usize, Vec<(Instant, Instant, &str, &str)>> = BTreeMap::new();
    for h in hits {
        let end = if h.worker == dead { h.end.min(died) } else { h.end };
        by_host.entry(h.host).or_default().push((h.start, end, &h.worker, &h.path));
    }
    let mut found = Vec::new();
    for (host, mut spans) in by_host {
        spans.sort();
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if b.0 >= a.1 {
                    break;
                }
                if a.2 != b.2 {
                    found.push((host, format!("{} {}", a.2, a.3), format!("{} {}", b.2, b.3)));
                }
            }
        }
    }
    found
}

#[test]
fn a_fleet_shares_the_hosts_survives_a_killed_worker_and_stores_everything_once() {
    if !support::on_postgres() {
        eprintln!("not on SQLite: a fleet shares a PostgreSQL database");
        return;
    }
    let farm = Farm::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let (script, alerts) = alert_recorder(dir.path());
    let topic = format!(
        "[[topics]]\nname = \"zebrafish\"\nquery = 'zebrafish'\nnotify = {{ command = [\"{}\"] }}\n",
        script.display()
    );
    let feeds = farm.feeds_toml();
    let configs: Vec<PathBuf> = (0..WORKERS).map(|n| worker_config(dir.path(), n, &store, &feeds, &topic)).collect();
    let logs: Vec<PathBuf> = (0..WORKERS).map(|n| dir.path().join(format!("worker{n}.log"))).collect();
    let started = Instant::now();
    let mut workers: Vec<Option<Child>> = configs.iter().zip(&logs).map(|(c, l)| Some(spawn_worker(c, l))).collect();
    let log_of = |n: usize| std::fs::read_to_string(&logs[n]).unwrap_or_default();

    // The worker inside the hanging request is killed there.
    assert!(
        wait_for(Duration::from_secs(60), || farm.hanging.lock().unwrap().is_some()),
        "nobody asked for the hanging feed; {}",
        log_of(0)
    );
    let (inside, _) = farm.hanging.lock().unwrap().clone().unwrap();
    let victim: usize = inside.trim_start_matches("worker-").parse().expect("a worker's User-Agent");
    signal(workers[victim].as_ref().unwrap(), libc::SIGKILL);
    let died = Instant::now();
    let died_at = chrono::Utc::now();
    workers[victim].take().unwrap().wait().unwrap();

    // Every feed is polled by the deadline, the hanging one by another worker.
    let expected_articles = HOSTS * FEEDS_PER_HOST * 2 - 2 + 1 + HOSTS * 4;
    let done = wait_for(Duration::from_secs(150), || {
        scalar(&store.database, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL") == 0
            && scalar(&store.database, "SELECT count(*) FROM articles") as usize >= expected_articles
    });
    let took = started.elapsed();
    let alive: Vec<usize> = (0..WORKERS).filter(|&n| n != victim).collect();
    assert!(
        done,
        "not every feed was polled: {} feeds never succeeded, {} articles; {}",
        scalar(&store.database, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL"),
        scalar(&store.database, "SELECT count(*) FROM articles"),
        log_of(alive[0])
    );
    // Let alerts go out, then stop the rest cleanly.
    wait_for(Duration::from_secs(20), || !recorded_alerts(&alerts).is_empty());
    std::thread::sleep(Duration::from_secs(2));
    for child in workers.iter_mut().filter_map(Option::take) {
        signal(&child, libc::SIGTERM);
        let mut child = child;
        assert!(child.wait().unwrap().success());
    }

    let hits = farm.hits.lock().unwrap().clone();
    // No two workers were ever on one host at once.
    let overlapping = overlaps(&hits, &inside, died);
    assert!(
        overlapping.is_empty(),
        "{} overlaps, first {:?}",
        overlapping.len(),
        &overlapping[..overlapping.len().min(3)]
    );
    // Every worker polled something: the hosts were shared.
    let mut per_worker: HashMap<&str, usize> = HashMap::new();
    for h in &hits {
        *per_worker.entry(h.worker.as_str()).or_default() += 1;
    }
    assert_eq!(per_worker.len(), WORKERS, "{per_worker:?}");
    // The killed worker's hosts were polled again by the others within a lease and a
    // claim interval (and two seconds for this machine: a debug build, four processes on
    // two cores): the first request to one of them after the kill.
    let its_hosts: std::collections::BTreeSet<usize> =
        hits.iter().filter(|h| h.worker == inside && h.start < died).map(|h| h.host).collect();
    let retaken = hits
        .iter()
        .filter(|h| its_hosts.contains(&h.host) && h.worker != inside && h.start > died)
        .map(|h| h.start - died)
        .min()
        .expect("the killed worker's hosts were never polled after the kill");
    let bound = Duration::from_secs(LEASE) + Duration::from_secs(LEASE) / 3 + Duration::from_secs(2);
    let claims: Vec<String> = (0..WORKERS)
        .flat_map(|n| {
            log_of(n)
                .lines()
                .filter(|l| l.contains("leases changed") || l.contains("h7f39") || l.contains("hang"))
                .map(|l| format!("{n}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        retaken <= bound,
        "its hosts retaken after {retaken:?} (bound {bound:?}); killed {victim} at {died_at}:\n{}",
        claims.join("\n")
    );

    // Nothing lost, nothing doubled.
    let articles = scalar(&store.database, "SELECT count(*) FROM articles") as usize;
    assert_eq!(articles, expected_articles, "articles stored");
    let keys = scalar(&store.database, "SELECT count(*) FROM (SELECT DISTINCT feed_id, entry_key FROM articles) k");
    assert_eq!(keys as usize, articles);
    // Each shared story is one story with one first copy, whatever worker stored each copy.
    let roots = text_pairs(
        &store.database,
        "SELECT split_part(guid, '-', 2), string_agg(DISTINCT story_id::text, ',') FROM articles
         WHERE guid LIKE 'shared-%' GROUP BY 1",
    )
    .unwrap();
    assert_eq!(roots.len(), SHARED_STORIES);
    let split: Vec<&(String, String)> = roots.iter().filter(|(_, stories)| stories.contains(',')).collect();
    assert!(split.is_empty(), "stories split across workers: {split:?}");
    let firsts =
        scalar(&store.database, "SELECT count(*) FROM articles WHERE guid LIKE 'shared-%' AND duplicate_of IS NULL");
    assert_eq!(firsts as usize, SHARED_STORIES, "one first copy per story");
    // The topic's story went out once, though five feeds on five hosts carry it.
    let sent = recorded_alerts(&alerts);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let payload: serde_json::Value = serde_json::from_str(&sent[0]).unwrap();
    assert!(payload["alert_id"].as_i64().is_some(), "{payload}");
    support::figure(
        "fleet (PostgreSQL)",
        &format!(
            "{WORKERS} workers, {} feeds on {HOSTS} hosts: all polled in {:.1} s, the killed worker's hosts polled again {:.1} s after the kill (lease {LEASE} s), 0 overlaps, {articles} articles, {SHARED_STORIES} shared stories one each",
            HOSTS * FEEDS_PER_HOST,
            took.as_secs_f64(),
            retaken.as_secs_f64()
        ),
    );
}

#[test]
fn a_worker_paused_past_its_lease_has_its_late_commit_refused() {
    if !support::on_postgres() {
        eprintln!("not on SQLite: a fleet shares a PostgreSQL database");
        return;
    }
    let server = support::Server::start();
    let asked = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let seen = asked.clone();
    server.route("/slow.xml", move |_| {
        let first = {
            let mut seen = seen.lock().unwrap();
            seen.push(Instant::now());
            seen.len() == 1
        };
        if first {
            std::thread::sleep(Duration::from_secs(6));
        }
        support::Response::new(200, rss("slow", &[Item::new("slow-1", "The slow story", &story_text(7))]))
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let feeds = support::feed_toml("slow", &server.url("/slow.xml"), "interval = \"1h\"");
    let configs: Vec<PathBuf> = (0..2).map(|n| worker_config(dir.path(), n, &store, &feeds, "")).collect();
    let logs: Vec<PathBuf> = (0..2).map(|n| dir.path().join(format!("worker{n}.log"))).collect();
    let mut workers: Vec<Child> = configs.iter().zip(&logs).map(|(c, l)| spawn_worker(c, l)).collect();
    assert!(wait_for(Duration::from_secs(30), || !asked.lock().unwrap().is_empty()), "the feed was never asked for");
    // The worker that holds the host is inside the slow request: pause it past its lease.
    let holder = text_pairs(&store.database, "SELECT host, owner FROM leases WHERE owner IS NOT NULL").unwrap();
    let pid: u32 = holder[0].1.rsplit(':').next().unwrap().parse().unwrap();
    let paused = workers.iter().position(|w| w.id() == pid).expect("the holder is one of ours");
    signal(&workers[paused], libc::SIGSTOP);
    // The other worker takes the host over and stores the feed.
    let other = 1 - paused;
    let stored =
        wait_for(Duration::from_secs(3 * LEASE + 10), || scalar(&store.database, "SELECT count(*) FROM articles") == 1);
    let log_of = |n: usize| std::fs::read_to_string(&logs[n]).unwrap_or_default();
    assert!(stored, "the other worker never stored the feed: {}", log_of(other));
    let fence = scalar(&store.database, "SELECT fence FROM leases");
    assert!(fence >= 2, "the host was taken over with a new fence, not {fence}");
    signal(&workers[paused], libc::SIGCONT);
    // Its poll finishes, and the commit is refused: the host's lease is someone else's.
    let refused = wait_for(Duration::from_secs(20), || log_of(paused).contains("is no longer this worker's"));
    assert!(refused, "the late commit was not refused: {}", log_of(paused));
    assert_eq!(scalar(&store.database, "SELECT count(*) FROM articles"), 1, "nothing stored twice");
    assert_eq!(scalar(&store.database, "SELECT count(*) FROM fetches"), 1, "the refused poll left no fetch row");
    for w in &workers {
        signal(w, libc::SIGTERM);
    }
    for w in workers.iter_mut() {
        assert!(w.wait().unwrap().success());
    }
}
