//! The pages' HTML. maud escapes every value it is given; nothing from a feed is
//! inserted as markup.

use chrono::{DateTime, NaiveDate, Utc};
use maud::{DOCTYPE, Markup, html};

use super::{Filters, StoryRow};
use std::collections::HashSet;

use crate::model::{ArticleDetail, ArticleRow, FeedStatus, Field};
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
                            div.scroll {
                                table.copies {
                                    thead { tr { th { "Feed" } th { "Title" } th { "First seen" } th { "Reason" } th { "Similarity" } } }
                                    tbody {
                                        @for c in &s.copies {
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
                    span.muted { @for (i, e) in m.evidence.iter().enumerate() { @if i > 0 { ", " } (e.term) } } }
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
                    div.scroll { table.copies {
                        thead { tr { th { "Feed" } th { "Title" } th { "Reason" } th { "Similarity" } } }
                        tbody { @for c in &d.copies {
                            tr { td { (c.feed) } td { a href={ "/stories/" (c.id) } { (c.title) } }
                                 td.reason { (reason(c.duplicate_reason.as_deref())) } td { (similarity(c.similarity)) } }
                        } }
                    } }
                }
            }
        }
    }
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

/// The search page: the form, then the error with a caret under its column, or the
/// results (`None` before anything was asked).
pub(super) fn search(q: &str, result: Result<Option<&[StoryRow]>, &QueryError>) -> Markup {
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
            Ok(Some(rows)) => {
                @if true {
                    p.count { (rows.len()) @if rows.len() == 1 { " story" } @else { " stories" } }
                    (story_list(rows))
                }
            }
        }
    }
}

pub(super) fn feeds(rows: &[FeedStatus]) -> Markup {
    html! {
        h1 { "Feeds" }
        div.scroll { table {
            thead { tr { th { "Feed" } th { "Status" } th { "Failures" } th { "Error" } th { "Last fetch" } th { "Next due" } th { "Articles" } } }
            tbody { @for f in rows {
                tr {
                    td { (f.name) br; span.muted { (f.url) } }
                    td { (f.status.as_deref().unwrap_or("never fetched")) @if let Some(h) = f.http_status { " (" (h) ")" } }
                    td { (f.failures) }
                    td { (f.last_error_kind.as_deref().unwrap_or("")) @if let Some(e) = &f.last_error { br; span.muted { (e) } } }
                    td { (f.last_fetch.as_deref().unwrap_or("")) }
                    td { (f.next_due.as_deref().unwrap_or("")) }
                    td { (f.articles) }
                }
            } }
        } }
    }
}

/// Articles per day over the `days` days up to `now` (oldest first), by first sight.
pub(super) fn days(rows: &[ArticleRow], now: DateTime<Utc>, days: i64) -> Vec<(NaiveDate, usize)> {
    let today = now.date_naive();
    let mut out: Vec<(NaiveDate, usize)> = (0..days).rev().map(|d| (today - chrono::Duration::days(d), 0)).collect();
    for r in rows {
        if let Ok(t) = DateTime::parse_from_rfc3339(&r.fetched) {
            let day = t.with_timezone(&Utc).date_naive();
            if let Some(slot) = out.iter_mut().find(|(d, _)| *d == day) {
                slot.1 += 1;
            }
        }
    }
    out
}

pub(super) fn topic(name: &str, days: &[(NaiveDate, usize)], stories: &[ArticleRow]) -> Markup {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let (bar, height) = (12usize, 80usize);
    let total: usize = days.iter().map(|d| d.1).sum();
    html! {
        h1 { "Topic " (name) }
        p { (total) " articles in the last " (days.len()) " days · "
            a href={ "/topics/" (name) ".atom" } { "Atom feed" } }
        svg.chart role="img" aria-label={ "Articles per day for " (name) }
            viewBox={ "0 0 " (days.len() * bar) " " (height + 2) } width="100%" height="120" {
            @for (i, (day, n)) in days.iter().enumerate() {
                @let h = n * height / max;
                a href={ "/search?q=&topic=" (name) "&since=" (day) "&until=" (day) } {
                    rect x=(i * bar + 1) y=(height - h) width=(bar - 2) height=(h) data-day=(day) data-count=(n) {
                        title { (day) ": " (n) }
                    }
                }
            }
        }
        h2 { "Latest stories" }
        ul { @for s in stories { li { a href={ "/stories/" (s.id) } { (s.title) } " " span.muted { (s.feed) } } } }
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
