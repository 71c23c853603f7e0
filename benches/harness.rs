//! kabar's benchmark harness (not a timed test): `cargo bench --bench harness -- MODE`.
//!
//! * `compare` (default): generates N feeds × M items of article HTML in English and
//!   Indonesian, RSS and Atom, with a known share of re-published copies across feeds;
//!   serves them from nginx on loopback; runs `kabar fetch` cold (empty database) and
//!   warm (every feed answers 304), and `newsboat -x reload` and `sfeed_update` on the
//!   same files when they are installed, all with 16 fetches in flight (`PARALLEL`);
//!   reports wall time, CPU
//!   time, items/s, MB/s and peak RSS (medians of `--runs`), kabar's ratio to each
//!   peer, and dedup precision/recall on the copies.
//! * `scale-db`: a database pre-filled with `--articles` (1,000,000) articles over a
//!   year: search latency for typical queries (7-day and all-time), and the cold
//!   ingest of the compare corpus into it against an empty database.
//! * `feeds`: `--feeds` (10,000) configured feeds served from loopback: daemon RSS
//!   after the first round, and its CPU over the 30 s after it and the 30 s after those;
//!   the write-ahead log's largest size during the round, and the writer's time per job
//!   (the daemon's `/metrics` histogram).
//! * `topics`: matching throughput with 10, 1,000 and 10,000 topics.
//!
//! Options: `--feeds N --items M --runs R --articles A --out DIR` (DIR keeps the
//! corpus and databases; default a temporary folder), `--no-peers` (kabar alone).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KABAR: &str = env!("CARGO_BIN_EXE_kabar");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mode = args.iter().find(|a| !a.starts_with("--") && !is_value(&args, a)).cloned().unwrap_or("compare".into());
    let opt = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let temp = tempdir();
    let dir = out.unwrap_or_else(|| temp.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let feeds = opt("--feeds", if mode == "feeds" { 10_000 } else { 200 });
    let items = opt("--items", if mode == "feeds" { 5 } else { 50 });
    let runs = opt("--runs", 3);
    match mode.as_str() {
        "compare" => compare(&dir, feeds, items, runs, !args.iter().any(|a| a == "--no-peers")),
        "scale-db" => scale_db(&dir, opt("--articles", 1_000_000), runs),
        "feeds" => many_feeds(&dir, feeds, items),
        "topics" => topics(),
        other => {
            eprintln!("unknown mode {other}: compare, scale-db, feeds, topics");
            std::process::exit(2);
        }
    }
    let _ = std::fs::remove_dir_all(&temp);
}

fn is_value(args: &[String], a: &String) -> bool {
    args.iter().position(|x| x == a).is_some_and(|i| i > 0 && args[i - 1].starts_with("--"))
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("kabar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------- measuring

/// One run of a command: wall time, CPU time (user + system), peak RSS.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
}

/// Runs `cmd` to completion and measures it with wait4's resource usage. Its stderr goes to a
/// temporary file (a pipe could fill up and stall the child), shown if the command fails.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4, which also returns its rusage")]
fn measure(mut cmd: Command) -> Run {
    let mut log = tempfile::tempfile().expect("a temporary file for stderr");
    // A child's peak RSS starts at the RSS of the process it was forked from, or, spawned
    // with vfork (what std does when it can), at this harness's own peak (40 MiB after
    // generating a corpus). Forking from a trimmed heap keeps that floor at a few MiB.
    // SAFETY: malloc_trim only returns free memory to the system; the pre_exec hook
    // does nothing (it is there to make std fork instead of vfork).
    unsafe {
        libc::malloc_trim(0);
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || Ok(()));
    }
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log.try_clone().expect("clone the stderr file"))
        .spawn()
        .expect("start the command");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(waited, pid, "wait4");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        use std::io::{Read, Seek};
        let mut err = String::new();
        let _ = log.rewind().and_then(|()| log.read_to_string(&mut err));
        panic!("{cmd:?} failed ({status}): {err}");
    }
    Run { wall, cpu: tv(usage.ru_utime) + tv(usage.ru_stime), peak_kib: usage.ru_maxrss as u64 }
}

fn median(runs: &[Run]) -> Run {
    let pick = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.peak_kib).collect();
    peaks.sort();
    Run {
        wall: pick(runs.iter().map(|r| r.wall).collect()),
        cpu: pick(runs.iter().map(|r| r.cpu).collect()),
        peak_kib: peaks[peaks.len() / 2],
    }
}

// ---------------------------------------------------------------- the corpus

