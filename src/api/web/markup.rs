//! The pages' HTML. maud escapes every value it is given; nothing from a feed is
//! inserted as markup.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use std::collections::{HashMap, HashSet};

use super::{Filters, StoryRow, Tried};
use crate::model::{ArticleDetail, ArticleRow, FeedStatus, Field, StoryCopy};
use crate::query::QueryError;

pub(super) fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · kabar" }
                link rel="stylesheet" href="/static/kabar.css";
                link rel="icon" href="/static/kabar.svg" type="image/svg+xml";
                script src="/static/kabar.js" defer {}
            }
            body {
                header {
                    nav aria-label="kabar" {
                        a href="/" { "Stories" } " · "
                        a href="/feeds" { "Feeds" }
                    }
                    form action="/search" method="get" role="search" {
                        label for="q" class="visually-hidden" hidden { "Search" }
                        input #q type="search" name="q" placeholder="Search (press /)" aria-label="Search";
                    }
                }
                main { (body) }
                dialog #keys {
                    h2 { "Keys" }
                    dl {
                        dt { kbd { "j" } " / " kbd { "k" } } dd { "next / previous story" }
                        dt { kbd { "o" } } dd { "open the story" }
                        dt { kbd { "/" } } dd { "search" }
                        dt { kbd { "?" } } dd { "these keys" }
                    }
                    form method="dialog" { button { "Close" } }
                }
            }
        }
    }
}

pub(super) fn error(message: &str) -> Markup {
    html! { h1 { "Error" } p.error role="alert" { (message) } p { a href="/" { "Back to the stories" } } }
}

fn reason(r: Option<&str>) -> &str {
    r.unwrap_or("first copy")
}

fn similarity(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.2}")).unwrap_or_default()
}

/// A story's copies: feed, title, first sight, why it is a copy, how alike.
fn copies_table(copies: &[StoryCopy]) -> Markup {
    html! {
        div.scroll {
            table.copies {
                thead { tr { th { "Feed" } th { "Title" } th { "First seen" } th { "Reason" } th { "Similarity" } } }
                tbody {
                    @for c in copies {
                        tr {
                            td { (c.feed) }
                            td { a href={ "/stories/" (c.id) } { (c.title) } }
                            td { time datetime=(c.first_seen) { (c.first_seen) } }
                            td.reason { (reason(c.duplicate_reason.as_deref())) }
                            td { (similarity(c.similarity)) }
                        }
                    }
                }
            }
        }
    }
}

