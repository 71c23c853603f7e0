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
//! and the web interface's pages (`web`): `/`, `/stories/{id}`, `/search`, `/feeds`,
//! `/topics/{name}`.
//!
//! Every response carries `X-Content-Type-Options: nosniff` and a Content-Security-
//! Policy that allows nothing (a page: only kabar's own style sheet and script); HTML
//! from feeds is served only after ammonia has sanitised it (scripts, event handlers
//! and links other than http(s) removed, links made absolute). Every error is JSON:
//! `{"error", "parameter"}`. With `[http] token`, requests need `Authorization: Bearer
//! TOKEN` (pages: that, or a login session). Only GET and HEAD exist, and the login
//! form's small POST: nothing a request can do changes anything stored.
//!
//! What a client may cost is bounded (ARCHITECTURE.md, bounds): `server` caps and times
//! out connections; [`guard`] refuses oversized heads, bodies, other methods, foreign
//! `Host` names and cross-site requests; searches run at most `[http] max_searches` at
//! once (503 past it), each within `[http] search_timeout` and stopped when its client
//! goes; other reads wait at most [`READ_WAIT`] for one of [`READERS`] connections.

pub mod server;
mod web;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query as QueryParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::config::Live;
use crate::metrics::Gauges;
use crate::metrics::Metrics;
use crate::model::rfc3339;
use crate::query::Query;
use crate::read::listing;
use crate::read::{SearchParams, search};
use crate::store::Writer;
use crate::store::{Budget, Reader, StoreError};

/// Articles a listing returns at most.
const MAX_LIMIT: usize = 1000;
/// Stories in a topic's Atom feed.
const ATOM_ENTRIES: usize = 50;
/// Database connections for reads other than searches.
pub const READERS: usize = 8;
/// Index terms of the searches running at once (each term of a search's index
/// expression is a posting-list cursor, about 3 KiB in SQLite: a search at the query
/// limit of 20,000 terms takes some 60 MiB). A search whose terms do not fit beside
/// the ones running gets a 503, so concurrent searches cannot add up past ~75 MiB.
pub const SEARCH_TERMS: usize = 24_000;
/// How long a read waits for one of them before the API answers 503.
pub const READ_WAIT: Duration = Duration::from_secs(2);
/// The longest request target (path and query) answered; longer gets a 414.
pub const MAX_TARGET: usize = 16 << 10;
/// The most header bytes answered; more gets a 431.
pub const MAX_HEADERS: usize = 32 << 10;
/// A request head must arrive within this; it is also how long a kept-alive connection
/// waits for its next request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection on which no byte moves either way for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the API reads of the daemon it runs in; the daemon builds it.
pub struct AppState {
    /// The configuration now (a reload replaces it).
    pub config: Arc<Live>,
    /// The database the readers open.
    pub database: crate::config::Database,
    pub metrics: Arc<Metrics>,
    /// For the queue depth and write times in `/metrics`.
    pub writer: Arc<Writer>,
    pub polls_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    pub started: std::time::Instant,
}

impl AppState {
    fn config(&self) -> Arc<crate::config::Config> {
        self.config.get()
    }
}

/// What the API's handlers share: the daemon's state, and the API's own limits.
pub struct Api {
    runtime: Arc<AppState>,
    searches: Semaphore,
    /// [`SEARCH_TERMS`], taken by each search for its index terms.
    search_terms: Semaphore,
    reads: Semaphore,
    search_timeout: Duration,
    /// Host names answered besides `localhost` and IP addresses.
    hosts: Vec<String>,
    token: Option<String>,
    /// The pages' login sessions (with `token`).
    sessions: web::session::Sessions,
}