/// A small deterministic random source (the corpus is the same on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

const EN: &[&str] = &[
    "government",
    "minister",
    "agreement",
    "economy",
    "growth",
    "investment",
    "market",
    "trade",
    "export",
    "import",
    "digital",
    "infrastructure",
    "project",
    "budget",
    "policy",
    "reform",
    "regional",
    "national",
    "officials",
    "said",
    "announced",
    "signed",
    "expected",
    "reported",
    "increased",
    "declined",
    "the",
    "a",
    "of",
    "to",
    "in",
    "and",
    "for",
    "with",
    "on",
    "by",
    "from",
    "at",
    "as",
    "new",
    "first",
    "last",
    "week",
    "month",
    "year",
    "people",
    "company",
    "bank",
    "rate",
    "percent",
    "billion",
    "million",
    "price",
    "rice",
    "fuel",
    "energy",
    "nickel",
    "coal",
    "port",
    "road",
    "rail",
    "school",
    "health",
    "hospital",
    "vaccine",
    "flood",
    "rain",
    "weather",
    "election",
    "court",
    "police",
    "president",
    "parliament",
    "cooperation",
    "partnership",
    "security",
    "technology",
    "startup",
    "platform",
    "data",
    "service",
    "public",
    "private",
    "sector",
    "plan",
    "program",
    "target",
    "cost",
];
const ID: &[&str] = &[
    "pemerintah",
    "menteri",
    "perjanjian",
    "ekonomi",
    "pertumbuhan",
    "investasi",
    "pasar",
    "perdagangan",
    "ekspor",
    "impor",
    "digital",
    "infrastruktur",
    "proyek",
    "anggaran",
    "kebijakan",
    "reformasi",
    "daerah",
    "nasional",
    "pejabat",
    "mengatakan",
    "mengumumkan",
    "menandatangani",
    "diperkirakan",
    "melaporkan",
    "naik",
    "turun",
    "yang",
    "di",
    "ke",
    "dari",
    "dan",
    "untuk",
    "dengan",
    "pada",
    "oleh",
    "dalam",
    "sebagai",
    "baru",
    "pertama",
    "pekan",
    "bulan",
    "tahun",
    "masyarakat",
    "perusahaan",
    "bank",
    "suku",
    "bunga",
    "persen",
    "miliar",
    "juta",
    "harga",
    "beras",
    "bahan",
    "bakar",
    "energi",
    "nikel",
    "batu",
    "bara",
    "pelabuhan",
    "jalan",
    "kereta",
    "sekolah",
    "kesehatan",
    "rumah",
    "sakit",
    "vaksin",
    "banjir",
    "hujan",
    "cuaca",
    "pemilu",
    "pengadilan",
    "polisi",
    "presiden",
    "parlemen",
    "kerja",
    "sama",
    "kemitraan",
    "keamanan",
    "teknologi",
    "platform",
    "data",
    "layanan",
    "publik",
    "swasta",
    "sektor",
    "rencana",
    "program",
    "target",
    "biaya",
];
const NAMES: &[&str] = &[
    "Jakarta",
    "Surabaya",
    "Bandung",
    "Medan",
    "Makassar",
    "Bali",
    "Papua",
    "Kalimantan",
    "India",
    "Japan",
    "China",
    "Australia",
    "Singapore",
    "Malaysia",
    "Prabowo",
    "Gibran",
    "Sri Mulyani",
    "Bahlil",
    "Airlangga",
    "Pertamina",
    "Garuda",
    "Telkom",
    "ASEAN",
    "IMF",
    "World Bank",
    "Bank Indonesia",
    "BPS",
    "OJK",
    "KPK",
    "DPR",
];

/// A language's vocabulary: the real words above (function words and common news
/// words, about half of all tokens, so language detection sees real text) and a few
/// thousand made-up content words drawn from the language's syllables, picked with a
/// Zipf-like skew, so rare words are rare as in real news.
struct Vocab {
    common: &'static [&'static str],
    content: Vec<String>,
}

impl Vocab {
    fn new(rng: &mut Rng, common: &'static [&'static str], syllables: &[&str], n: usize) -> Vocab {
        let mut seen = std::collections::HashSet::new();
        let mut content = Vec::with_capacity(n);
        while content.len() < n {
            let w: String = (0..2 + rng.below(3)).map(|_| rng.pick(syllables)).collect();
            if seen.insert(w.clone()) {
                content.push(w);
            }
        }
        Vocab { common, content }
    }

    fn word(&self, rng: &mut Rng) -> String {
        if rng.below(2) == 0 {
            return rng.pick(self.common).to_string();
        }
        // Log-uniform rank: P(rank) ∝ 1/rank.
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = ((self.content.len() as f64).powf(u) as usize).saturating_sub(1);
        self.content[rank.min(self.content.len() - 1)].clone()
    }
}