fn story_list(rows: &[StoryRow]) -> Markup {
    html! {
        ol.stories {
            @for s in rows {
                @let r = &s.row;
                li tabindex="-1" data-story=(r.story) {
                    a.open href={ "/stories/" (r.id) } { (r.title) }
                    div.muted {
                        span.sources { (r.sources) @if r.sources == 1 { " source" } @else { " sources" } }
                        " · " (r.feed)
                        @if let Some(l) = &r.language { " · " span lang=(l) { (l) } }
                        " · " time datetime=(r.fetched) { (r.fetched) }
                    }
                    @if !r.topics.is_empty() {
                        div { @for t in &r.topics { a.chip href={ "/topics/" (t) } { (t) } } }
                    }
                    @if s.copies.len() > 1 {
                        details {
                            summary { "All " (s.copies.len()) " copies" }
                            (copies_table(&s.copies))
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn stories(filters: &Filters, topics: &[String], feeds: &[String], rows: &[StoryRow]) -> Markup {
    let selected = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    html! {
        h1 { "Stories" }
        form.filters action="/" method="get" {
            label { "Topic"
                select name="topic" {
                    option value="" { "any" }
                    @for t in topics { option value=(t) selected[selected(&filters.topic, t)] { (t) } }
                }
            }
            label { "Feed"
                select name="feed" {
                    option value="" { "any" }
                    @for f in feeds { option value=(f) selected[selected(&filters.feed, f)] { (f) } }
                }
            }
            label { "Language" input name="lang" size="4" value=[filters.lang.as_deref()]; }
            label { "Since" input name="since" size="10" placeholder="7d or 2025-01-31" value=[filters.since.as_deref()]; }
            label { "Until" input name="until" size="10" value=[filters.until.as_deref()]; }
            button { "Filter" }
        }
        @if rows.is_empty() { p { "No stories match." } } @else { (story_list(rows)) }
    }
}

pub(super) fn story(d: &ArticleDetail) -> Markup {
    let r = &d.row;
    // The words of each topic's evidence, by field and word position: the matcher's
    // own spans (a phrase covers its words).
    let mut marked: HashSet<(Field, u32)> = HashSet::new();
    for e in d.topic_matches.iter().flat_map(|m| &m.evidence) {
        let words = e.term.split(' ').count() as u32;
        marked.extend((e.position..e.position + words).map(|p| (e.field, p)));
    }
    let lines = crate::pipeline::clean::kept_lines(&d.text, &d.boilerplate);
    let mut position = 0u32;
    html! {
        article {
            h1 { (highlighted(&r.title, Field::Title, &mut 0, &marked)) }
            p.muted {
                (r.feed) " · " time datetime=(r.fetched) { (r.fetched) }
                @if let Some(l) = &r.language { " · " (l) }
                @if let Some(u) = &r.url { " · " a href=(u) rel="noreferrer" { "original" } }
            }
            @if let Some(status) = &d.page_status { p.muted { "Page: " (status) } }
            @for m in &d.topic_matches {
                p { a.chip href={ "/topics/" (m.topic) } { (m.topic) } " "
                    span.muted { (unique_terms(m)) } }
            }
            @for (boilerplate, kept) in &lines {
                @if kept.is_empty() {
                    p.boilerplate title="boilerplate: left out of matching" { (boilerplate) }
                } @else {
                    p {
                        @if !boilerplate.is_empty() { span.boilerplate title="boilerplate: left out of matching" { (boilerplate) } " " }
                        (highlighted(kept, Field::Body, &mut position, &marked))
                    }
                }
            }
            @if let Some(e) = &d.translation_evidence {
                section {
                    h2 { "Translation of " a href={ "/stories/" (e.of) } { (e.of) } }
                    p { "Names and numbers both have: " (e.names.join(", ")) }
                    p { "Loanwords both write alike: " (e.words.join(", ")) }
                }
            }
            @if d.copies.len() > 1 {
                section {
                    h2 { (d.copies.len()) " copies" }
                    (copies_table(&d.copies))
                }
            }
        }
    }
}

/// A topic match's terms, each once, in the order first found.
fn unique_terms(m: &crate::model::TopicMatch) -> String {
    let mut terms: Vec<&str> = Vec::new();
    for e in &m.evidence {
        if !terms.contains(&e.term.as_str()) {
            terms.push(&e.term);
        }
    }
    terms.join(", ")
}

/// `text` (a line of `field` whose first word is word `*position` of it) with the
/// words at `marked` positions in `<mark>`; advances `*position` past its words. A
/// word is a run of letters, digits and combining marks, as the matcher's tokens are;
/// where NFKC would split the line otherwise (their counts differ), nothing is marked.
fn highlighted(text: &str, field: Field, position: &mut u32, marked: &HashSet<(Field, u32)>) -> Markup {
    let mut pieces: Vec<(&str, bool)> = Vec::new();
    let mut start: Option<usize> = None;
    let mut words = 0u32;
    let base = *position;
    let is_word = |c: char| c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c);
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (start, is_word(c) && i < text.len()) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                pieces.push((&text[s..i], marked.contains(&(field, base + words))));
                words += 1;
                start = None;
                if i < text.len() {
                    pieces.push((&text[i..i + c.len_utf8()], false));
                }
            }
            (None, false) if i < text.len() => pieces.push((&text[i..i + c.len_utf8()], false)),
            _ => {}
        }
    }
    let tokens = crate::text::tokens(text).len() as u32;
    *position += tokens;
    let aligned = tokens == words;
    html! { @for (p, hit) in &pieces { @if *hit && aligned { mark { (p) } } @else { (p) } } }
}

/// A search's stories and, when asked for, what it would flag as a topic.
pub(super) struct Found<'a> {
    pub rows: &'a [StoryRow],
    pub tried: Option<&'a Tried>,
}

/// The search page: the form, then the error with a caret under its column, or the
/// results (`None` before anything was asked).
pub(super) fn search(q: &str, result: Result<Option<Found>, &QueryError>) -> Markup {
    html! {
        h1 { "Search" }
        form action="/search" method="get" role="search" {
            input type="search" name="q" value=(q) size="60" aria-label="Query";
            button { "Search" }
        }
        @match result {
            Err(e) => {
                div.error role="alert" {
                    p { "Invalid query: " (e.message) " (column " (e.column) ")" }
                    pre.caret { (q) "\n" span.caret { (" ".repeat(e.column.saturating_sub(1))) "^" } }
                }
            }
            Ok(None) => {}
            Ok(Some(Found { rows, tried })) => {
                @if !q.is_empty() {
                    @match tried {
                        None => p { a href={ "/search?try=1&q=" (super::percent_encode(q)) } { "Try as topic" } },
                        Some(t) => section.tried {
                            h2 { "As a topic" }
                            p { "It would flag " (t.articles) @if t.capped { " or more" } " articles in " (t.stories)
                                " stories of the " (t.stored) " stored. To add it:" }
                            pre { "[[topics]]\nname = \"…\"\nquery = " (toml::Value::String(q.to_string())) }
                        },
                    }
                }
                @let bars = buckets(rows.iter().map(|r| &r.row), Utc::now(), 30).bars;
                @if !rows.is_empty() {
                    (chart(&bars, false, "Stories found per day, last 30 days", 40, |since, until| {
                        format!("/search?q={}&since={since}&until={until}", super::percent_encode(q))
                    }))
                }
                p.count { (rows.len()) @if rows.len() == 1 { " story" } @else { " stories" } }
                (story_list(rows))
            }
        }
    }
}

/// The host a feed's politeness is counted by (`fetch::host_key`), or its URL as
/// written when that does not parse.
fn host(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_string(), |u| crate::fetch::host_key(&u))
}

/// Why a feed is due when it is: its interval, or a backoff after failures (a server
/// that answered 429 or 503 asked to wait).
fn due_reason(f: &FeedStatus) -> String {
    match (f.failures, f.http_status) {
        (0, _) => "interval".to_string(),
        (n, Some(h @ (429 | 503))) => format!("backoff after {n} failures; the server asked to wait ({h})"),
        (n, _) => format!("backoff after {n} failures"),
    }
}

/// Feed health, grouped by host: hosts with failing feeds first, failing feeds first in
/// each, with each feed's articles in all and dated in the last 7 days (`weekly`). A feed with
/// no new article for 14 days (or never) is marked idle.
pub(super) fn feeds(rows: &[FeedStatus], weekly: &HashMap<String, i64>, now: DateTime<Utc>) -> Markup {
    let mut hosts: Vec<(String, Vec<&FeedStatus>)> = Vec::new();
    for f in rows {
        let h = host(&f.url);
        match hosts.iter_mut().find(|(known, _)| *known == h) {
            Some((_, list)) => list.push(f),
            None => hosts.push((h, vec![f])),
        }
    }
    let failing = |list: &[&FeedStatus]| list.iter().map(|f| f.failures).max().unwrap_or(0);
    hosts.sort_by(|a, b| failing(&b.1).cmp(&failing(&a.1)).then_with(|| a.0.cmp(&b.0)));
    let idle = |f: &FeedStatus| {
        f.last_success
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| (now - t.with_timezone(&Utc)).num_days() >= 14)
            || f.articles == 0
    };
    html! {
        h1 { "Feeds" }
        p.muted { (rows.len()) " feeds on " (hosts.len()) " hosts; " (rows.iter().filter(|f| f.failures > 0).count()) " failing" }
        @for (h, list) in &hosts {
            section {
                h2 { (h) }
                div.scroll { table {
                    thead { tr { th { "Feed" } th { "Status" } th { "Failures" } th { "Error" } th { "Last fetch" } th { "Next due" } th { "Articles (dated in the last 7 days)" } } }
                    tbody { @for f in list {
                        tr {
                            td { (f.name) @if idle(f) { " " span.chip { "idle" } } br; span.muted { (f.url) } }
                            td { (f.status.as_deref().unwrap_or("never fetched")) @if let Some(h) = f.http_status { " (" (h) ")" } }
                            td { (f.failures) }
                            td { (f.last_error_kind.as_deref().unwrap_or("")) @if let Some(e) = &f.last_error { br; span.muted { (e) } } }
                            td { (f.last_fetch.as_deref().unwrap_or("")) }
                            td { (f.next_due.as_deref().unwrap_or("")) br; span.muted.why { (due_reason(f)) } }
                            td { (f.articles) " (" span.weekly { (weekly.get(&f.name).copied().unwrap_or(0)) } ")" }
                        }
                    } }
                } }
            }
        }
    }
}