/// Serves until `stop` turns true.
pub async fn serve(listener: tokio::net::TcpListener, runtime: Arc<AppState>, stop: watch::Receiver<bool>) {
    let config = runtime.config();
    let fd_limit = server::raise_fd_limit();
    let connections = server::Limits::connections(
        config.http.max_connections,
        fd_limit,
        config.fetch.concurrency,
        READERS + config.http.max_searches,
    );
    if connections < config.http.max_connections {
        tracing::warn!(
            connections,
            fd_limit,
            "the descriptor limit leaves room for fewer API connections than http.max_connections; raise LimitNOFILE"
        );
    }
    let limits = server::Limits { connections, header_timeout: HEADER_TIMEOUT, idle_timeout: IDLE_TIMEOUT };
    server::serve(listener, router(runtime), limits, stop).await;
}

pub fn router(runtime: Arc<AppState>) -> Router {
    let http = runtime.config().http.clone();
    let api = Arc::new(Api {
        runtime,
        searches: Semaphore::new(http.max_searches),
        search_terms: Semaphore::new(SEARCH_TERMS),
        reads: Semaphore::new(READERS),
        search_timeout: http.search_timeout,
        hosts: http.hosts,
        token: http.token,
        sessions: Default::default(),
    });
    Router::new()
        .route("/api/articles", get(articles))
        .route("/api/articles/{id}", get(article))
        .route("/api/feeds", get(feeds))
        .route("/api/topics", get(topics))
        .route("/topics/{file}", get(topic_feed))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .merge(web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint", None) })
        .layer(middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api)
}

/// Everything a request must pass before a handler sees it, and the security headers
/// on every response.
async fn guard(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let mut response = match refusal(&api, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    };
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A page of the web interface has set its own (kabar's style sheet and script only).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    response
}

/// Why a request is refused before routing, if it is: sizes, method, body, host,
/// origin, token, in that order. A page without the token or a session goes to the
/// login form instead.
fn refusal(api: &Api, request: &Request) -> Option<Response> {
    if let Some(e) = refusal_error(api, request) {
        return Some(e.into_response());
    }
    let token = api.token.as_deref()?;
    if authorised(request.headers(), token) {
        return None;
    }
    let path = request.uri().path();
    if !web::is_page(path) {
        return Some(ApiError::new(StatusCode::UNAUTHORIZED, "a bearer token is required", None).into_response());
    }
    if web::is_open(path) || api.sessions.valid(request.headers()) {
        return None;
    }
    Some(web::to_login(request.uri()))
}

/// [`refusal`] up to the token.
fn refusal_error(api: &Api, request: &Request) -> Option<ApiError> {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is {target} bytes; at most {MAX_TARGET} are read"),
            None,
        ));
    }
    let headers = request.headers();
    let header_bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADERS {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the headers are {header_bytes} bytes; at most {MAX_HEADERS} are read"),
            None,
        ));
    }
    // The login form's POST is the one request with a body, and a small one.
    let login = request.method() == Method::POST && request.uri().path() == web::LOGIN;
    if request.method() != Method::GET && request.method() != Method::HEAD && !login {
        return Some(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD requests are answered", None));
    }
    let length =
        headers.get(header::CONTENT_LENGTH).and_then(|l| l.to_str().ok()).and_then(|l| l.parse::<usize>().ok());
    let has_body = headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l > 0);
    if has_body && !(login && length.is_some_and(|l| l <= web::MAX_LOGIN_BODY)) {
        return Some(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "requests take no body", None));
    }
    let host = request.uri().host().map(str::to_string).or_else(|| {
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(|h| host_of_authority(h).map(str::to_string))
    });
    match host {
        Some(h) if api.host_allowed(&h) => {}
        Some(h) => {
            return Some(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!("this server does not answer for {:?}; list the name in [http] hosts", h),
                None,
            ));
        }
        None => return Some(ApiError::new(StatusCode::BAD_REQUEST, "a Host header is required", None)),
    }
    if cross_site(headers) {
        return Some(ApiError::new(StatusCode::FORBIDDEN, "cross-site requests are refused", None));
    }
    None
}

