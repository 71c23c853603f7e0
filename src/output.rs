//! Printing listings: table (fits the terminal), json, ndjson, csv, and text for one
//! article. Everything that came from a feed is made inert for a terminal first:
//! control characters and escape sequences never reach it.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

use serde::Serialize;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::{ArticleDetail, ArticleRow, FeedStatus, HostLease, TopicCount, WorkerStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShowFormat {
    Text,
    Json,
}

/// Removes what a terminal would act on: C0 controls (except tab and newline), DEL,
/// C1 controls (which include the 8-bit CSI and OSC), and bidirectional overrides.
/// Without ESC, the rest of an escape sequence is plain text.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c);
    if s.chars().any(bad) { Cow::Owned(s.chars().filter(|&c| !bad(c)).collect()) } else { Cow::Borrowed(s) }
}

/// The characters that reorder the text around them on a terminal: embeddings,
/// overrides and isolates, and the marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// One line of a table cell: terminal-safe, newlines and tabs as spaces.
fn cell(s: &str) -> String {
    terminal_safe(s).chars().map(|c| if c == '\n' || c == '\t' { ' ' } else { c }).collect()
}

/// The terminal's width, when standard output is one.
pub fn terminal_width() -> Option<usize> {
    if !io::stdout().is_terminal() {
        return None;
    }
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass; nothing else.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        return Some(size.ws_col as usize);
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or(Some(100))
}

/// Cuts `s` to `width` terminal columns, with "…" when cut.
fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// A plain table: left-aligned columns; the last column takes what room is left.
fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> io::Result<()> {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate().take(n - 1) {
            widths[i] = widths[i].max(c.width());
        }
    }
    let fixed: usize = widths[..n - 1].iter().map(|w| w + 2).sum();
    let last = width.map(|w| w.saturating_sub(fixed).max(10));
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == n {
                match last {
                    Some(w) => s.push_str(&fit(c, w)),
                    None => s.push_str(c),
                }
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.width() + 2));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.iter().map(|h| h.to_string()).collect()))?;
    for row in rows {
        writeln!(out, "{}", line(row.clone()))?;
    }
    Ok(())
}

fn json_lines<T: Serialize>(out: &mut dyn Write, items: &[T], format: ListFormat) -> io::Result<()> {
    match format {
        ListFormat::Json => {
            let text = serde_json::to_string_pretty(items).map_err(io::Error::other)?;
            writeln!(out, "{}", json_safe(&text))
        }
        _ => {
            for item in items {
                let text = serde_json::to_string(item).map_err(io::Error::other)?;
                writeln!(out, "{}", json_safe(&text))?;
            }
            Ok(())
        }
    }
}

/// serde_json escapes C0 controls but writes DEL and the C1 controls (U+0080–U+009F,
/// among them the 8-bit CSI and OSC) as they are; escape them too. They can only occur
/// inside strings, so the escaped text is the same JSON.
pub fn json_safe(json: &str) -> Cow<'_, str> {
    let escaped = |c: char| ('\u{7f}'..='\u{9f}').contains(&c) || is_bidi_control(c);
    if !json.chars().any(escaped) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// CSV with every field made terminal-safe (a CSV file is often looked at in a terminal).
fn csv_out(out: &mut dyn Write, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header)?;
    for row in rows {
        w.write_record(row.iter().map(|f| terminal_safe(f)).collect::<Vec<_>>().iter().map(|f| f.as_bytes()))?;
    }
    w.flush()
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

/// "2025-01-26T10:00:00Z" → "2025-01-26 10:00".
fn short_time(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

pub fn articles(out: &mut dyn Write, rows: &[ArticleRow], format: ListFormat, width: Option<usize>) -> io::Result<()> {
    match format {
        ListFormat::Json | ListFormat::Ndjson => json_lines(out, rows, format),
        ListFormat::Csv => csv_out(
            out,
            &[
                "id",
                "feed",
                "guid",
                "url",
                "title",
                "published",
                "fetched",
                "language",
                "topics",
                "duplicate_of",
                "duplicate_reason",
                "similarity",
                "story",
                "sources",
            ],
            rows.iter().map(|r| {
                vec![
                    r.id.to_string(),
                    r.feed.clone(),
                    opt(&r.guid),
                    opt(&r.url),
                    r.title.clone(),
                    opt(&r.published),
                    r.fetched.clone(),
                    opt(&r.language),
                    r.topics.join(" "),
                    opt(&r.duplicate_of),
                    opt(&r.duplicate_reason),
                    r.similarity.map(|s| format!("{s:.3}")).unwrap_or_default(),
                    r.story.to_string(),
                    r.sources.to_string(),
                ]
            }),
        ),
        ListFormat::Table => {
            if rows.is_empty() {
                return writeln!(out, "no articles");
            }
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        short_time(r.published.as_deref().unwrap_or(&r.fetched)),
                        cell(&r.feed),
                        r.sources.to_string(),
                        opt(&r.language),
                        cell(&r.topics.join(",")),
                        cell(&r.title),
                    ]
                })
                .collect();
            table(out, &["ID", "DATE", "FEED", "SRC", "LANG", "TOPICS", "TITLE"], &cells, width)
        }
    }
}

