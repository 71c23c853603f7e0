//! Test helpers: a loopback HTTP server with a hit log, the kabar binary, feed
//! builders, and the path of the shared corpus.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response { status, headers: Vec::new(), body: body.into() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// An HTTP/1.1 server on 127.0.0.1 (one thread per connection, `Connection: close`).
/// Routes are handlers; every request is logged.
pub struct Server {
    pub addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Handler>>>,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Handler>>> = Arc::default();
        let log: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (r, l) = (routes.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, l) = (r.clone(), l.clone());
                std::thread::spawn(move || serve(stream, &r, &l));
            }
        });
        Server { addr, routes, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn route(&self, path: &str, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) {
        self.routes.lock().unwrap().insert(path.into(), Arc::new(handler));
    }

    /// `feeds` feeds at `/{name}{f}.xml`, each bringing a new batch of `items` articles at
    /// every request (`item(feed, request, index)` makes one); returns the TOML that polls
    /// them every second, named `{name}{f}`.
    pub fn busy_feeds(
        &self,
        name: &str,
        feeds: usize,
        items: usize,
        item: impl Fn(usize, usize, usize) -> Item + Send + Sync + 'static,
    ) -> String {
        let item = Arc::new(item);
        let mut toml = String::new();
        for f in 0..feeds {
            let path = format!("/{name}{f}.xml");
            let counter = AtomicUsize::new(0);
            let item = item.clone();
            self.route(&path, move |_| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let batch: Vec<Item> = (0..items).map(|i| item(f, n, i)).collect();
                Response::new(200, rss("busy", &batch))
            });
            toml.push_str(&feed_toml(&format!("{name}{f}"), &self.url(&path), "interval = \"1s\""));
        }
        toml
    }

    /// A feed that answers 304 when the client sends back its ETag.
    pub fn feed_with_etag(&self, path: &str, body: String, etag: &str) {
        let etag = etag.to_string();
        self.route(path, move |req| {
            if req.header("if-none-match") == Some(etag.as_str()) {
                Response::new(304, "").header("ETag", &etag)
            } else {
                Response::new(200, body.clone())
                    .header("Content-Type", "application/rss+xml; charset=utf-8")
                    .header("ETag", &etag)
            }
        });
    }

    /// A feed that answers 304 when the client sends back its Last-Modified.
    pub fn feed_with_last_modified(&self, path: &str, body: String, last_modified: &str) {
        let lm = last_modified.to_string();
        self.route(path, move |req| {
            if req.header("if-modified-since") == Some(lm.as_str()) {
                Response::new(304, "")
            } else {
                Response::new(200, body.clone())
                    .header("Content-Type", "application/rss+xml")
                    .header("Last-Modified", &lm)
            }
        });
    }

    pub fn requests(&self, path: &str) -> Vec<Request> {
        self.log.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }
}

fn serve(stream: TcpStream, routes: &Mutex<HashMap<String, Handler>>, log: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let method = line.split_whitespace().next().unwrap_or("GET").to_string();
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = vec![0; headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0)];
    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
        body.clear();
    }
    let req = Request { method, path: path.clone(), headers, body, at: Instant::now() };
    log.lock().unwrap().push(req.clone());
    let handler = routes.lock().unwrap().get(&path).cloned();
    let resp = match handler {
        Some(h) => h(&req),
        None => Response::new(404, "not found"),
    };
    let mut out = stream;
    let mut head =
        format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", resp.status, resp.body.len());
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&resp.body);
    let _ = out.flush();
}

/// One RSS item.
pub struct Item {
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub description: String,
    pub pub_date: Option<String>,
}

