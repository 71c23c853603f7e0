//! The HTTP API, on when `[http] listen` is set.
//!
//! ```text
//! GET /api/articles        the same filters and query language as `kabar search`
//! GET /api/articles/{id}   one article with its topics, copies and sanitised HTML
//! GET /api/feeds           as `kabar feeds`
//! GET /api/topics          as `kabar topics`
//! GET /topics/{name}.atom  the stories flagged for a topic, one entry per story
//! GET /metrics             Prometheus text format
//! GET /healthz             200 while the daemon runs and the database reads
//! ```
//!
//! Every response carries `X-Content-Type-Options: nosniff` and a Content-Security-
//! Policy that allows nothing; HTML from feeds is served only after ammonia has
//! sanitised it (scripts, event handlers and `javascript:` links removed, links made
//! absolute). Bad parameters get a 400 with `{"error", "parameter"}`. With
//! `[http] token`, requests need `Authorization: Bearer TOKEN`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query as QueryParams, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::watch;

use crate::daemon::Runtime;
use crate::metrics::Gauges;
use crate::model::rfc3339;
use crate::query::search::{SearchParams, search};
use crate::query::{Query, listing};
use crate::store::Reader;

/// Articles a listing returns at most.
const MAX_LIMIT: usize = 1000;
/// Stories in a topic's Atom feed.
const ATOM_ENTRIES: usize = 50;

/// Serves until `stop` turns true.
pub async fn serve(listener: tokio::net::TcpListener, runtime: Arc<Runtime>, mut stop: watch::Receiver<bool>) {
    let app = router(runtime);
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "the HTTP API stopped");
    }
}

pub fn router(runtime: Arc<Runtime>) -> Router {
    Router::new()
        .route("/api/articles", get(articles))
        .route("/api/articles/{id}", get(article))
        .route("/api/feeds", get(feeds))
        .route("/api/topics", get(topics))
        .route("/topics/{file}", get(topic_feed))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint", None) })
        .layer(middleware::from_fn_with_state(runtime.clone(), guard))
        .with_state(runtime)
}

/// Authentication (when a token is set) and the security headers on every response.
async fn guard(State(runtime): State<Arc<Runtime>>, request: Request, next: Next) -> Response {
    let token = runtime.config().http.token.clone();
    let authorised = match &token {
        None => true,
        Some(t) => request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), t.as_bytes())),
    };
    let mut response = if authorised {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "a bearer token is required", None).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error as JSON: `{"error": "...", "parameter": "since"}`.
#[derive(Debug, Serialize)]
struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, parameter: Option<&'static str>) -> ApiError {
        ApiError { status, error: error.into(), parameter }
    }

    fn bad(parameter: &'static str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, Some(parameter))
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, axum::Json(self)).into_response()
    }
}

/// JSON with C1 controls escaped like the CLI's (see `output::json_safe`).
fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => {
            let body = crate::output::json_safe(&text).into_owned();
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Runs `f` with a read-only connection on a blocking thread.
async fn read<T: Send + 'static>(
    runtime: &Runtime,
    f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = runtime.database.clone();
    tokio::task::spawn_blocking(move || {
        let reader =
            Reader::open(&db).map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), None))?;
        f(&reader)
    })
    .await
    .map_err(ApiError::internal)?
}