pub fn article_detail(out: &mut dyn Write, d: &ArticleDetail, format: ShowFormat) -> io::Result<()> {
    if format == ShowFormat::Json {
        let text = serde_json::to_string_pretty(d).map_err(io::Error::other)?;
        return writeln!(out, "{}", json_safe(&text));
    }
    let r = &d.row;
    writeln!(out, "{}", cell(&r.title))?;
    writeln!(out)?;
    let mut field = |name: &str, value: String| -> io::Result<()> {
        if value.is_empty() {
            return Ok(());
        }
        writeln!(out, "{name:<12}{}", cell(&value))
    };
    field("id", r.id.to_string())?;
    field("feed", r.feed.clone())?;
    field("url", opt(&r.url))?;
    if d.canonical_url != r.url {
        field("canonical", opt(&d.canonical_url))?;
    }
    field("guid", opt(&r.guid))?;
    field("published", opt(&r.published))?;
    field("date in feed", opt(&d.published_raw))?;
    field("fetched", d.first_seen.clone())?;
    field("language", opt(&r.language))?;
    field("authors", d.authors.join(", "))?;
    field("page", opt(&d.page_status))?;
    match (&r.duplicate_of, &r.duplicate_reason) {
        (Some(of), reason) => {
            field("copy of", format!("{of} ({}, similarity {:.2})", opt(reason), r.similarity.unwrap_or(1.0)))?
        }
        (None, _) => {
            let copies = if r.sources == 1 { "1 copy".to_string() } else { format!("{} copies", r.sources) };
            field("story", format!("{} ({copies})", r.story))?
        }
    }
    if let Some(e) = &d.translation_evidence {
        writeln!(out, "\ntranslation of {}", e.of)?;
        writeln!(out, "  names and numbers both have: {}", cell(&e.names.join(", ")))?;
        writeln!(out, "  loanwords both write alike: {}", cell(&e.words.join(", ")))?;
    }
    if !d.topic_matches.is_empty() {
        writeln!(out, "\ntopics")?;
        for m in &d.topic_matches {
            let terms: Vec<String> = m
                .evidence
                .iter()
                .map(|e| format!("{} ({} word {})", e.term, serde_plain(&e.field), e.position + 1))
                .collect();
            writeln!(out, "  {} (score {}): {}", cell(&m.topic), m.score, cell(&terms.join(", ")))?;
        }
    }
    if d.copies.len() > 1 {
        writeln!(out, "\ncopies of this story")?;
        for c in &d.copies {
            let how = match &c.duplicate_reason {
                Some(reason) => format!("{reason} {:.2}", c.similarity.unwrap_or(1.0)),
                None => "first".to_string(),
            };
            let mark = if c.id == r.id { "*" } else { " " };
            writeln!(out, " {mark}{:>8}  {:<16} {:<14} {}", c.id, cell(&c.feed), how, cell(&c.title))?;
        }
    }
    if !d.boilerplate.is_empty() {
        writeln!(out, "\nleft out of matching")?;
        for line in &d.boilerplate {
            writeln!(out, "  {}", cell(line))?;
        }
    }
    if let Some(summary) = &d.summary {
        writeln!(out, "\nthe feed's text")?;
        writeln!(out, "  {}", cell(summary))?;
    }
    writeln!(out, "\n{}", terminal_safe(&d.text))
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub fn feeds(out: &mut dyn Write, rows: &[FeedStatus], format: ListFormat, width: Option<usize>) -> io::Result<()> {
    match format {
        ListFormat::Json | ListFormat::Ndjson => json_lines(out, rows, format),
        ListFormat::Csv => csv_out(
            out,
            &[
                "name",
                "url",
                "status",
                "http_status",
                "last_fetch",
                "last_success",
                "next_due",
                "failures",
                "last_error_kind",
                "last_error",
                "warning",
                "articles",
                "configured",
            ],
            rows.iter().map(|f| {
                vec![
                    f.name.clone(),
                    f.url.clone(),
                    opt(&f.status),
                    opt(&f.http_status),
                    opt(&f.last_fetch),
                    opt(&f.last_success),
                    opt(&f.next_due),
                    f.failures.to_string(),
                    opt(&f.last_error_kind),
                    opt(&f.last_error),
                    opt(&f.warning),
                    f.articles.to_string(),
                    f.configured.to_string(),
                ]
            }),
        ),
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|f| {
                    let status = match (&f.status, f.configured) {
                        (_, false) => "removed".to_string(),
                        (None, _) => "new".to_string(),
                        (Some(s), _) if s == "error" => opt(&f.last_error_kind),
                        (Some(s), _) => s.clone(),
                    };
                    vec![
                        cell(&f.name),
                        status,
                        f.last_fetch.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
                        f.next_due.as_deref().map(short_time).unwrap_or_else(|| "-".into()),
                        f.failures.to_string(),
                        f.articles.to_string(),
                        cell(
                            f.last_error
                                .as_deref()
                                .or(f.warning.as_deref().filter(|_| f.status.as_deref() != Some("error")))
                                .unwrap_or(""),
                        ),
                    ]
                })
                .collect();
            table(out, &["FEED", "STATUS", "LAST FETCH", "NEXT DUE", "FAILS", "ARTICLES", "ERROR"], &cells, width)
        }
    }
}