/// A topic page's figures: bars (their start, label and count), the period's total and
/// the previous period's, the top sources, the latest stories with their matched words,
/// and the re-evaluation's progress when one runs.
pub(super) struct TopicView {
    pub name: String,
    pub days: i64,
    pub volume: Volume,
    pub stories: Vec<(ArticleRow, Vec<String>)>,
    pub progress: Option<i64>,
}

/// A chart's bar: when it starts, its label, its count.
pub(super) type Bar = (DateTime<Utc>, String, usize);

/// What [`buckets`] counts.
pub(super) struct Volume {
    pub bars: Vec<Bar>,
    /// Articles in the period before.
    pub previous: usize,
    /// The feeds with most articles, most first.
    pub sources: Vec<(String, usize)>,
}

/// Bars over the `days` days up to `now` (oldest first): one a day, or one an hour
/// under 7 days; each article counted by its first sight. Also the count over the
/// period before, and the feeds with most articles in this one.
pub(super) fn buckets<'a>(rows: impl IntoIterator<Item = &'a ArticleRow>, now: DateTime<Utc>, days: i64) -> Volume {
    let hourly = days < 7;
    let step = if hourly { chrono::Duration::hours(1) } else { chrono::Duration::days(1) };
    let n = if hourly { days * 24 } else { days };
    let end = if hourly {
        now.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or(now)
            + chrono::Duration::hours(i64::from(chrono::Timelike::hour(&now)) + 1)
    } else {
        (now.date_naive() + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).map(|d| d.and_utc()).unwrap_or(now)
    };
    let start = end - step * n as i32;
    let mut bars: Vec<Bar> = (0..n)
        .map(|i| {
            let t = start + step * i as i32;
            let label = if hourly { t.format("%Y-%m-%d %H:00").to_string() } else { t.format("%Y-%m-%d").to_string() };
            (t, label, 0)
        })
        .collect();
    let (mut previous, mut sources) = (0, std::collections::HashMap::<String, usize>::new());
    for r in rows {
        let Ok(t) = DateTime::parse_from_rfc3339(&r.fetched).map(|t| t.with_timezone(&Utc)) else { continue };
        if t >= start && t < end {
            let i = ((t - start).num_seconds() / step.num_seconds()) as usize;
            if let Some(bar) = bars.get_mut(i) {
                bar.2 += 1;
            }
            *sources.entry(r.feed.clone()).or_default() += 1;
        } else if t >= start - (end - start) && t < start {
            previous += 1;
        }
    }
    let mut sources: Vec<(String, usize)> = sources.into_iter().collect();
    sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sources.truncate(5);
    Volume { bars, previous, sources }
}

