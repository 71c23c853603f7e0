//! The web interface in a real browser: Debian's chromium, headless, driven over
//! WebDriver (chromedriver) against a running daemon on fixture feeds. A failing check
//! saves a screenshot under the test's temporary folder and names it; the pages'
//! screenshots for the README go to `target/screenshots/`. Without chromedriver the
//! test says "skipped" (and fails under `.ci/run`, which installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{free_port, http_get, skip_or_fail, terminate, wait_for};

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|d| names.iter().map(move |n| d.join(n))).find(|p| p.is_file())
}

/// The browser's console since the last call (chromedriver's log endpoint).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// The lowest contrast ratio (WCAG 2) of any element with its own text on the page,
/// against the first opaque background behind it, and which element that is.
const CONTRAST: &str = r#"
const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
  if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
let worst = [21, ""];
for (const el of document.querySelectorAll("body *")) {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || el.closest("svg") || el.offsetParent === null) continue;
  const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < worst[0]) worst = [ratio, el.tagName + "." + el.className];
}
return worst;
"#;

/// Console entries of level SEVERE (errors, CSP violations among them).
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.unwrap_or(Value::Null);
    log.as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["level"] == "SEVERE")
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The daemon a browser test runs against.
struct Fixture {
    _server: crate::support::Server,
    _setup: crate::support::Setup,
    daemon: Child,
    base: String,
    port: u16,
}

struct Browser {
    driver: Child,
    client: Client,
    /// Where a failing check's screenshot goes.
    failures: PathBuf,
    /// This test's turn with the browser.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One browser test at a time.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Browser {
    /// A daemon on the fixture feeds (`[http]` settings `extra`) and a browser session,
    /// or `None` (the test skipped) without chromedriver.
    async fn open(extra: &str) -> Option<(Browser, Fixture)> {
        let Some(driver) = on_path(&["chromedriver"]) else {
            skip_or_fail("no chromedriver (Debian: apt-get install chromium chromium-driver)");
            return None;
        };
        let extra = extra.to_string();
        let (server, setup, daemon, port) =
            tokio::task::spawn_blocking(move || crate::web::web_daemon_with(&extra)).await.unwrap();
        // Kept after a failing test, so its screenshot can be looked at.
        let failures = tempfile::Builder::new().prefix("kabar-browser-").tempdir().unwrap().keep();
        let browser = Browser::start(&driver, &failures).await;
        Some((
            browser,
            Fixture { _server: server, _setup: setup, daemon, base: format!("http://127.0.0.1:{port}"), port },
        ))
    }

    /// Ends the session, the driver and the daemon; the failures folder goes too.
    async fn finish(self, fixture: Fixture) {
        let Browser { mut driver, client, failures, _turn } = self;
        let _ = client.close().await;
        let _ = driver.kill();
        terminate(&fixture.daemon);
        let _ = std::fs::remove_dir_all(&failures);
    }