impl Item {
    pub fn new(id: &str, title: &str, description: &str) -> Item {
        Item {
            guid: Some(id.to_string()),
            link: Some(format!("https://news.example/{id}")),
            title: title.into(),
            description: description.into(),
            pub_date: Some("Sun, 26 Jan 2025 10:00:00 +0700".into()),
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// An RSS 2.0 document.
pub fn rss(title: &str, items: &[Item]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://news.example/</link>\n",
        xml_escape(title)
    );
    for i in items {
        s.push_str("<item>");
        s.push_str(&format!("<title>{}</title>", xml_escape(&i.title)));
        if let Some(g) = &i.guid {
            s.push_str(&format!("<guid isPermaLink=\"false\">{}</guid>", xml_escape(g)));
        }
        if let Some(l) = &i.link {
            s.push_str(&format!("<link>{}</link>", xml_escape(l)));
        }
        if let Some(d) = &i.pub_date {
            s.push_str(&format!("<pubDate>{d}</pubDate>"));
        }
        s.push_str(&format!("<description>{}</description></item>\n", xml_escape(&i.description)));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// A distinct article body about `topic` (enough words for a content fingerprint;
/// different topics or numbers give different wording and figures, so they are not
/// near copies of each other).
pub fn body(topic: &str, n: usize) -> String {
    const LINES: [&str; 8] = [
        "Officials met on Monday to discuss the plan in detail.",
        "The ministry said the first results would come within weeks.",
        "Local traders expect prices to settle after the holiday season.",
        "Lawmakers asked for a full report before the budget debate.",
        "Residents were told to follow updates from the regional office.",
        "Analysts said the figures were better than the market had expected.",
        "The company plans to hire more workers at its new plant.",
        "A court will hear the case again at the end of the month.",
    ];
    let h = topic.bytes().fold(n.wrapping_add(17), |a, b| a.wrapping_mul(131).wrapping_add(b as usize));
    format!(
        "<p>{topic} report number {n}: {} {}</p><p>{} The figure for {topic} was {} units.</p>",
        LINES[h % 8],
        LINES[(h / 8) % 8],
        LINES[(h / 64) % 8],
        h % 1_000_003
    )
}

/// The kabar binary.
pub fn kabar() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kabar"));
    c.env_remove("KABAR_CONFIG").env_remove("STATE_DIRECTORY").env_remove("JOURNAL_STREAM");
    c
}

/// Runs `kabar --config CONFIG ARGS…` to completion.
pub fn run(config: &Path, args: &[&str]) -> Output {
    kabar().arg("--config").arg(config).args(args).output().expect("run kabar")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs kabar and insists it succeeded; returns stdout.
pub fn ok(config: &Path, args: &[&str]) -> String {
    let o = run(config, args);
    assert!(o.status.success(), "kabar {args:?} failed: {}\n{}", stderr(&o), stdout(&o));
    stdout(&o)
}

/// Parses ndjson output into JSON values.
pub fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad ndjson line {l:?}: {e}")))
        .collect()
}

/// The backend this run of the suite stores into: SQLite, or with
/// `KABAR_TEST_BACKEND=postgres`, PostgreSQL at `KABAR_TEST_POSTGRES` (a key=value
/// connection string to a server where the tests may create databases; `.ci/run` starts
/// a throwaway one). The same tests run on both.
pub fn postgres_server() -> Option<String> {
    match std::env::var("KABAR_TEST_BACKEND").as_deref() {
        Ok("postgres") => Some(std::env::var("KABAR_TEST_POSTGRES").expect(
            "KABAR_TEST_BACKEND=postgres needs KABAR_TEST_POSTGRES, e.g. \"host=/tmp/pg user=kabar dbname=postgres\"",
        )),
        Ok("sqlite") | Err(_) => None,
        Ok(other) => panic!("KABAR_TEST_BACKEND={other}: \"sqlite\" or \"postgres\""),
    }
}

/// Whether this run stores into PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// For a test of what only SQLite has (its files, its log, its file lock): true, with
/// a line saying so, when this run stores into PostgreSQL.
pub fn sqlite_only(what: &str) -> bool {
    let skip = on_postgres();
    if skip {
        eprintln!("not on PostgreSQL: {what} is SQLite's");
    }
    skip
}

/// A test's own store: the SQLite file `kabar.db` in its folder, or a new PostgreSQL
/// database, dropped with this.
pub struct Store {
    pub database: kabar::config::Database,
    /// The `[storage]` keys that name it.
    pub toml: String,
    postgres: Option<(String, String)>,
    /// The folder of a [`Store::temporary`], removed with it.
    _dir: Option<tempfile::TempDir>,
}

impl Store {
    /// A store in a folder of its own (its SQLite file, or the PostgreSQL database).
    pub fn temporary() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(dir.path());
        store._dir = Some(dir);
        store
    }

    pub fn new(dir: &Path) -> Store {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        match postgres_server() {
            None => {
                let path = dir.join("kabar.db");
                Store { database: path.into(), toml: "database = \"kabar.db\"\n".into(), postgres: None, _dir: None }
            }
            Some(server) => {
                let name = format!("kabar_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
                off_runtime(|| {
                    let mut admin =
                        postgres::Client::connect(&server, postgres::NoTls).expect("connect to KABAR_TEST_POSTGRES");
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
                    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
                });
                let url = format!("{server} dbname={name}");
                Store {
                    database: kabar::config::Database::Postgres(kabar::config::Postgres {
                        url: url.clone(),
                        password: None,
                    }),
                    // Short leases: a test's killed worker's hosts are taken over soon.
                    toml: format!("backend = \"postgres\"\nurl = \"{url}\"\nlease = \"4s\"\n"),
                    postgres: Some((server, name)),
                    _dir: None,
                }
            }
        }
    }

    /// The SQLite file (for a test that [`sqlite_only`] let through).
    pub fn file(&self) -> PathBuf {
        self.database.sqlite().expect("a SQLite store").to_path_buf()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            off_runtime(|| {
                if let Ok(mut admin) = postgres::Client::connect(server, postgres::NoTls) {
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            });
        }
    }
}

/// A temporary folder with a config file in it, and the store it names.
pub struct Setup {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Setup {
    /// `feeds` is TOML for `[[feeds]]` (and anything else) appended after defaults
    /// that suit tests: no per-host spacing, no jitter, short timeouts and backoff cap.
    pub fn new(rest: &str) -> Setup {
        Setup::raw(&format!(
            "[storage]\ndatabase = \"kabar.db\"\n\n[fetch]\nper_host = {{ concurrency = 8, min_interval = \"0s\" }}\ntimeout = \"10s\"\n\n[schedule]\njitter = \"0%\"\nmax_backoff = \"1h\"\n\n{rest}"
        ))
    }

    /// A config file with `text`; a line `database = "kabar.db"` in it names this test's
    /// store (on PostgreSQL, its database).
    pub fn raw(text: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let config = dir.path().join("kabar.toml");
        std::fs::write(&config, text.replacen("database = \"kabar.db\"\n", &store.toml, 1)).unwrap();
        Setup { store, dir, config }
    }

    pub fn database(&self) -> kabar::config::Database {
        self.store.database.clone()
    }

    /// The SQLite file (for a test that [`sqlite_only`] let through).
    pub fn file(&self) -> PathBuf {
        self.store.file()
    }
}

/// `[[feeds]]` TOML for one feed.
pub fn feed_toml(name: &str, url: &str, extra: &str) -> String {
    format!("[[feeds]]\nname = \"{name}\"\nurl = \"{url}\"\n{extra}\n")
}

/// Waits until `cond` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Sends SIGTERM.
pub fn terminate(child: &Child) {
    // SAFETY: kill(2) with a pid we own and a valid signal number.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
}

/// Starts `kabar run` in the background, logging to a file in the setup folder.
pub fn spawn_daemon(setup: &Setup) -> Child {
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).unwrap();
    kabar()
        .arg("--config")
        .arg(&setup.config)
        .arg("run")
        .env("KABAR_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start kabar run")
}

pub fn daemon_log(setup: &Setup) -> String {
    std::fs::read_to_string(setup.dir.path().join("daemon.log")).unwrap_or_default()
}

/// A TCP server on 127.0.0.1 for byte-level misbehaviour: reads each request's head
/// and hands the stream and the path to `handle` (on a thread per connection).
pub fn raw_server(handle: impl Fn(TcpStream, &str) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = handle.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                handle(stream, &path);
            });
        }
    });
    port
}