async fn articles(
    State(runtime): State<Arc<Runtime>>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let known = ["q", "topic", "feed", "since", "until", "all", "limit"];
    if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {unknown:?} (known: {})", known.join(", ")),
            None,
        ));
    }
    let now = Utc::now();
    let query = match params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) {
        Some(q) => Some(Query::parse(q).map_err(|e| ApiError::bad("q", format!("invalid query: {e}")))?),
        None => None,
    };
    let when = |name: &'static str, end: bool| -> Result<Option<i64>, ApiError> {
        params
            .get(name)
            .map(|v| listing::parse_when(v, now, end).map_err(|e| ApiError::bad(name, format!("{e:#}"))))
            .transpose()
    };
    let all = match params.get("all").map(String::as_str) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") | Some("") => true,
        Some(other) => return Err(ApiError::bad("all", format!("{other:?} is not true or false"))),
    };
    let limit = match params.get("limit") {
        None => 50,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(ApiError::bad("limit", format!("{v:?} is not a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let search_params = SearchParams {
        query,
        topic: params.get("topic").cloned(),
        feed: params.get("feed").cloned(),
        since: when("since", false)?,
        until: when("until", true)?,
        all,
        limit,
    };
    let rows = read(&runtime, move |r| search(r, &search_params).map_err(ApiError::internal)).await?;
    Ok(json(&rows))
}

/// An article with its HTML, sanitised.
#[derive(Serialize)]
struct ArticleView {
    #[serde(flatten)]
    detail: crate::model::ArticleDetail,
    html: Option<String>,
}

async fn article(State(runtime): State<Arc<Runtime>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::bad("id", format!("{id:?} is not an article id")))?;
    let view = read(&runtime, move |r| {
        let Some(detail) = r.detail(id).map_err(ApiError::internal)? else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no article with id {id}"), Some("id")));
        };
        let html = r.article_html(id).map_err(ApiError::internal)?.and_then(sanitised);
        Ok(ArticleView { detail, html })
    })
    .await?;
    Ok(json(&view))
}

async fn feeds(State(runtime): State<Arc<Runtime>>) -> Result<Response, ApiError> {
    let config = runtime.config();
    let rows = read(&runtime, move |r| listing::feeds(r, &config).map_err(ApiError::internal)).await?;
    Ok(json(&rows))
}

async fn topics(State(runtime): State<Arc<Runtime>>) -> Result<Response, ApiError> {
    let config = runtime.config();
    let now = Utc::now().timestamp();
    let rows = read(&runtime, move |r| listing::topics(r, &config, now).map_err(ApiError::internal)).await?;
    Ok(json(&rows))
}

async fn topic_feed(State(runtime): State<Arc<Runtime>>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some(name) = file.strip_suffix(".atom") else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "topic feeds are /topics/NAME.atom", None));
    };
    let config = runtime.config();
    let Some(topic) = config.topics.iter().find(|t| t.name == name).cloned() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no topic {name:?}"), Some("name")));
    };
    let xml = read(&runtime, move |r| {
        let params = SearchParams { topic: Some(topic.name.clone()), limit: ATOM_ENTRIES, ..SearchParams::default() };
        let stories = search(r, &params).map_err(ApiError::internal)?;
        let mut entries = Vec::with_capacity(stories.len());
        for s in stories {
            let html = r.article_html(s.id).map_err(ApiError::internal)?.and_then(sanitised);
            entries.push((s, html));
        }
        Ok(atom(&topic, &entries))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], xml).into_response())
}