const EN_SYLLABLES: &[&str] = &[
    "ter", "men", "ston", "ack", "ing", "ver", "con", "pro", "ward", "ship", "ment", "ble", "tion", "port", "land",
    "bor", "mar", "ket", "field", "wood", "ham", "ford", "ley", "ton", "ris", "bal", "den", "per", "sent", "dis",
];
const ID_SYLLABLES: &[&str] = &[
    "ka", "pe", "ngan", "ber", "ma", "ta", "si", "ra", "nya", "kan", "lah", "du", "ju", "wa", "ting", "ba", "na", "sa",
    "ri", "mu", "lang", "tu", "pa", "nga", "da", "ran", "jang", "kat", "bu", "gi",
];

/// The two vocabularies, English and Indonesian, the same on every run.
fn vocabs() -> [Vocab; 2] {
    let mut rng = Rng(0x5eed);
    [Vocab::new(&mut rng, EN, EN_SYLLABLES, 5000), Vocab::new(&mut rng, ID, ID_SYLLABLES, 5000)]
}

struct Article {
    guid: String,
    link: String,
    title: String,
    paragraphs: Vec<String>,
    published: i64,
}

fn sentence(rng: &mut Rng, words: &Vocab) -> String {
    let n = 10 + rng.below(9);
    let mut s = String::new();
    for i in 0..n {
        let w = match rng.below(12) {
            0 => rng.pick(NAMES).to_string(),
            1 => (rng.below(9000) + 10).to_string(),
            _ => words.word(rng),
        };
        if i == 0 {
            let mut c = w.chars();
            s.push_str(&c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default());
        } else {
            s.push(' ');
            s.push_str(&w);
        }
    }
    s.push('.');
    s
}

/// A paragraph of article HTML: three sentences, now and then a link or emphasis.
fn paragraph(rng: &mut Rng, words: &Vocab) -> String {
    let mut p = (0..3).map(|_| sentence(rng, words)).collect::<Vec<_>>().join(" ");
    if rng.below(3) == 0 {
        let w = words.word(rng);
        p = p.replacen(&format!(" {w} "), &format!(" <a href=\"https://example.org/tag/{w}\">{w}</a> "), 1);
    }
    if rng.below(4) == 0 {
        let w = words.word(rng);
        p = p.replacen(&format!(" {w} "), &format!(" <strong>{w}</strong> "), 1);
    }
    p
}

fn article(rng: &mut Rng, words: &Vocab, guid: String, link: String, now: i64) -> Article {
    let title = sentence(rng, words).trim_end_matches('.').split(' ').take(8).collect::<Vec<_>>().join(" ");
    let paragraphs = (0..9).map(|_| paragraph(rng, words)).collect();
    Article { guid, link, title, paragraphs, published: now - rng.below(7 * 86_400) as i64 }
}

/// A re-published copy: re-titled, a "read also" line and credits inserted, one word changed.
fn copy_of(rng: &mut Rng, a: &Article, words: &Vocab, id: bool, guid: String, link: String) -> Article {
    let mut paragraphs = a.paragraphs.clone();
    let read_also = if id { "Baca juga: " } else { "Read also: " };
    paragraphs.insert(2, format!("{read_also}{}", sentence(rng, words)));
    let p = rng.below(paragraphs.len());
    paragraphs[p] = paragraphs[p].replacen(' ', &format!(" {} ", words.word(rng)), 1);
    paragraphs.push(if id { "Editor: Budi Santoso".into() } else { "Editing by Anna Smith".into() });
    let title = sentence(rng, words).trim_end_matches('.').split(' ').take(7).collect::<Vec<_>>().join(" ");
    Article { guid, link, title, paragraphs, published: a.published + 3600 }
}

fn esc(s: &str) -> String {
    quick_xml::escape::partial_escape(s).into_owned()
}

fn html(a: &Article) -> String {
    a.paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect::<Vec<_>>().join("\n")
}

fn rss_doc(title: &str, lang: &str, items: &[Article]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.org/</link><language>{lang}</language>\n"
    );
    for a in items {
        let date = chrono::DateTime::from_timestamp(a.published, 0).unwrap().to_rfc2822();
        let _ = writeln!(
            s,
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"false\">{}</guid><pubDate>{date}</pubDate><description>{}</description></item>",
            esc(&a.title),
            a.link,
            a.guid,
            esc(&html(a))
        );
    }
    s.push_str("</channel></rss>\n");
    s
}