impl Api {
    /// `localhost`, an IP address, or a configured name: a DNS-rebinding page reaches the
    /// server under its own name, which is none of these.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "localhost"
            || host.ends_with(".localhost")
            || host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok()
            || self.hosts.contains(&host)
    }
}

/// The host of `host[:port]` (an IPv6 address in brackets keeps them).
fn host_of_authority(authority: &str) -> Option<&str> {
    let authority = authority.trim();
    let host = if authority.starts_with('[') {
        &authority[..=authority.find(']')?]
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.is_empty() || port.bytes().all(|b| b.is_ascii_digit()) { h } else { authority }
        })
    };
    (!host.is_empty()).then_some(host)
}

/// Whether a browser says another site sent this request (`Sec-Fetch-Site`, or an
/// `Origin` other than the server's own). A top-level navigation is let through: the
/// other site cannot read its answer.
fn cross_site(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    let navigation = value("sec-fetch-mode").as_deref() == Some("navigate");
    if matches!(value("sec-fetch-site").as_deref(), Some("cross-site" | "same-site")) && !navigation {
        return true;
    }
    match (value("origin"), value("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
            origin_host != Some(host.as_str())
        }
        _ => false,
    }
}

/// A `Bearer` token (the scheme in any case, RFC 7235) equal to `token`, compared in
/// constant time over [`crate::config::MAX_TOKEN_LEN`] bytes, so neither the token nor
/// its length shows in the time taken.
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, given)| given.trim().as_bytes());
    given.is_some_and(|g| same_token(g, token))
}

/// Whether `given` is `token`, in constant time (see [`authorised`]).
fn same_token(given: &[u8], token: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    const WIDTH: usize = crate::config::MAX_TOKEN_LEN;
    if given.len() > WIDTH {
        return false;
    }
    let (mut a, mut b) = ([0u8; WIDTH], [0u8; WIDTH]);
    a[..given.len()].copy_from_slice(given);
    b[..token.len().min(WIDTH)].copy_from_slice(&token.as_bytes()[..token.len().min(WIDTH)]);
    let same_length = (given.len() as u64).ct_eq(&(token.len() as u64));
    (a.ct_eq(&b) & same_length).into()
}

/// An error as JSON: `{"error": "...", "parameter": "since"}`.
#[derive(Debug, Serialize)]
struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'static str>,
    /// Seconds a client should wait before trying again (sent as `Retry-After`).
    #[serde(skip)]
    retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, parameter: Option<&'static str>) -> ApiError {
        ApiError { status, error: error.into(), parameter, retry_after: None }
    }

    fn bad(parameter: &'static str, error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, Some(parameter))
    }

    fn busy(what: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}; try again shortly"), None);
        e.retry_after = Some(1);
        e
    }

    fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", None)
    }

    fn store(e: StoreError) -> ApiError {
        match e {
            StoreError::OutOfBudget => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the search ran past its time budget ([http] search_timeout); narrow it: fewer words, a shorter since",
                None,
            ),
            e @ (StoreError::Missing(_) | StoreError::Open { .. }) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), None)
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry_after = self.retry_after;
        let mut response = (status, axum::Json(self)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
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

/// Which connections a read takes: a search's (its slot taken, see [`Api::search_slot`],
/// and budgeted) or another's.
enum Work<'a> {
    Search(tokio::sync::SemaphorePermit<'a>),
    Other,
}

impl Api {
    /// One of the search slots, at once, or a 503: taken before the query is even parsed,
    /// so a crowd of clients past the cap costs almost nothing.
    fn search_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.searches.try_acquire().map_err(|_| ApiError::busy("too many searches at once"))
    }
}