async fn metrics(State(runtime): State<Arc<Runtime>>) -> Result<Response, ApiError> {
    let db = runtime.database.clone();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal_bytes = size(&crate::store::wal_path(&db));
    let alerts_pending = read(&runtime, |r| r.pending_alerts().map_err(ApiError::internal)).await.unwrap_or(-1);
    let gauges = Gauges {
        queue_depth: runtime.ctx.writer.queue_depth(),
        database_bytes: size(&db) + wal_bytes,
        wal_bytes,
        write_times: runtime.ctx.writer.write_times(),
        polls_in_flight: runtime.in_flight.load(std::sync::atomic::Ordering::Relaxed),
        alerts_pending,
    };
    let text = runtime.ctx.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn healthz(State(runtime): State<Arc<Runtime>>) -> Result<Response, ApiError> {
    let articles = read(&runtime, |r| r.article_count().map_err(ApiError::internal)).await?;
    let body = serde_json::json!({
        "status": "ok",
        "uptime_seconds": runtime.started.elapsed().as_secs(),
        "feeds": runtime.config().feeds.len(),
        "articles": articles,
    });
    Ok(json(&body))
}

fn sanitised(a: crate::store::ArticleHtml) -> Option<String> {
    Some(sanitise(&a.html?, a.url.as_deref()))
}

/// HTML from a feed made safe to serve: ammonia's allow-list (no scripts, styles,
/// event handlers), links and sources only to http(s) URLs, relative ones made absolute
/// against the article's address when that is an http(s) URL and dropped otherwise,
/// links opened without a referrer.
pub fn sanitise(html: &str, base: Option<&str>) -> String {
    let mut b = ammonia::Builder::default();
    b.link_rel(Some("noopener noreferrer nofollow"));
    b.url_schemes(["http", "https"].into_iter().collect());
    match base.filter(|u| crate::model::is_web_url(u)).and_then(|u| url::Url::parse(u).ok()) {
        Some(url) => b.url_relative(ammonia::UrlRelative::RewriteWithBase(url)),
        None => b.url_relative(ammonia::UrlRelative::Deny),
    };
    b.clean(html).to_string()
}

/// An Atom feed of a topic's stories (the first copy of each).
fn atom(topic: &crate::config::TopicConfig, entries: &[(crate::model::ArticleRow, Option<String>)]) -> String {
    let updated =
        entries.iter().map(|(r, _)| r.fetched.as_str()).max().map(str::to_string).unwrap_or_else(|| rfc3339(0));
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    out.push_str(&format!("  <id>urn:kabar:topic:{}</id>\n", xml_escape(&topic.name)));
    out.push_str(&format!("  <title>kabar: {}</title>\n", xml_escape(&topic.name)));
    if let Some(d) = &topic.description {
        out.push_str(&format!("  <subtitle>{}</subtitle>\n", xml_escape(d)));
    }
    out.push_str(&format!("  <updated>{updated}</updated>\n  <generator>kabar</generator>\n"));
    for (row, html) in entries {
        out.push_str("  <entry>\n");
        out.push_str(&format!("    <id>urn:kabar:story:{}</id>\n", row.story));
        out.push_str(&format!("    <title>{}</title>\n", xml_escape(&row.title)));
        if let Some(url) = &row.url {
            out.push_str(&format!("    <link rel=\"alternate\" href=\"{}\"/>\n", xml_escape(url)));
        }
        out.push_str(&format!("    <updated>{}</updated>\n", row.fetched));
        if let Some(p) = &row.published {
            out.push_str(&format!("    <published>{p}</published>\n"));
        }
        out.push_str(&format!("    <author><name>{}</name></author>\n", xml_escape(&row.feed)));
        let sources =
            if row.sources > 1 { format!("<p>{} sources carry this story.</p>", row.sources) } else { String::new() };
        let body = format!("{}{sources}", html.as_deref().unwrap_or(""));
        out.push_str(&format!("    <content type=\"html\">{}</content>\n", xml_escape(&body)));
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_removes_scripts_handlers_and_javascript_links() {
        let hostile = r#"<p onclick="steal()">Hi <script>alert(1)</script><a href="javascript:alert(2)">x</a>
            <img src="/a.png" onerror="alert(3)"><a href="/rel">rel</a><style>p{}</style>
            <svg><script>alert(4)</script></svg><iframe src="https://evil.example"></iframe></p>"#;
        let clean = sanitise(hostile, Some("https://news.example/story/1"));
        for bad in ["script", "onclick", "onerror", "javascript:", "<style", "<svg", "<iframe", "alert("] {
            assert!(!clean.contains(bad), "{bad} survived: {clean}");
        }
        assert!(clean.contains("href=\"https://news.example/rel\""), "{clean}");
        assert!(clean.contains("src=\"https://news.example/a.png\""), "{clean}");
    }

    #[test]
    fn links_resolve_only_against_an_http_base_and_only_to_http() {
        let html = r##"<a href="#more">more</a> <a href="/next">next</a> <a href="mailto:x@e.org">mail</a>
            <a href="ftp://e.org/f">ftp</a> <img src="data:image/png;base64,AAAA"> <a href="https://e.org/ok">ok</a>"##;
        // An item whose own link is code: its relative links have no base and go.
        for base in ["javascript:alert(document.domain)//", "vbscript:msgbox(1)", "data:text/html,x"] {
            let clean = sanitise(html, Some(base));
            for bad in ["javascript:", "vbscript:", "data:", "mailto:", "ftp:", "#more", "/next"] {
                assert!(!clean.contains(&format!("=\"{bad}")) && !clean.contains(bad), "{bad} with base {base}: {clean}");
            }
            assert!(clean.contains("href=\"https://e.org/ok\""), "{clean}");
        }
        let clean = sanitise(html, Some("https://news.example/a/1"));
        assert!(clean.contains("href=\"https://news.example/a/1#more\""), "{clean}");
        assert!(clean.contains("href=\"https://news.example/next\""), "{clean}");
        assert!(!clean.contains("mailto:") && !clean.contains("ftp:") && !clean.contains("data:"), "{clean}");
    }

    /// Vectors after the feedparser and ammonia test suites and the OWASP XSS cheat sheet.
    const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<img src=\"javascript:alert(1)\">",
        "<IMG SRC=JaVaScRiPt:alert(1)>",
        "<img src=\"jav&#x09;ascript:alert(1)\">",
        "<img src=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\" javascript:alert(1)\">x</a>",
        "<a href=\"vbscript:msgbox(1)\">x</a>",
        "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
        "<body onload=alert(1)>",
        "<svg onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<math><maction actiontype=\"statusline\" xlink:href=\"javascript:alert(1)\">x</maction></math>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<object data=\"https://evil.example/x.swf\"></object>",
        "<embed src=\"https://evil.example/x.swf\">",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<base href=\"https://evil.example/\">",
        "<form action=\"https://evil.example\"><input name=q></form>",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<div style=\"width: expression(alert(1))\">x</div>",
        "<style>body{background:url(javascript:alert(1))}</style>",
        "<link rel=stylesheet href=\"https://evil.example/x.css\">",
        "<table background=\"javascript:alert(1)\"><tr><td>x</td></tr></table>",
        "<p onmouseover=\"alert(1)\">hover</p>",
        "<![CDATA[<script>alert(1)</script>]]>",
        "<!--<script>alert(1)</script>-->",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "<a href=\"java\u{0}script:alert(1)\">x</a>",
        "<details open ontoggle=alert(1)>",
        "<video><source onerror=alert(1)></video>",
        "<input autofocus onfocus=alert(1)>",
        "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
    ];

    #[test]
    fn no_hostile_vector_survives_sanitising() {
        let dangerous = [
            "<script",
            "javascript:",
            "vbscript:",
            "data:text/html",
            "onerror",
            "onload",
            "onmouseover",
            "ontoggle",
            "onfocus",
            "<iframe",
            "<object",
            "<embed",
            "<meta",
            "<base",
            "<form",
            "<input",
            "<style",
            "expression(",
            "<link",
            "<svg",
            "<math",
            "background=",
        ];
        let mut survivors = Vec::new();
        for v in HOSTILE {
            let clean = sanitise(v, Some("https://news.example/a")).to_ascii_lowercase();
            for d in dangerous {
                if clean.contains(d) {
                    survivors.push(format!("{v} -> {clean}"));
                }
            }
        }
        assert!(survivors.is_empty(), "{survivors:#?}");
    }

    #[test]
    fn xml_escape_drops_what_xml_forbids() {
        assert_eq!(xml_escape("a<b & \"c\" \u{1b}[2J"), "a&lt;b &amp; &quot;c&quot; [2J");
    }
}
