//! The web interface: server-rendered pages for the people who read what kabar gathers.
//!
//! ```text
//! GET /                 stories (one row per story), filters in the URL
//! GET /stories/{id}     one article: text, topic evidence, boilerplate apart, copies
//! GET /search?q=…       the query language, with the count and the error's column
//! GET /feeds            feed health, failing first
//! GET /topics/{name}    a topic's volume per day and its latest stories
//! GET /static/…         the style sheet and the small key script, from the binary
//! GET /login, POST /login  with `[http] token`: the token for a session cookie
//! ```
//!
//! With a token set, every page but the login form and the static files needs the
//! session cookie (or the bearer token); without it a request is sent to the login.
//!
//! Pages are HTML from [`maud`] templates, read-only like the API (the same guard, the
//! same read slots and budgets), and work without the script. Their Content-Security-
//! Policy allows only kabar's own style sheet and script.

mod markup;
pub(super) mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use maud::Markup;

use super::{Api, ApiError, QueryString, Work, article_detail, article_id, query_string, read};
use crate::model::{ArticleRow, StoryCopy};
use crate::query::Query;
use crate::read::listing;
use crate::read::{SearchParams, search};

/// Stories on the home page and results on the search page.
const PAGE_ROWS: usize = 100;
/// Days a topic's volume chart covers.
const CHART_DAYS: i64 = 30;
/// The longest period a topic page charts.
const MAX_CHART_DAYS: i64 = 90;
/// Articles a topic page counts for its chart, at most.
const CHART_ARTICLES: usize = 20_000;
/// Latest stories a topic page lists, with their matched words.
const LATEST: usize = 10;

/// What the pages' Content-Security-Policy allows: kabar's own style sheet and script.
pub(super) const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The login form's path.
pub(super) const LOGIN: &str = "/login";
/// The most a login form's body may be: the token, the page to return to.
pub(super) const MAX_LOGIN_BODY: usize = 4096;

/// Whether `path` is a page (or its static files) rather than the API, metrics, health
/// or a topic's Atom feed, which take the bearer token only.
pub(super) fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path == "/metrics" || path == "/healthz" || path.ends_with(".atom"))
}

/// Pages open without a session: the login form and the static files it uses.
pub(super) fn is_open(path: &str) -> bool {
    path == LOGIN || path.starts_with("/static/")
}

/// A redirect to the login form, which returns to `uri` after.
pub(super) fn to_login(uri: &Uri) -> Response {
    let back = uri.path_and_query().map_or("/", |p| p.as_str());
    let location = format!("{LOGIN}?next={}", percent_encode(back));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where a login may send the browser after: a path of this server, nothing else.
fn local_path(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).unwrap_or("/")
}

pub(super) fn routes() -> Router<Arc<Api>> {
    Router::new()
        .route(LOGIN, get(login_form).post(login))
        .route("/", get(stories))
        .route("/stories/{id}", get(story))
        .route("/search", get(search_page))
        .route("/feeds", get(feeds))
        .route("/static/kabar.css", get(|| async { asset("text/css", include_str!("static/kabar.css")) }))
        .route("/static/kabar.js", get(|| async { asset("text/javascript", include_str!("static/kabar.js")) }))
        .route("/static/kabar.svg", get(|| async { asset("image/svg+xml", include_str!("static/kabar.svg")) }))
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// A page, or an error shown as one.
fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    let mut response = (status, markup::layout(title, body).into_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY));
    // Not "no-referrer": under it a form's POST says `Origin: null`, which the guard
    // refuses as cross-site. Other sites still learn nothing.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

fn error_page(e: ApiError) -> Response {
    page(e.status, "Error", markup::error(&e.error))
}

/// The filters a stories or search page takes, as the URL gives them (empty ones absent).
#[derive(Debug, Clone, Default)]
pub(super) struct Filters {
    pub topic: Option<String>,
    pub feed: Option<String>,
    pub lang: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl Filters {
    fn from(p: &HashMap<String, String>) -> Filters {
        let get = |k: &str| p.get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Filters { topic: get("topic"), feed: get("feed"), lang: get("lang"), since: get("since"), until: get("until") }
    }

    fn search_params(&self) -> Result<SearchParams, ApiError> {
        let now = Utc::now();
        let when = |name: &'static str, v: &Option<String>, end: bool| {
            v.as_deref()
                .map(|v| listing::parse_when(v, now, end).map_err(|e| ApiError::bad(name, format!("{name}: {e:#}"))))
                .transpose()
        };
        Ok(SearchParams {
            topic: self.topic.clone(),
            feed: self.feed.clone(),
            since: when("since", &self.since, false)?,
            until: when("until", &self.until, true)?,
            // Rows of other languages are dropped after the search: ask for more.
            limit: if self.lang.is_some() { PAGE_ROWS * 10 } else { PAGE_ROWS },
            ..SearchParams::default()
        })
    }
}