/// Set when the request it belongs to is dropped (its client went away), so the
/// search it started stops at its next step.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` with a read-only connection on a blocking thread (the async threads only
/// move bytes). A search runs within its budget and stops when the request is dropped.
/// Other reads wait up to [`READ_WAIT`] for a connection.
async fn read<T: Send + 'static>(
    api: &Api,
    work: Work<'_>,
    f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (_permit, budget) = match work {
        Work::Search(permit) => (permit, Some(Budget::new(Instant::now() + api.search_timeout))),
        Work::Other => {
            let permit = tokio::time::timeout(READ_WAIT, api.reads.acquire())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or_else(|| ApiError::busy("the database readers are all busy"))?;
            (permit, None)
        }
    };
    let cancelled = budget.as_ref().map(Budget::cancelled);
    let _cancel = cancelled.clone().map(CancelOnDrop);
    let db = api.runtime.database.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = Reader::open(&db).map_err(ApiError::store)?;
        if let Some(budget) = budget {
            reader.set_budget(budget).map_err(ApiError::store)?;
        }
        let result = f(&reader);
        if result.is_err() && cancelled.is_some_and(|c| c.load(Ordering::Relaxed)) {
            tracing::info!("a search stopped: its client went away");
        }
        result
    })
    .await
    .map_err(ApiError::internal)?
}

/// A request's query string, as axum reads it.
type QueryString = Result<QueryParams<HashMap<String, String>>, QueryRejection>;

/// The query string as a map, or a 400 saying why it is not one.
fn query_string(q: QueryString) -> Result<HashMap<String, String>, ApiError> {
    q.map(|QueryParams(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad query string: {}", e.body_text()), None))
}

/// The article id a path names, or a 400.
fn article_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad("id", format!("bad article id: {}", e.body_text())))?;
    id.parse().map_err(|_| ApiError::bad("id", format!("{id:?} is not an article id")))
}

/// Article `id` as `kabar show` gives it, or a 404.
fn article_detail(r: &Reader, id: i64) -> Result<crate::model::ArticleDetail, ApiError> {
    crate::read::show::article(r, id)
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no article with id {id}"), Some("id")))
}

impl From<listing::FilterError> for ApiError {
    fn from(e: listing::FilterError) -> ApiError {
        match e {
            listing::FilterError::Unknown { parameter, message } => ApiError::bad(parameter, message),
            listing::FilterError::Store(e) => ApiError::store(e),
        }
    }
}

async fn articles(State(api): State<Arc<Api>>, params: QueryString) -> Result<Response, ApiError> {
    let slot = api.search_slot()?;
    let params = query_string(params)?;
    let known = ["q", "topic", "feed", "since", "until", "all", "limit"];
    if let Some(unknown) = params.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {unknown:?} (known: {})", known.join(", ")),
            None,
        ));
    }
    let now = Utc::now();
    let q = params.get("q").map(|q| q.trim().to_string()).filter(|q| !q.is_empty());
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
    let api_terms = api.clone();
    let mut search_params = SearchParams {
        query: None,
        topic: params.get("topic").cloned(),
        feed: params.get("feed").cloned(),
        since: when("since", false)?,
        until: when("until", true)?,
        all,
        limit,
    };
    let config = api.runtime.config();
    let rows = read(&api, Work::Search(slot), move |r| {
        // Parsing compiles the query's word forms: work for this thread, not the async ones.
        let query =
            q.map(|q| Query::parse(&q).map_err(|e| ApiError::bad("q", format!("invalid query: {e}")))).transpose()?;
        let terms = query.as_ref().map_or(0, Query::index_terms) as u32;
        let _terms = api_terms
            .search_terms
            .try_acquire_many(terms)
            .map_err(|_| ApiError::busy("the searches running leave no room for one this large"))?;
        search_params.query = query;
        listing::check_filters(r, &config, search_params.topic.as_deref(), search_params.feed.as_deref())?;
        search(r, &search_params).map_err(ApiError::store)
    })
    .await?;
    Ok(json(&rows))
}

/// An article with its HTML, sanitised.
#[derive(Serialize)]
struct ArticleView {
    #[serde(flatten)]
    detail: crate::model::ArticleDetail,
    html: Option<String>,
}