/// The peak resident memory (VmHWM) of a running process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Open file descriptors of a running process.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A port nothing listens on right now (bind, read, release).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A blocking GET on 127.0.0.1: status, headers (lower-cased names), body.
pub fn http_get(port: u16, path: &str, token: Option<&str>) -> (u16, HashMap<String, String>, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").as_bytes())
}

/// Sends `request` as written and reads the whole answer: status, lower-cased headers,
/// body.
pub fn raw(port: u16, request: &[u8]) -> (u16, HashMap<String, String>, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the API");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// A GET with extra header lines (each ending in CRLF).
pub fn get_with(port: u16, path: &str, headers: &str) -> (u16, HashMap<String, String>, String) {
    raw(port, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n").as_bytes())
}

/// The shared corpus, if it is here: `$KABAR_CORPUS`, or `../shared/corpus` beside the
/// repository. A fresh clone has neither; the tests that need it say "skipped" then
/// (and fail under `.ci/run`, which requires it).
pub fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("KABAR_CORPUS").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.join("MANIFEST.tsv").is_file());
    if found.is_none() {
        skip_or_fail("no corpus (set KABAR_CORPUS to the shared/corpus folder, or put it at ../shared/corpus)");
    }
    found
}

/// A fixture file of the repository's own (`tests/fixtures/…`).
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// Records a figure the docs quote: printed, and appended to `target/figures.txt` (or
/// `$CARGO_TARGET_DIR/figures.txt`) as `name: text`, so one run of the tests (the README's
/// test command; `.ci/run` prints the file) shows every figure README.md and
/// ARCHITECTURE.md cite.
pub fn figure(name: &str, text: &str) {
    let line = format!("{name}: {text}");
    eprintln!("{line}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("figures.txt")) {
        let _ = writeln!(f, "{line}");
    }
}