/// A story's first copy and, when it has others, every copy.
pub(super) struct StoryRow {
    pub row: ArticleRow,
    pub copies: Vec<StoryCopy>,
}

/// Runs a stories search (with `query`, if any) and loads the copies of each story
/// that has more than one.
async fn story_rows(api: &Arc<Api>, filters: &Filters, query: Option<Query>) -> Result<Vec<StoryRow>, ApiError> {
    let slot = api.search_slot()?;
    let mut p = filters.search_params()?;
    p.query = query;
    let config = api.runtime.config();
    let lang = filters.lang.clone();
    read(api, Work::Search(slot), move |r| {
        listing::check_filters(r, &config, p.topic.as_deref(), p.feed.as_deref())?;
        let rows = search(r, &p).map_err(ApiError::store)?;
        let mut out = Vec::new();
        for row in rows.into_iter().filter(|row| lang.is_none() || row.language == lang).take(PAGE_ROWS) {
            let copies = if row.sources > 1 { r.copies(row.story).map_err(ApiError::store)? } else { Vec::new() };
            out.push(StoryRow { row, copies });
        }
        Ok(out)
    })
    .await
}

async fn stories(State(api): State<Arc<Api>>, p: QueryString) -> Response {
    let result = async {
        let p = query_string(p)?;
        let filters = Filters::from(&p);
        let rows = story_rows(&api, &filters, None).await?;
        let config = api.runtime.config();
        let topics: Vec<String> = config.topics.iter().map(|t| t.name.clone()).collect();
        let feeds: Vec<String> = config.feeds.iter().map(|f| f.name.clone()).collect();
        Ok::<_, ApiError>(markup::stories(&filters, &topics, &feeds, &rows))
    }
    .await;
    match result {
        Ok(body) => page(StatusCode::OK, "Stories", body),
        Err(e) => error_page(e),
    }
}

async fn story(State(api): State<Arc<Api>>, id: Result<Path<String>, PathRejection>) -> Response {
    let result = match article_id(id) {
        Ok(id) => read(&api, Work::Other, move |r| article_detail(r, id)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(detail) => page(StatusCode::OK, &detail.row.title.clone(), markup::story(&detail)),
        Err(e) => error_page(e),
    }
}

async fn search_page(State(api): State<Arc<Api>>, p: QueryString) -> Response {
    let result = async {
        let p = query_string(p)?;
        let filters = Filters::from(&p);
        let q = p.get("q").map(|q| q.trim().to_string()).unwrap_or_default();
        let unfiltered = filters.topic.is_none() && filters.feed.is_none() && filters.lang.is_none();
        if q.is_empty() && unfiltered {
            return Ok((q, Ok(None)));
        }
        if q.is_empty() {
            return Ok((q, Ok(Some((story_rows(&api, &filters, None).await?, None)))));
        }
        match Query::parse(&q) {
            Err(e) => Ok((q, Err(e))),
            Ok(query) => {
                let tried = if p.contains_key("try") { Some(try_as_topic(&api, query.clone()).await?) } else { None };
                let rows = story_rows(&api, &filters, Some(query)).await?;
                Ok((q.clone(), Ok(Some((rows, tried)))))
            }
        }
    }
    .await;
    match result {
        Ok((q, Ok(found))) => {
            let found = found.as_ref().map(|(rows, tried)| markup::Found { rows, tried: tried.as_ref() });
            page(StatusCode::OK, "Search", markup::search(&q, Ok(found)))
        }
        // The page itself is fine: it shows where the query broke (the API answers 400).
        Ok((q, Err(e))) => page(StatusCode::OK, "Search", markup::search(&q, Err(&e))),
        Err(e) => error_page(e),
    }
}

/// Articles a "try as topic" counts at most.
const TRY_ARTICLES: usize = 100_000;

/// What `kabar topics test` answers for `query`: the articles and stories it would flag
/// (counted up to [`TRY_ARTICLES`]) of all stored.
pub(super) struct Tried {
    pub articles: usize,
    pub stories: usize,
    pub capped: bool,
    pub stored: i64,
}

async fn try_as_topic(api: &Arc<Api>, query: Query) -> Result<Tried, ApiError> {
    let slot = api.search_slot()?;
    read(api, Work::Search(slot), move |r| {
        let p = SearchParams { query: Some(query), all: true, limit: TRY_ARTICLES, ..SearchParams::default() };
        let all = search(r, &p).map_err(ApiError::store)?;
        let stories: std::collections::HashSet<i64> = all.iter().map(|r| r.story).collect();
        let stored = r.article_count().map_err(ApiError::store)?;
        Ok(Tried { articles: all.len(), stories: stories.len(), capped: all.len() == TRY_ARTICLES, stored })
    })
    .await
}

async fn feeds(State(api): State<Arc<Api>>) -> Response {
    let config = api.runtime.config();
    let now = Utc::now();
    let week = now.timestamp() - 7 * 86_400;
    let result = read(&api, Work::Other, move |r| {
        let rows = listing::feeds(r, &config).map_err(ApiError::store)?;
        Ok((rows, r.articles_since(week).map_err(ApiError::store)?))
    })
    .await;
    match result {
        Ok((mut rows, weekly)) => {
            // Failing first, then by name.
            rows.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.name.cmp(&b.name)));
            page(StatusCode::OK, "Feeds", markup::feeds(&rows, &weekly, now))
        }
        Err(e) => error_page(e),
    }
}