fn atom_doc(title: &str, lang: &str, items: &[Article]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{lang}\"><title>{title}</title><id>urn:{title}</id><updated>2025-01-01T00:00:00Z</updated>\n"
    );
    for a in items {
        let date = chrono::DateTime::from_timestamp(a.published, 0).unwrap().to_rfc3339();
        let _ = writeln!(
            s,
            "<entry><title>{}</title><link href=\"{}\"/><id>{}</id><updated>{date}</updated><content type=\"html\">{}</content></entry>",
            esc(&a.title),
            a.link,
            a.guid,
            esc(&html(a))
        );
    }
    s.push_str("</feed>\n");
    s
}

/// The corpus: feed files under `dir/www`, and the truth about copies (guid → the
/// guid of the story's original).
struct Corpus {
    www: PathBuf,
    feeds: usize,
    items: usize,
    bytes: u64,
    story: HashMap<String, String>,
}

fn generate(dir: &Path, feeds: usize, items: usize) -> Corpus {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let vocab = vocabs();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = chrono::Utc::now().timestamp();
    let mut originals: [Vec<(usize, Article)>; 2] = [Vec::new(), Vec::new()];
    let mut story = HashMap::new();
    let mut bytes = 0;
    for f in 0..feeds {
        let id = f % 2 == 1;
        let words = &vocab[id as usize];
        let mut list = Vec::with_capacity(items);
        for j in 0..items {
            let guid = format!("f{f}-{j}");
            let link = format!("http://site{f}.example/{}/{j}", if id { "berita" } else { "news" });
            let pool = &originals[id as usize];
            // One item in ten re-publishes an earlier story from another feed.
            let a = if rng.below(10) == 0 && !pool.is_empty() {
                let (from, orig) = &pool[rng.below(pool.len())];
                if *from == f {
                    article(&mut rng, words, guid, link, now)
                } else {
                    let c = copy_of(&mut rng, orig, words, id, guid, link);
                    story.insert(c.guid.clone(), story.get(&orig.guid).cloned().unwrap_or(orig.guid.clone()));
                    c
                }
            } else {
                article(&mut rng, words, guid, link, now)
            };
            story.entry(a.guid.clone()).or_insert(a.guid.clone());
            list.push(a);
        }
        let lang = if id { "id" } else { "en" };
        let doc = if f % 3 == 0 {
            atom_doc(&format!("feed{f}"), lang, &list)
        } else {
            rss_doc(&format!("feed{f}"), lang, &list)
        };
        bytes += doc.len() as u64;
        std::fs::write(www.join(format!("f{f}.xml")), doc).unwrap();
        for a in list {
            if story[&a.guid] == a.guid {
                originals[id as usize].push((f, a));
            }
        }
    }
    Corpus { www, feeds, items, bytes, story }
}

// ---------------------------------------------------------------- nginx

struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master then stops its workers (killed, it leaves them behind).
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn nginx(dir: &Path, www: &Path) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.join("nginx.conf");
    let tmp = dir.join("nginx-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 2;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n  client_body_temp_path {tmp}/body;\n\
               proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fcgi;\n  uwsgi_temp_path {tmp}/uwsgi;\n\
               scgi_temp_path {tmp}/scgi;\n  keepalive_requests 100000;\n  sendfile on;\n\
               server {{ listen 127.0.0.1:{port}; root {www}; etag on; }}\n}}\n",
            tmp = tmp.display(),
            www = www.display()
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&tmp)
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx)");
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "nginx did not start");
    Nginx { child, port }
}