/// Bars as an inline SVG chart, `height` pixels tall; each bar links to `href(since,
/// until)` for its hour (`hourly`) or day.
fn chart(bars: &[Bar], hourly: bool, label: &str, height: usize, href: impl Fn(&str, &str) -> String) -> Markup {
    let max = bars.iter().map(|b| b.2).max().unwrap_or(0).max(1);
    let (bar, inner) = (12usize, 80usize);
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    html! {
        svg.chart role="img" aria-label=(label) viewBox={ "0 0 " (bars.len() * bar) " " (inner + 2) } width="100%" height=(height) {
            @for (i, (t, label, n)) in bars.iter().enumerate() {
                @let h = n * inner / max;
                @let until = if hourly { *t + chrono::Duration::hours(1) } else { *t + chrono::Duration::days(1) };
                a href=(href(&stamp(*t), &stamp(until))) {
                    rect x=(i * bar + 1) y=(inner - h) width=(bar - 2) height=(h) data-day=(label) data-count=(n) {
                        title { (label) ": " (n) }
                    }
                }
            }
        }
    }
}

pub(super) fn topic(v: &TopicView) -> Markup {
    let total: usize = v.volume.bars.iter().map(|b| b.2).sum();
    let change = if v.volume.previous == 0 {
        "none in the period before".to_string()
    } else {
        format!(
            "{:+.0} % against the {} days before ({})",
            (total as f64 / v.volume.previous as f64 - 1.0) * 100.0,
            v.days,
            v.volume.previous
        )
    };
    let name = &v.name;
    html! {
        h1 { "Topic " (name) }
        p { span.total { (total) } " articles in the last " (v.days) " days, " (change) " · "
            a href={ "/topics/" (name) ".atom" } { "Atom feed" } }
        nav aria-label="period" { "Period: "
            @for d in [1, 7, 30, 90] { a href={ "/topics/" (name) "?days=" (d) } { (d) @if d == 1 { " day" } @else { " days" } } " " } }
        @if let Some(p) = v.progress { p.muted { "Re-evaluating stored articles: " (p) " %" } }
        (chart(&v.volume.bars, v.days < 7, &format!("Articles per {} for {name}", if v.days < 7 { "hour" } else { "day" }), 120, |since, until| {
            format!("/search?topic={}&since={since}&until={until}", super::percent_encode(name))
        }))
        @if !v.volume.sources.is_empty() {
            h2 { "Top sources" }
            ol { @for (feed, n) in &v.volume.sources { li { a href={ "/?feed=" (feed) "&topic=" (name) } { (feed) } " " span.muted { (n) } } } }
        }
        h2 { "Latest stories" }
        ul { @for (s, words) in &v.stories {
            li { a href={ "/stories/" (s.id) } { (s.title) } " " span.muted { (s.feed) @if !words.is_empty() { " · " (words.join(", ")) } } }
        } }
    }
}

/// The login form (`open`: no token is set, so there is nothing to sign in to).
pub(super) fn login(next: &str, open: bool, error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        @if open {
            p { "No token is set ([http] token): every page is open. " a href=(next) { "Go on" } }
        } @else {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { "Token " input #token type="password" name="token" autocomplete="current-password" required; }
                " " button { "Sign in" }
            }
        }
    }
}
