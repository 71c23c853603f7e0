//! `compare`: kabar cold and warm against newsboat and sfeed_update on one corpus,
//! and dedup precision and recall on its copies. Also the configuration every mode
//! runs kabar with.

use crate::prelude::*;

/// The topics every benchmark configuration flags.
pub(crate) const TOPICS: [(&str, &str); 3] = [
    (
        "digital",
        "(digital* OR data OR technology OR teknologi) NEAR/10 (cooperation OR partnership OR \"kerja sama\" OR kemitraan)",
    ),
    ("economy", "(economy OR ekonomi) AND (growth OR pertumbuhan OR investment OR investasi)"),
    ("disasters", "flood OR banjir OR (rain NEAR/3 weather) OR (hujan NEAR/3 cuaca)"),
];

/// Fetches in flight, for kabar and the peers alike: kabar's `fetch.concurrency`,
/// newsboat's `reload-threads`, sfeed's `maxjobs`.
pub(crate) const PARALLEL: usize = 16;

pub(crate) fn kabar_config(dir: &Path, port: u16, corpus: &Corpus, db: &Path, extra: &str) -> PathBuf {
    let mut s = format!(
        "[storage]\ndatabase = \"{}\"\n[fetch]\nconcurrency = {PARALLEL}\nper_host = {{ concurrency = {PARALLEL}, min_interval = \"0s\" }}\n\
         allow_networks = [\"127.0.0.0/8\"]\n{extra}\n",
        db.display()
    );
    s.push_str(&topics_toml());
    for f in 0..corpus.feeds {
        let _ = write!(s, "[[feeds]]\nname = \"f{f}\"\nurl = \"http://127.0.0.1:{port}/f{f}.xml\"\n");
    }
    let path = dir.join(format!("kabar-{}.toml", db.file_stem().unwrap().to_string_lossy()));
    std::fs::write(&path, s).unwrap();
    path
}

/// The `[[topics]]` tables of [`TOPICS`].
pub(crate) fn topics_toml() -> String {
    TOPICS.iter().map(|(name, query)| format!("[[topics]]\nname = \"{name}\"\nquery = '{query}'\n")).collect()
}

pub(crate) fn kabar_fetch(config: &Path) -> Command {
    let mut c = Command::new(KABAR);
    c.arg("--config").arg(config).arg("fetch").env("KABAR_LOG", "error");
    c
}

/// `kabar run` on `config`, logging at `log` and above.
pub(crate) fn kabar_daemon(config: &Path, log: &str) -> Command {
    let mut c = Command::new(KABAR);
    c.arg("--config").arg(config).arg("run").env("KABAR_LOG", log);
    c
}

pub(crate) fn remove_db(db: &Path) {
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
}

/// (cold, warm) medians for kabar.
pub(crate) fn run_kabar(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run, PathBuf) {
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

pub(crate) fn run_newsboat(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run) {
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

pub(crate) fn run_sfeed(dir: &Path, port: u16, corpus: &Corpus, runs: usize) -> (Run, Run) {
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

pub(crate) fn row(out: &mut String, name: &str, r: Run, items: usize, bytes: u64) {
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
pub(crate) fn dedup_quality(db: &Path, corpus: &Corpus) -> (f64, f64, usize) {
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

pub(crate) fn compare(dir: &Path, feeds: usize, items: usize, runs: usize, peers: bool) {
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