/// `/topics/{name}` (the Atom feed is `/topics/{name}.atom`), over `?days=` (1 to 90,
/// 30 unless given).
pub(super) async fn topic(api: Arc<Api>, name: String, days: Option<String>) -> Response {
    let config = api.runtime.config();
    if !config.topics.iter().any(|t| t.name == name) {
        return error_page(ApiError::new(StatusCode::NOT_FOUND, format!("no topic {name:?}"), Some("name")));
    }
    let days = match days.as_deref().map(str::parse::<i64>) {
        None => CHART_DAYS,
        Some(Ok(d)) if (1..=MAX_CHART_DAYS).contains(&d) => d,
        Some(_) => return error_page(ApiError::bad("days", format!("days is a number from 1 to {MAX_CHART_DAYS}"))),
    };
    let slot = match api.search_slot() {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let now = Utc::now();
    let topic = name.clone();
    let result = read(&api, Work::Search(slot), move |r| {
        let p = SearchParams {
            // By first sight, which `since` (the published time) is not: the chart
            // counts the newest rows' days itself.
            topic: Some(topic.clone()),
            all: true,
            limit: CHART_ARTICLES,
            ..SearchParams::default()
        };
        let rows = search(r, &p).map_err(ApiError::store)?;
        let volume = markup::buckets(&rows, now, days);
        let mut stories = Vec::new();
        for s in rows.iter().filter(|r| r.duplicate_of.is_none()).take(LATEST) {
            let mut words: Vec<String> = r
                .topic_matches(s.id)
                .map_err(ApiError::store)?
                .into_iter()
                .filter(|m| m.topic == topic)
                .flat_map(|m| m.evidence.into_iter().map(|e| e.term))
                .collect();
            words.sort();
            words.dedup();
            stories.push((s.clone(), words));
        }
        let progress =
            r.topic_progress().map_err(ApiError::store)?.get(&topic).map(|p| p.percent()).filter(|p| *p < 100);
        Ok(markup::TopicView { name: topic, days, volume, stories, progress })
    })
    .await;
    match result {
        Ok(view) => page(StatusCode::OK, &name, markup::topic(&view)),
        Err(e) => error_page(e),
    }
}

async fn login_form(State(api): State<Arc<Api>>, p: QueryString) -> Response {
    let next = query_string(p).ok().and_then(|p| p.get("next").cloned());
    let open = api.token.is_none();
    page(StatusCode::OK, "Sign in", markup::login(local_path(next.as_deref()), open, None))
}

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// The token for a session: a cookie and back to the page asked for, or the form again.
async fn login(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            markup::login("/", false, Some("the form was not understood")),
        );
    };
    let next = local_path(form.next.as_deref()).to_string();
    let Some(token) = api.token.as_deref() else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    };
    if !super::same_token(form.token.as_bytes(), token) {
        return page(StatusCode::UNAUTHORIZED, "Sign in", markup::login(&next, false, Some("that is not the token")));
    }
    let Some(id) = api.sessions.create() else {
        return error_page(ApiError::internal("no randomness for a session id"));
    };
    let cookie = session::set_cookie(&id, &headers);
    (StatusCode::SEE_OTHER, [(header::LOCATION, next), (header::SET_COOKIE, cookie)]).into_response()
}
