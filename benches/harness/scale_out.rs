//! `scale-out`: `kabar run` workers sharing one PostgreSQL database, beside one daemon on
//! SQLite, on the compare corpus spread over loopback hosts (leases are per host).
//!
//! For each worker count: items/s from the first request to the last feed stored, the
//! schedule lag (each feed's first request after the workers started: every feed is due
//! at once) at p50 and p99, and, for two or more workers, reclaim: one worker SIGKILLed a
//! quarter of the way through, and the time until another worker asks one of its hosts
//! again. On one machine the workers share its cores: the figures show contention, not
//! speed-up.

use crate::prelude::*;

/// Loopback hosts the feeds are spread over (127.0.0.2 …).
const HOSTS: usize = 10;
/// Workers' lease; they claim every third of it.
const LEASE: Duration = Duration::from_secs(6);

/// What one round measured.
struct Round {
    items: i64,
    startup: Duration,
    storing: Duration,
    lag: (Duration, Duration),
    reclaim: Option<Duration>,
}

impl Round {
    /// Articles stored per second of storing.
    fn rate(&self) -> f64 {
        self.items as f64 / self.storing.as_secs_f64()
    }
}

/// Where the workers store: the SQLite file, or a PostgreSQL database made for the round.
enum Target {
    Sqlite(PathBuf),
    Postgres { admin: String, name: String },
}

impl Target {
    fn url(&self) -> String {
        match self {
            Target::Sqlite(p) => p.display().to_string(),
            Target::Postgres { admin, name } => admin_with_db(admin, name),
        }
    }

    fn toml(&self) -> String {
        match self {
            Target::Sqlite(p) => format!("database = \"{}\"\n", p.display()),
            Target::Postgres { .. } => {
                format!("backend = \"postgres\"\nurl = \"{}\"\nlease = \"{}s\"\n", self.url(), LEASE.as_secs())
            }
        }
    }

    /// (feeds polled, articles stored).
    fn progress(&self) -> (i64, i64) {
        let sql =
            "SELECT (SELECT count(*) FROM feeds WHERE last_fetch_at IS NOT NULL), (SELECT count(*) FROM articles)";
        match self {
            Target::Sqlite(p) => rusqlite::Connection::open(p)
                .and_then(|c| c.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?))))
                .unwrap_or((0, 0)),
            Target::Postgres { .. } => postgres::Client::connect(&self.url(), postgres::NoTls)
                .and_then(|mut c| c.query_one(sql, &[]).map(|r| (r.get(0), r.get(1))))
                .unwrap_or((0, 0)),
        }
    }

    /// An empty store for a round.
    fn reset(&self) {
        self.remove();
        if let Target::Postgres { admin, name } = self {
            let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("connect to PostgreSQL");
            c.batch_execute(&format!("CREATE DATABASE {name}")).expect("a fresh database");
        }
    }

    /// Removes the store (a batch of its own: DROP DATABASE refuses to run in a transaction).
    fn remove(&self) {
        match self {
            Target::Sqlite(p) => remove_db(p),
            Target::Postgres { admin, name } => {
                let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("connect to PostgreSQL");
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .expect("drop the old database");
            }
        }
    }
}

/// `admin` (libpq key=value) pointed at database `name`.
pub(crate) fn admin_with_db(admin: &str, name: &str) -> String {
    let kept: Vec<&str> = admin.split_whitespace().filter(|kv| !kv.starts_with("dbname=")).collect();
    format!("{} dbname={name}", kept.join(" "))
}