fn installed(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------- compare

/// The topics every benchmark configuration flags.
const TOPICS: [(&str, &str); 3] = [
    (
        "digital",
        "(digital* OR data OR technology OR teknologi) NEAR/10 (cooperation OR partnership OR \"kerja sama\" OR kemitraan)",
    ),
    ("economy", "(economy OR ekonomi) AND (growth OR pertumbuhan OR investment OR investasi)"),
    ("disasters", "flood OR banjir OR (rain NEAR/3 weather) OR (hujan NEAR/3 cuaca)"),
];

/// Fetches in flight, for kabar and the peers alike: kabar's `fetch.concurrency`,
/// newsboat's `reload-threads`, sfeed's `maxjobs`.
const PARALLEL: usize = 16;

fn kabar_config(dir: &Path, port: u16, corpus: &Corpus, db: &Path, extra: &str) -> PathBuf {
    let mut s = format!(
        "[storage]\ndatabase = \"{}\"\n[fetch]\nconcurrency = {PARALLEL}\nper_host = {{ concurrency = {PARALLEL}, min_interval = \"0s\" }}\n\
         allow_networks = [\"127.0.0.0/8\"]\n{extra}\n",
        db.display()
    );
    let topics: String =
        TOPICS.iter().map(|(name, query)| format!("[[topics]]\nname = \"{name}\"\nquery = '{query}'\n")).collect();
    s.push_str(&topics);
    for f in 0..corpus.feeds {
        let _ = write!(s, "[[feeds]]\nname = \"f{f}\"\nurl = \"http://127.0.0.1:{port}/f{f}.xml\"\n");
    }
    let path = dir.join(format!("kabar-{}.toml", db.file_stem().unwrap().to_string_lossy()));
    std::fs::write(&path, s).unwrap();
    path
}

fn kabar_fetch(config: &Path) -> Command {
    let mut c = Command::new(KABAR);
    c.arg("--config").arg(config).arg("fetch").env("KABAR_LOG", "error");
    c
}

fn remove_db(db: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
}

/// (cold, warm) medians for kabar.
fn run_kabar(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run, PathBuf) {
    let db = dir.join("compare.db");
    let config = kabar_config(dir, port, corpus, &db, "");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        remove_db(&db);
        cold.push(measure(kabar_fetch(&config)));
        warm.push(measure(kabar_fetch(&config)));
    }
    (median(&cold), median(&warm), db)
}