/// Whether `.ci/run` asks for every tool and data set the tests can use: then a test
/// that would skip for want of one fails instead.
pub fn required() -> bool {
    std::env::var_os("KABAR_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// Skips a test (with a line saying why), or fails it when `.ci/run` requires what is
/// missing.
pub fn skip_or_fail(why: &str) {
    assert!(!required(), "required by .ci/run but missing: {why}");
    eprintln!("skipped: {why}");
}

/// An alert command for `notify = { command = [...] }`: a script in `dir` that appends each
/// alert it is given, one per line, to a file; and that file.
pub fn alert_recorder(dir: &Path) -> (PathBuf, PathBuf) {
    let out = dir.join("alerts.jsonl");
    let script = dir.join("alert.sh");
    std::fs::write(&script, format!("#!/bin/sh\ncat >> {}\necho >> {}\n", out.display(), out.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, out)
}

/// The alerts an [`alert_recorder`] received, one JSON text each.
pub fn recorded_alerts(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Rows of two text columns, from the store on either backend; `None` while the
/// statement fails (before the first writer made the schema, or while it is locked).
pub fn text_pairs(db: &kabar::config::Database, sql: &str) -> Option<Vec<(String, String)>> {
    match db {
        kabar::config::Database::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).ok()?;
            conn.busy_timeout(Duration::from_secs(10)).ok()?;
            let mut stmt = conn.prepare(sql).ok()?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).ok()?;
            rows.collect::<Result<_, _>>().ok()
        }
        kabar::config::Database::Postgres(pg) => off_runtime(|| {
            let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).ok()?;
            let rows = client.query(sql, &[]).ok()?;
            Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        }),
    }
}

/// The first column of the first row of `sql`, an integer, read from the store on
/// either backend (what a test checks that no command shows).
pub fn scalar(db: &kabar::config::Database, sql: &str) -> i64 {
    match db {
        kabar::config::Database::Sqlite(path) => {
            let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            conn.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
        kabar::config::Database::Postgres(pg) => off_runtime(|| {
            let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
            let row = client.query_one(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
            row.try_get::<_, i64>(0)
                .or_else(|_| row.try_get::<_, Option<i64>>(0).map(|v| v.unwrap_or(0)))
                .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                .or_else(|_| row.try_get::<_, bool>(0).map(i64::from))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }),
    }
}

/// Runs `f` on a thread of its own: the blocking PostgreSQL client cannot block on an
/// async runtime's thread, where many tests run.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}