pub(crate) fn scale_out(dir: &Path, feeds: usize, items: usize, workers: Option<usize>, postgres: Option<String>) {
    let corpus = generate(dir, feeds, items);
    let addresses: Vec<String> = (0..HOSTS).map(|h| format!("127.0.0.{}", h + 2)).collect();
    let log = dir.join("requests.log");
    let server = nginx_on(dir, &corpus.www, &addresses, Some(&log));
    println!(
        "scale-out: {feeds} feeds × {items} items on {HOSTS} loopback hosts; lease {}s (claims every {}s); {} cores",
        LEASE.as_secs(),
        LEASE.as_secs() / 3,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let round = |target: &Target, n: usize, kill: bool| {
        let r = run_round(dir, &server, &addresses, &log, &corpus, target, n, kill);
        let reclaim = r.reclaim.map_or("-".to_string(), |d| format!("{:.1}s", d.as_secs_f64()));
        println!(
            "{:<10} {n:>7} {:>9.0} {:>8.1}s {:>8.1}s {:>8.1}s {:>8.1}s {:>8}",
            match target {
                Target::Sqlite(_) => "sqlite",
                Target::Postgres { .. } => "postgres",
            },
            r.rate(),
            r.startup.as_secs_f64(),
            r.storing.as_secs_f64(),
            r.lag.0.as_secs_f64(),
            r.lag.1.as_secs_f64(),
            reclaim,
        );
        r
    };
    println!(
        "{:<10} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "backend", "workers", "items/s", "startup", "storing", "lag p50", "lag p99", "reclaim"
    );
    let sqlite = round(&Target::Sqlite(dir.join("scale-out.db")), 1, false);
    let Some(admin) = postgres else {
        println!("PostgreSQL: skipped (give --postgres 'host=… user=… dbname=postgres' or KABAR_BENCH_POSTGRES)");
        return;
    };
    let target = Target::Postgres { admin, name: format!("kabar_bench_{}", std::process::id()) };
    let counts = workers.map_or(vec![1, 2, 4], |n| vec![n]);
    let rates: Vec<(usize, f64)> = counts.iter().map(|&n| (n, round(&target, n, false).rate())).collect();
    let reclaims: Vec<Duration> =
        counts.iter().filter(|&&n| n >= 2).filter_map(|&n| round(&target, n, true).reclaim).collect();
    let base = sqlite.rate();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    if let Some(&(_, one)) = rates.iter().find(|(n, _)| *n == 1) {
        println!(
            "one PostgreSQL worker: {:.0} % of SQLite's items/s (target ≥ 50 %: {})",
            one / base * 100.0,
            verdict(one >= base / 2.0)
        );
        if let Some(&(_, two)) = rates.iter().find(|(n, _)| *n == 2) {
            println!("two workers: {:.2}× one worker's total (target ≥ 1: {})", two / one, verdict(two >= one));
        }
    }
    let bound = LEASE + LEASE / 3;
    for r in reclaims {
        println!(
            "reclaim {:.1}s against lease + claim interval {:.1}s: {}",
            r.as_secs_f64(),
            bound.as_secs_f64(),
            verdict(r <= bound)
        );
    }
    target.remove();
}

/// One request in nginx's log: when (Unix seconds), which host, which worker, which path.
struct Hit {
    at: f64,
    host: String,
    worker: String,
    uri: String,
}

fn hits(log: &Path) -> Vec<Hit> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (at, rest) = l.split_once(' ')?;
            let (host, rest) = rest.split_once(" \"")?;
            let (worker, uri) = rest.split_once("\" ")?;
            Some(Hit { at: at.parse().ok()?, host: host.into(), worker: worker.into(), uri: uri.into() })
        })
        .collect()
}

#[allow(clippy::too_many_arguments, reason = "one round's whole setting, read once")]
fn run_round(
    dir: &Path,
    server: &Nginx,
    addresses: &[String],
    log: &Path,
    corpus: &Corpus,
    target: &Target,
    workers: usize,
    kill: bool,
) -> Round {
    target.reset();
    std::fs::write(log, "").unwrap();
    let mut feeds = String::new();
    for f in 0..corpus.feeds {
        let host = &addresses[f % addresses.len()];
        let _ = write!(feeds, "[[feeds]]\nname = \"f{f}\"\nurl = \"http://{host}:{}/f{f}.xml\"\n", server.port);
    }
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let started = now();
    let mut children: Vec<Option<Child>> = (0..workers)
        .map(|n| {
            let config = dir.join(format!("scale-out-{n}.toml"));
            std::fs::write(
                &config,
                format!(
                    "[storage]\n{}[fetch]\nuser_agent = \"worker-{n}\"\nconcurrency = {PARALLEL}\n\
                     per_host = {{ concurrency = 4, min_interval = \"0s\" }}\nallow_networks = [\"127.0.0.0/8\"]\n\
                     [schedule]\ndefault = \"1h\"\njitter = \"0%\"\n{}{feeds}",
                    target.toml(),
                    topics_toml()
                ),
            )
            .unwrap();
            Some(kabar_daemon(&config, "error").stderr(Stdio::null()).spawn().expect("start a worker"))
        })
        .collect();
    let mut killed = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    let (polled, stored) = loop {
        let (polled, stored) = target.progress();
        if polled as usize >= corpus.feeds || Instant::now() > deadline {
            break (polled, stored);
        }
        if kill && killed.is_none() && polled as usize >= corpus.feeds / 4 {
            let mut child = children[0].take().unwrap();
            signal(&child, libc::SIGKILL);
            killed = Some(now());
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let done = now();
    for mut child in children.into_iter().flatten() {
        signal(&child, libc::SIGTERM);
        let _ = child.wait();
    }
    assert!(polled as usize >= corpus.feeds, "only {polled} of {} feeds polled in 15 minutes", corpus.feeds);
    let hits = hits(log);
    let first = hits.iter().map(|h| h.at).fold(f64::INFINITY, f64::min);
    let mut lags: Vec<f64> = {
        let mut firsts: HashMap<(&str, &str), f64> = HashMap::new();
        for h in &hits {
            let e = firsts.entry((h.host.as_str(), h.uri.as_str())).or_insert(h.at);
            *e = e.min(h.at);
        }
        firsts.values().map(|t| t - started).collect()
    };
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| Duration::from_secs_f64(lags[((lags.len() - 1) as f64 * q).round() as usize].max(0.0));
    let reclaim = killed.and_then(|at| {
        let theirs: std::collections::HashSet<&str> =
            hits.iter().filter(|h| h.worker == "worker-0" && h.at < at).map(|h| h.host.as_str()).collect();
        hits.iter()
            .filter(|h| h.at > at && h.worker != "worker-0" && theirs.contains(h.host.as_str()))
            .map(|h| h.at - at)
            .min_by(f64::total_cmp)
            .map(Duration::from_secs_f64)
    });
    Round {
        items: stored,
        startup: Duration::from_secs_f64((first - started).max(0.0)),
        storing: Duration::from_secs_f64((done - first).max(0.001)),
        lag: (pick(0.5), pick(0.99)),
        reclaim,
    }
}