fn run_newsboat(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run) {
    let nb = dir.join("newsboat");
    std::fs::create_dir_all(&nb).unwrap();
    let urls: String = (0..corpus.feeds).map(|f| format!("http://127.0.0.1:{port}/f{f}.xml\n")).collect();
    std::fs::write(nb.join("urls"), urls).unwrap();
    std::fs::write(nb.join("config"), format!("reload-threads {PARALLEL}\nshow-read-feeds yes\n")).unwrap();
    let cmd = || {
        let mut c = Command::new("newsboat");
        c.arg("-x")
            .arg("reload")
            .arg("-u")
            .arg(nb.join("urls"))
            .arg("-c")
            .arg(nb.join("cache.db"))
            .arg("-C")
            .arg(nb.join("config"));
        c.env("HOME", &nb);
        c
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_file(nb.join("cache.db"));
        cold.push(measure(cmd()));
        warm.push(measure(cmd()));
    }
    let stored: i64 = rusqlite::Connection::open(nb.join("cache.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM rss_item", [], |r| r.get(0))
        .unwrap();
    let total = corpus.feeds * corpus.items;
    assert_eq!(stored as usize, total, "newsboat stored {stored} of {total} items: the run is not comparable");
    (median(&cold), median(&warm))
}

fn run_sfeed(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run) {
    let sf = dir.join("sfeed");
    let mut rc = format!("sfeedpath=\"{}/feeds\"\nmaxjobs={PARALLEL}\nfeeds() {{\n", sf.display());
    for f in 0..corpus.feeds {
        let _ = writeln!(rc, "  feed \"f{f}\" \"http://127.0.0.1:{port}/f{f}.xml\"");
    }
    rc.push_str("}\n");
    std::fs::create_dir_all(&sf).unwrap();
    std::fs::write(sf.join("sfeedrc"), rc).unwrap();
    let cmd = || {
        let mut c = Command::new("sfeed_update");
        c.arg(sf.join("sfeedrc"));
        c
    };
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(sf.join("feeds"));
        cold.push(measure(cmd()));
        warm.push(measure(cmd()));
    }
    // sfeed writes one line per item into a file per feed.
    let stored: usize = std::fs::read_dir(sf.join("feeds"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default().lines().count())
        .sum();
    let total = corpus.feeds * corpus.items;
    assert_eq!(stored, total, "sfeed stored {stored} of {total} items: the run is not comparable");
    (median(&cold), median(&warm))
}

fn row(out: &mut String, name: &str, r: Run, items: usize, bytes: u64) {
    let secs = r.wall.as_secs_f64();
    let _ = writeln!(
        out,
        "| {name} | {:.3} s | {:.3} s | {:.0} | {:.1} | {:.1} MiB |",
        secs,
        r.cpu.as_secs_f64(),
        items as f64 / secs,
        bytes as f64 / 1e6 / secs,
        r.peak_kib as f64 / 1024.0
    );
}

/// Precision and recall of duplicate pairs: kabar's stories against the generator's.
fn dedup_quality(db: &Path, corpus: &Corpus) -> (f64, f64, usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT guid, story_id FROM articles").unwrap();
    let found: HashMap<String, i64> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut truth_groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (g, s) in &corpus.story {
        truth_groups.entry(s).or_default().push(g);
    }
    let mut kabar_groups: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (g, s) in &found {
        kabar_groups.entry(*s).or_default().push(g);
    }
    let pairs = |n: usize| n * n.saturating_sub(1) / 2;
    let truth: usize = truth_groups.values().map(|v| pairs(v.len())).sum();
    let predicted: usize = kabar_groups.values().map(|v| pairs(v.len())).sum();
    let mut right = 0;
    for members in kabar_groups.values() {
        let mut by_truth: HashMap<&str, usize> = HashMap::new();
        for g in members {
            *by_truth.entry(corpus.story.get(*g).map(String::as_str).unwrap_or(g)).or_default() += 1;
        }
        right += by_truth.values().map(|n| pairs(*n)).sum::<usize>();
    }
    let p = if predicted == 0 { 1.0 } else { right as f64 / predicted as f64 };
    let r = if truth == 0 { 1.0 } else { right as f64 / truth as f64 };
    (p, r, truth)
}

fn compare(dir: &Path, feeds: usize, items: usize, runs: usize, peers: bool) {
    let corpus = generate(dir, feeds, items);
    let total = corpus.feeds * corpus.items;
    eprintln!(
        "corpus: {} feeds × {} items, {:.1} MB, {} copies",
        feeds,
        items,
        corpus.bytes as f64 / 1e6,
        corpus.story.iter().filter(|(g, s)| g != s).count()
    );
    let server = nginx(dir, &corpus.www);
    let (k_cold, k_warm, db) = run_kabar(dir, server.port, &corpus, runs);
    // Items per second count what was stored: a run that failed part of its feeds must
    // not look faster.
    let stored: i64 =
        rusqlite::Connection::open(&db).unwrap().query_row("SELECT count(*) FROM articles", [], |r| r.get(0)).unwrap();
    assert_eq!(stored as usize, total, "kabar stored {stored} of {total} items: the run is not comparable");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{feeds} feeds × {items} items ({:.1} MB) over loopback (nginx), medians of {runs} runs\n",
        corpus.bytes as f64 / 1e6
    );
    let _ = writeln!(out, "| run | wall | CPU | items/s | MB/s | peak RSS |\n|---|---|---|---|---|---|");
    row(&mut out, "kabar fetch, cold", k_cold, total, corpus.bytes);
    row(&mut out, "kabar fetch, warm (304)", k_warm, total, corpus.bytes);
    let mut ratios = Vec::new();
    if peers && installed("newsboat") {
        let (cold, warm) = run_newsboat(dir, server.port, &corpus, runs);
        row(&mut out, "newsboat -x reload, cold", cold, total, corpus.bytes);
        row(&mut out, "newsboat -x reload, warm", warm, total, corpus.bytes);
        ratios.push(("newsboat", cold, warm));
    }
    if peers && installed("sfeed_update") {
        let (cold, warm) = run_sfeed(dir, server.port, &corpus, runs);
        row(&mut out, "sfeed_update, cold", cold, total, corpus.bytes);
        row(&mut out, "sfeed_update, warm", warm, total, corpus.bytes);
        ratios.push(("sfeed_update", cold, warm));
    }
    let _ = writeln!(out);
    for (name, cold, warm) in ratios {
        let _ = writeln!(
            out,
            "kabar vs {name}: cold {:.1}× faster, warm {:.1}× faster, peak memory {:.2}× theirs",
            cold.wall.as_secs_f64() / k_cold.wall.as_secs_f64(),
            warm.wall.as_secs_f64() / k_warm.wall.as_secs_f64(),
            k_cold.peak_kib as f64 / cold.peak_kib as f64
        );
    }
    let (p, r, pairs) = dedup_quality(&db, &corpus);
    let _ = writeln!(out, "dedup on the generated copies: precision {p:.3}, recall {r:.3} ({pairs} duplicate pairs)");
    print!("{out}");
}

// ---------------------------------------------------------------- scale-db