    /// Chromedriver and a session on it. The browser tests take turns (two headless
    /// chromiums at once starve a 2-core machine), and a driver that drops the first
    /// session request is replaced, up to three times; its log goes to the failures folder.
    async fn start(driver: &Path, failures: &Path) -> Browser {
        let turn = TURN.lock().await;
        let mut errors = Vec::new();
        for attempt in 1..=3 {
            let port = free_port();
            let log = failures.join(format!("chromedriver-{attempt}.log"));
            let mut child = Command::new(driver)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts");
            if !wait_for(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
                let _ = child.kill();
                errors.push(format!("attempt {attempt}: chromedriver never listened on {port}"));
                continue;
            }
            match Self::session(port).await {
                Ok(client) => return Browser { driver: child, client, failures: failures.to_path_buf(), _turn: turn },
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    errors.push(format!("attempt {attempt}: {e} (log: {})", log.display()));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        panic!("no chromium session: {}", errors.join("; "));
    }

    async fn session(port: u16) -> Result<Client, fantoccini::error::NewSessionError> {
        let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]});
        if let Some(chromium) = on_path(&["chromium", "chromium-browser"]) {
            options["binary"] = json!(chromium.display().to_string());
        }
        let caps = json!({"goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}});
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
    }

    /// Fails with a screenshot of the page, saved as `failure-NAME.png`.
    async fn check(&self, name: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            return;
        }
        let shot = self.failures.join(format!("failure-{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&shot, png);
        }
        panic!("browser check {name:?} failed: {detail} (screenshot: {})", shot.display());
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    /// A screenshot of the page for the README.
    async fn keep(&self, name: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(dir.join(format!("{name}.png")), png);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_interface_works_in_a_real_browser() {
    let Some((b, fixture)) = Browser::open("").await else { return };
    let (base, port) = (fixture.base.clone(), fixture.port);
    let c = &b.client;

    // Stories: the 3-copy story says 3 sources and opens to its 3 copies with reasons.
    c.goto(&format!("{base}/")).await.unwrap();
    let rows = c.find_all(Locator::Css("ol.stories > li")).await.unwrap();
    b.check("two-stories", rows.len() == 2, format!("{} rows", rows.len())).await;
    let mut three = None;
    for r in &rows {
        if r.text().await.unwrap().contains("3 sources") {
            three = Some(r.clone());
        }
    }
    b.check("three-sources", three.is_some(), "no row says 3 sources").await;
    let three = three.unwrap();
    three.find(Locator::Css("details summary")).await.unwrap().click().await.unwrap();
    let reasons = three.find_all(Locator::Css("table.copies td.reason")).await.unwrap();
    let mut texts = Vec::new();
    for r in &reasons {
        texts.push(r.text().await.unwrap());
    }
    b.check("three-copies", texts.len() == 3 && texts.iter().all(|t| !t.is_empty()), format!("{texts:?}")).await;
    b.check("one-first-copy", texts.iter().filter(|t| *t == "first copy").count() == 1, format!("{texts:?}")).await;
    b.keep("stories").await;

    // Keys: j moves the focus down, k up, ? lists the keys.
    let focused = "const li = document.activeElement; return Array.from(document.querySelectorAll('ol.stories > li')).indexOf(li);";
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("j").await.unwrap();
    let first = b.js(focused).await;
    c.active_element().await.unwrap().send_keys("j").await.unwrap();
    let second = b.js(focused).await;
    c.active_element().await.unwrap().send_keys("k").await.unwrap();
    let back = b.js(focused).await;
    b.check("j-and-k", first == 0 && second == 1 && back == 0, format!("{first} {second} {back}")).await;
    c.active_element().await.unwrap().send_keys("?").await.unwrap();
    let open = b.js("return document.getElementById('keys').open;").await;
    b.check("question-mark", open == true, format!("{open}")).await;

    // A broken query shows the caret under the reported column.
    c.goto(&format!("{base}/search?q=digital%20AND")).await.unwrap();
    let error = c.find(Locator::Css("div.error")).await.unwrap().text().await.unwrap();
    b.check("error-column", error.contains("column 12"), &error).await;
    let caret = b.js("return document.querySelector('pre.caret').textContent;").await;
    let lines: Vec<&str> = caret.as_str().unwrap_or_default().lines().collect();
    b.check("caret", lines.len() == 2 && lines[1] == format!("{}^", " ".repeat(11)), format!("{lines:?}")).await;
    b.keep("search-error").await;

    // The chart's bars equal the articles per day (all three copies today).
    c.goto(&format!("{base}/topics/digital")).await.unwrap();
    let bars = b
        .js("return Array.from(document.querySelectorAll('svg.chart rect')).map(r => [r.dataset.day, Number(r.dataset.count), r.getBBox().height]);")
        .await;
    let bars = bars.as_array().cloned().unwrap_or_default();
    let today = chrono::Utc::now().date_naive().to_string();
    let counted: Vec<(String, i64, f64)> = bars
        .iter()
        .map(|b| (b[0].as_str().unwrap().to_string(), b[1].as_i64().unwrap(), b[2].as_f64().unwrap()))
        .collect();
    let today_bar = counted.iter().find(|(d, _, _)| *d == today);
    b.check(
        "chart",
        today_bar.is_some_and(|(_, n, h)| *n == 3 && *h > 0.0)
            && counted.iter().filter(|(d, _, _)| *d != today).all(|(_, n, h)| *n == 0 && *h == 0.0),
        format!("{counted:?}"),
    )
    .await;
    b.keep("topic").await;

    // A story's highlighted words are the matcher's evidence.
    c.goto(&format!("{base}/")).await.unwrap();
    // The digital story (rows with the same time may come in either order).
    let href = b
        .js("return Array.from(document.querySelectorAll('ol.stories > li')).find(li => li.textContent.includes('3 sources')).querySelector('a.open').getAttribute('href');")
        .await;
    let href = href.as_str().unwrap().to_string();
    let id = href.trim_start_matches("/stories/").to_string();
    c.goto(&format!("{base}{href}")).await.unwrap();
    let marks =
        b.js("return Array.from(document.querySelectorAll('mark')).map(m => m.textContent.toLowerCase());").await;
    let marked: Vec<String> = marks.as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let (_, _, detail) =
        tokio::task::spawn_blocking(move || http_get(port, &format!("/api/articles/{id}"), None)).await.unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    // Every word of every span, once per place (field, position) the matcher reports.
    let mut spans = std::collections::BTreeMap::new();
    for m in detail["topic_matches"].as_array().unwrap() {
        for e in m["evidence"].as_array().unwrap() {
            for (k, word) in e["term"].as_str().unwrap().split(' ').enumerate() {
                let place = (e["field"].as_str().unwrap().to_string(), e["position"].as_u64().unwrap() + k as u64);
                spans.insert(place, word.to_string());
            }
        }
    }
    let mut expected: Vec<String> = spans.into_values().collect();
    let mut got = marked.clone();
    expected.sort();
    got.sort();
    b.check(
        "highlights",
        !got.is_empty() && got == expected,
        format!("marked {marked:?}, matcher's spans {expected:?}"),
    )
    .await;
    b.keep("story").await;

    c.goto(&format!("{base}/feeds")).await.unwrap();
    b.keep("feeds").await;

    // At 360 px nothing runs off the side.
    c.set_window_size(360, 800).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    let overflow = b.js("return document.documentElement.scrollWidth - window.innerWidth;").await;
    b.check("narrow", overflow.as_i64().is_some_and(|o| o <= 0), format!("{overflow} px wider")).await;
    b.keep("stories-360").await;

    // WCAG AA: text against its background at 4.5:1 at least, for every kind of text
    // the pages use.
    for page in ["/", href.as_str(), "/feeds", "/search?q=digital%20AND", "/topics/digital"] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        let worst = b.js(CONTRAST).await;
        let (ratio, what) = (worst[0].as_f64().unwrap_or(0.0), worst[1].as_str().unwrap_or_default().to_string());
        b.check("contrast", ratio >= 4.5, format!("{page}: {what} at {ratio:.2}:1")).await;
    }

    // No console errors and no CSP violations on any page.
    let errors = console_errors(c).await;
    b.check("console", errors.is_empty(), format!("{errors:?}")).await;
    b.finish(fixture).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_the_login_guards_every_page_in_a_real_browser() {
    let Some((b, fixture)) = Browser::open(&format!("token = \"{}\"", crate::web::TOKEN)).await else { return };
    let base = fixture.base.clone();
    let c = &b.client;
    for path in ["/", "/feeds", "/search?q=digital", "/topics/digital"] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let url = c.current_url().await.unwrap();
        b.check("guarded", url.path() == "/login", format!("{path} went to {url}")).await;
    }
    b.keep("login").await;
    c.find(Locator::Css("#token")).await.unwrap().send_keys("wrong").await.unwrap();
    c.find(Locator::Css("form[action='/login'] button")).await.unwrap().click().await.unwrap();
    let refused = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("p.error")).await.is_ok();
    b.check("wrong-token", refused, "no error for a wrong token").await;
    c.find(Locator::Css("#token")).await.unwrap().send_keys(crate::web::TOKEN).await.unwrap();
    c.find(Locator::Css("form[action='/login'] button")).await.unwrap().click().await.unwrap();
    // The click returns before the navigation ends: wait for the page asked for.
    let wanted = url::Url::parse(&format!("{base}/topics/digital")).unwrap();
    let _ = c.wait().at_most(Duration::from_secs(10)).for_url(&wanted).await;
    let url = c.current_url().await.unwrap();
    b.check("signed-in", url.path() == "/topics/digital", format!("at {url}")).await;
    let cookie = b.js("return document.cookie;").await;
    b.check("http-only", !cookie.as_str().unwrap_or_default().contains("kabar_session"), format!("{cookie}")).await;
    c.goto(&format!("{base}/feeds")).await.unwrap();
    let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    b.check("feeds-after-login", h1 == "Feeds", &h1).await;
    b.finish(fixture).await;
}