pub fn topics(out: &mut dyn Write, rows: &[TopicCount], format: ListFormat, width: Option<usize>) -> io::Result<()> {
    match format {
        ListFormat::Json | ListFormat::Ndjson => json_lines(out, rows, format),
        ListFormat::Csv => csv_out(
            out,
            &["name", "last_24h", "last_7d", "all", "configured", "reindex_percent"],
            rows.iter().map(|t| {
                vec![
                    t.name.clone(),
                    t.last_24h.to_string(),
                    t.last_7d.to_string(),
                    t.all.to_string(),
                    t.configured.to_string(),
                    t.reindex.map(|r| r.percent().to_string()).unwrap_or_default(),
                ]
            }),
        ),
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|t| {
                    let status = match (t.configured, t.reindex) {
                        (false, _) => "removed".to_string(),
                        (true, Some(r)) => format!("re-evaluating {}%", r.percent()),
                        (true, None) => "current".to_string(),
                    };
                    vec![t.last_24h.to_string(), t.last_7d.to_string(), t.all.to_string(), status, cell(&t.name)]
                })
                .collect();
            table(out, &["24H", "7D", "ALL", "STATUS", "TOPIC"], &cells, width)
        }
    }
}

/// `kabar workers`: the fleet's workers, then each host's lease.
pub fn workers(
    out: &mut dyn Write,
    workers: &[WorkerStatus],
    leases: &[HostLease],
    format: ListFormat,
    width: Option<usize>,
) -> io::Result<()> {
    match format {
        ListFormat::Json => {
            let both = serde_json::json!({ "workers": workers, "leases": leases });
            writeln!(out, "{}", json_safe(&serde_json::to_string_pretty(&both).unwrap_or_default()))
        }
        ListFormat::Ndjson => json_lines(out, leases, format),
        ListFormat::Csv => csv_out(
            out,
            &["host", "worker", "expires", "fence"],
            leases.iter().map(|l| {
                vec![
                    l.host.clone(),
                    l.worker.clone().unwrap_or_default(),
                    l.expires.clone().unwrap_or_default(),
                    l.fence.to_string(),
                ]
            }),
        ),
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = workers
                .iter()
                .map(|w| {
                    vec![cell(&w.worker), w.hosts.to_string(), format!("{}s ago", w.heartbeat_age), w.started.clone()]
                })
                .collect();
            table(out, &["WORKER", "HOSTS", "HEARTBEAT", "STARTED"], &cells, width)?;
            writeln!(out)?;
            let cells: Vec<Vec<String>> = leases
                .iter()
                .map(|l| {
                    vec![
                        cell(&l.host),
                        l.worker.as_deref().map_or("-".to_string(), cell),
                        l.expires.clone().unwrap_or_else(|| "-".into()),
                        l.fence.to_string(),
                    ]
                })
                .collect();
            table(out, &["HOST", "WORKER", "LEASE UNTIL", "FENCE"], &cells, width)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_made_inert() {
        let hostile = "a\u{1b}[2Jb\u{1b}]0;owned\u{7}c\u{9b}31md\u{202e}e\u{7f}\r\n\tf";
        let safe = terminal_safe(hostile);
        assert_eq!(safe, "a[2Jb]0;ownedc31mde\n\tf");
        assert!(safe.bytes().all(|b| b >= 0x20 || b == b'\n' || b == b'\t'));
        assert_eq!(cell("two\nlines"), "two lines");
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_c1_controls_and_del() {
        let json = serde_json::to_string("a\u{9b}31mb\u{7f}c\u{1b}d").unwrap();
        let safe = json_safe(&json);
        assert_eq!(safe, "\"a\\u009b31mb\\u007fc\\u001bd\"");
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), "a\u{9b}31mb\u{7f}c\u{1b}d");
    }

    #[test]
    fn tables_fit_the_width() {
        let rows = vec![vec!["1".to_string(), "a very long title that will not fit".to_string()]];
        let mut out = Vec::new();
        table(&mut out, &["ID", "TITLE"], &rows, Some(20)).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(line.width() <= 20, "{line:?}");
        }
        assert!(text.contains('…'));
    }
}