fn scale_db(dir: &Path, articles: usize, runs: usize) {
    let db = dir.join("scale.db");
    if !db.exists() {
        eprintln!("filling {} with {articles} articles (once; kept with --out)", db.display());
        let started = Instant::now();
        prefill(&db, articles);
        eprintln!("filled in {:.0} s", started.elapsed().as_secs_f64());
    }
    // Search latency (each query run `runs` times; medians).
    let config = dir.join("scale.toml");
    std::fs::write(&config, format!("[storage]\ndatabase = \"{}\"\n", db.display())).unwrap();
    let mut out = String::new();
    let search_runs = runs.max(15);
    let _ = writeln!(
        out,
        "\nsearch over {articles} stored articles, medians of {search_runs} runs after one untimed run (whole command, process start included)\n"
    );
    let _ = writeln!(out, "| query | wall |\n|---|---|");
    for (label, args) in [
        ("newest 50 stories", vec!["search"]),
        ("'digital' in the last 7 days", vec!["search", "digital", "--since", "7d"]),
        (
            "'\"kerja sama\" NEAR/5 digital' last 7 days",
            vec!["search", "\"kerja sama\" NEAR/5 digital", "--since", "7d"],
        ),
        ("'banjir OR flood' last 7 days", vec!["search", "banjir OR flood", "--since", "7d"]),
        ("'nikel' all time, limit 20", vec!["search", "nikel", "--limit", "20"]),
    ] {
        let search = || {
            let mut c = Command::new(KABAR);
            c.arg("--config").arg(&config).args(&args).arg("--format").arg("ndjson");
            measure(c)
        };
        // One untimed run first: the other modes (and the fill) leave the 3 GB file partly
        // out of the page cache, and a daemon's searches meet a warm one.
        search();
        let times: Vec<_> = (0..search_runs).map(|_| search()).collect();
        let _ = writeln!(out, "| {label} | {:.1} ms |", median(&times).wall.as_secs_f64() * 1000.0);
    }
    // Ingest throughput into the filled database against an empty one. The copies are of
    // the main file, so whatever sits in its write-ahead log goes there first.
    rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let corpus = generate(&dir.join("ingest"), 200, 50);
    let server = nginx(&dir.join("ingest"), &corpus.www);
    let (mut empty, mut full) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // The copy is made and written out before either run: timed right after a 3 GB copy,
        // kabar shares the disk and a core with the kernel writing the copy back (a first
        // version of this harness measured that: 68 % instead of about 90 %).
        let f = dir.join(format!("ingest/full{i}.db"));
        remove_db(&f);
        std::fs::copy(&db, &f).unwrap();
        std::fs::File::open(&f).unwrap().sync_all().unwrap();
        let e = dir.join("ingest/empty.db");
        remove_db(&e);
        empty.push(measure(kabar_fetch(&kabar_config(&dir.join("ingest"), server.port, &corpus, &e, ""))));
        full.push(measure(kabar_fetch(&kabar_config(&dir.join("ingest"), server.port, &corpus, &f, ""))));
        remove_db(&f);
    }
    let (e, f) = (median(&empty), median(&full));
    let items = 200.0 * 50.0;
    let _ = writeln!(
        out,
        "\ningest of 200 × 50 (cold): empty database {:.3} s ({:.0} items/s); with {articles} stored {:.3} s ({:.0} items/s): {:.0} % of the empty-database rate",
        e.wall.as_secs_f64(),
        items / e.wall.as_secs_f64(),
        f.wall.as_secs_f64(),
        items / f.wall.as_secs_f64(),
        100.0 * e.wall.as_secs_f64() / f.wall.as_secs_f64()
    );
    print!("{out}");
}