async fn article(State(api): State<Arc<Api>>, id: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let id = article_id(id)?;
    let view = read(&api, Work::Other, move |r| {
        let detail = article_detail(r, id)?;
        let html = r.article_html(id).map_err(ApiError::store)?.and_then(sanitised);
        Ok(ArticleView { detail, html })
    })
    .await?;
    Ok(json(&view))
}

async fn feeds(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let config = api.runtime.config();
    let rows = read(&api, Work::Other, move |r| listing::feeds(r, &config).map_err(ApiError::store)).await?;
    Ok(json(&rows))
}

async fn topics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let config = api.runtime.config();
    let now = Utc::now().timestamp();
    let rows = read(&api, Work::Other, move |r| listing::topics(r, &config, now).map_err(ApiError::store)).await?;
    Ok(json(&rows))
}

async fn topic_feed(
    State(api): State<Arc<Api>>,
    file: Result<Path<String>, PathRejection>,
    query: QueryString,
) -> Result<Response, ApiError> {
    let Path(file) = file.map_err(|e| ApiError::bad("name", format!("bad topic name: {}", e.body_text())))?;
    let Some(name) = file.strip_suffix(".atom") else {
        let days = query_string(query).ok().and_then(|mut q| q.remove("days"));
        return Ok(web::topic(api, file, days).await);
    };
    let config = api.runtime.config();
    let Some(topic) = config.topics.iter().find(|t| t.name == name).cloned() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no topic {name:?}"), Some("name")));
    };
    let slot = api.search_slot()?;
    let xml = read(&api, Work::Search(slot), move |r| {
        let params = SearchParams { topic: Some(topic.name.clone()), limit: ATOM_ENTRIES, ..SearchParams::default() };
        let stories = search(r, &params).map_err(ApiError::store)?;
        let mut entries = Vec::with_capacity(stories.len());
        for s in stories {
            let html = r.article_html(s.id).map_err(ApiError::store)?.and_then(sanitised);
            entries.push((s, html));
        }
        Ok(atom(&topic, &entries))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], xml).into_response())
}

async fn metrics(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let runtime = &api.runtime;
    let db = runtime.database.clone();
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (database_bytes, wal_bytes) = match db.sqlite() {
        Some(path) => {
            let wal = size(&crate::store::wal_path(path));
            (size(path) + wal, wal)
        }
        // The server's log is its own: what the database takes is what it reports.
        None => (read(&api, Work::Other, |r| r.database_bytes().map_err(ApiError::store)).await.unwrap_or(0), 0),
    };
    let alerts_pending = read(&api, Work::Other, |r| r.pending_alerts().map_err(ApiError::store)).await.unwrap_or(-1);
    let gauges = Gauges {
        queue_depth: runtime.writer.queue_depth(),
        database_bytes,
        wal_bytes,
        write_times: runtime.writer.write_times(),
        polls_in_flight: runtime.polls_in_flight.load(Ordering::Relaxed),
        alerts_pending,
        worker: runtime.writer.shared().then(|| runtime.writer.worker().to_string()),
    };
    let text = runtime.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

async fn healthz(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    let articles = read(&api, Work::Other, |r| r.article_count().map_err(ApiError::store)).await?;
    let runtime = &api.runtime;
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
    // Characters XML 1.0 does not allow at all are dropped; quick-xml escapes the rest.
    let allowed =
        |c: &char| ((*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r')) && !matches!(c, '\u{fffe}' | '\u{ffff}');
    let s: std::borrow::Cow<'_, str> =
        if s.chars().all(|c| allowed(&c)) { s.into() } else { s.chars().filter(allowed).collect::<String>().into() };
    quick_xml::escape::escape(s.as_ref()).into_owned()
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
                assert!(
                    !clean.contains(&format!("=\"{bad}")) && !clean.contains(bad),
                    "{bad} with base {base}: {clean}"
                );
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