/// Stores `n` articles spread over the last year through kabar's own writer, in
/// polls of 1,000, so the database is what a year of ingest leaves.
fn prefill(db: &Path, n: usize) {
    use kabar::model::{Entry, PollRecord};
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let writer = kabar::store::Writer::open(db, Default::default()).unwrap();
        let feeds: Vec<(String, String)> =
            (0..100).map(|f| (format!("p{f}"), format!("http://127.0.0.1:1/p{f}.xml"))).collect();
        let states = writer.sync_feeds(feeds).await.unwrap();
        // The benchmark's topics are known from the start, so the ingest measured later
        // does not begin with re-evaluating the archive for them.
        writer.sync_topics(TOPICS.iter().map(|(n, q)| (n.to_string(), q.to_string())).collect()).await.unwrap();
        // Articles are made and cleaned on a second thread while the writer stores the last batch.
        let batch = 1000;
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        std::thread::spawn(move || {
            let mut rng = Rng(42);
            let vocab = vocabs();
            let now = chrono::Utc::now().timestamp();
            for b in 0..n.div_ceil(batch) {
                let id = b % 2 == 1;
                let words = &vocab[id as usize];
                let articles: Vec<_> = (0..batch.min(n - b * batch))
                    .map(|j| {
                        let link = format!("http://p.example/{b}/{j}");
                        let a = article(&mut rng, words, format!("p{b}-{j}"), link, now);
                        // A year, oldest first, so the newest week holds about 1/52 of them.
                        let published = now - ((n - b * batch) as i64 * 365 * 86_400 / n as i64);
                        let entry = Entry {
                            guid: Some(a.guid.clone()),
                            link: Some(a.link.clone()),
                            title: a.title.clone(),
                            content_html: Some(html(&Article { paragraphs: a.paragraphs[..2].to_vec(), ..a })),
                            published: chrono::DateTime::from_timestamp(published, 0),
                            ..Entry::default()
                        };
                        kabar::pipeline::clean::clean(entry, Some(if id { "id" } else { "en" }), None)
                    })
                    .collect();
                if tx.send(articles).is_err() {
                    return;
                }
            }
        });
        for (b, articles) in rx.into_iter().enumerate() {
            let state = &states[b % states.len()];
            let record = PollRecord::fetched(state.id, articles);
            writer.record_poll(record).await.unwrap();
            if b % 100 == 0 {
                eprint!("\r{} / {n}", b * batch);
                let _ = std::io::stderr().flush();
            }
        }
        eprintln!();
        writer.close().await;
    });
    // The writer stamps everything "first seen now"; a year of polling would have seen each
    // article when it was published.
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("UPDATE articles SET first_seen = sort_time, last_seen = sort_time, changed_at = sort_time", [])
        .unwrap();
}

// ---------------------------------------------------------------- feeds

fn many_feeds(dir: &Path, feeds: usize, items: usize) {
    let corpus = generate(dir, feeds, items);
    let server = nginx(dir, &corpus.www);
    let db = dir.join("feeds.db");
    remove_db(&db);
    let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let extra = format!("[schedule]\ndefault = \"1h\"\n[http]\nlisten = \"{api}\"\n");
    let config = kabar_config(dir, server.port, &corpus, &db, &extra);
    let mut child = Command::new(KABAR)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("KABAR_LOG", "warn")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
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
fn write_times(api: std::net::SocketAddr) -> String {
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

// ---------------------------------------------------------------- topics

fn topics() {
    use kabar::model::Entry;
    use kabar::pipeline::classify::{Topics, classify};
    let mut rng = Rng(7);
    let vocab = vocabs();
    let now = chrono::Utc::now().timestamp();
    let articles: Vec<_> = (0..2000)
        .map(|i| {
            let id = i % 2 == 1;
            let a = article(&mut rng, &vocab[id as usize], format!("t{i}"), format!("http://t.example/{i}"), now);
            let entry = Entry { title: a.title.clone(), content_html: Some(html(&a)), ..Entry::default() };
            kabar::pipeline::clean::clean(entry, None, None)
        })
        .collect();
    println!(
        "\ntopic matching over {} articles (~{} words each)\n\n| topics | articles/s | µs per article | flags |\n|---|---|---|---|",
        articles.len(),
        articles[0].index_body.split(' ').count()
    );
    for n in [10usize, 1_000, 10_000] {
        let mut text = String::new();
        for t in 0..n {
            let w = |rng: &mut Rng| {
                let v = &vocab[rng.below(2)];
                v.word(rng)
            };
            let q = match t % 4 {
                0 => format!("{} NEAR/5 {}", w(&mut rng), w(&mut rng)),
                1 => format!(
                    "\"{} {}\" OR {}*",
                    w(&mut rng),
                    w(&mut rng),
                    w(&mut rng).chars().take(3).collect::<String>()
                ),
                2 => format!("({} OR {}) AND NOT {}", w(&mut rng), w(&mut rng), w(&mut rng)),
                _ => format!("title:{} {}", w(&mut rng), w(&mut rng)),
            };
            let _ = write!(text, "[[topics]]\nname = \"t{t}\"\nquery = '{q}'\n");
        }
        let config = kabar::config::parse(&text, Path::new("topics.toml")).unwrap();
        let compiled = Topics::new(config.topic_queries());
        let started = Instant::now();
        let mut flags = 0;
        for a in &articles {
            flags += classify(a, "f", &compiled).len();
        }
        let secs = started.elapsed().as_secs_f64();
        println!("| {n} | {:.0} | {:.1} | {flags} |", articles.len() as f64 / secs, secs * 1e6 / articles.len() as f64);
    }
}
