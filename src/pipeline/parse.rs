//! Feed bytes → [`ParsedFeed`]. feed-rs does the reading; its types stop here.
//!
//! feed-rs invents a random id for an entry that has none, which would make a new
//! article of it on every fetch; kabar asks feed-rs for no id at all in that case and
//! computes its own key in `dedup`. Dates go through [`parse_date`], which also reads
//! Indonesian day and month names and dates without a zone.

use std::borrow::Cow;
use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use feed_rs::model::{self, Text};
use url::Url;

use crate::model::{Entry, ErrorKind, FeedError, ParsedFeed};
use crate::pipeline::{clean, decode};

/// Bounds on what one document may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries kept; the rest are counted in `ParsedFeed::truncated`.
    pub max_entries: usize,
    /// Largest body after inflating a gzip body that came without Content-Encoding.
    pub max_body: u64,
}

/// Parses one feed document. `charset` is the HTTP Content-Type's charset, if any.
pub fn parse(
    bytes: &[u8],
    charset: Option<&str>,
    feed_url: &Url,
    timezone: Tz,
    limits: Limits,
) -> Result<ParsedFeed, FeedError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FeedError::new(ErrorKind::Parse, "the response body is empty"));
    }
    let bytes = inflate_if_gzip(bytes, limits.max_body)?;
    let decoded = decode::decode(&bytes, charset);
    let warning = decoded.warning;
    let text = without_late_declarations(&decoded.text);
    let bytes = rss_version_as_2(text.as_bytes());
    let max_entries = limits.max_entries;
    // feed-rs builds every entry in memory; a document with far more entries than are
    // kept is cut before it gets there.
    let (bytes, skipped) = keep_first_entries(&bytes, max_entries);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(Some(feed_url.as_str()))
        // An empty id means "the feed gave none"; see the module docs.
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .timestamp_parser(move |s| parse_date(s, timezone))
        .build();
    let feed = parser.parse(&bytes[..]).map_err(|e| {
        let message = if looks_like_html(&bytes) {
            "the server sent an HTML page, not a feed".to_string()
        } else {
            format!("not a feed: {e}")
        };
        FeedError::new(ErrorKind::Parse, message)
    })?;

    let feed_language = feed.language.as_deref().map(clean::language_code);
    let total = feed.entries.len();
    let entries =
        feed.entries.into_iter().take(max_entries).map(|e| entry(e, feed_url, feed_language.as_deref())).collect();
    Ok(ParsedFeed {
        title: feed.title.map(|t| capped(text_of(&t), MAX_TITLE)).filter(|t| !t.is_empty()),
        site_url: pick_link(&feed.links, feed_url),
        language: feed_language,
        ttl: feed.ttl.map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60)),
        entries,
        truncated: total.saturating_sub(max_entries) + skipped,
        warning,
    })
}

/// The most of each field an entry keeps: enough for any real article, so that one
/// hostile entry cannot make every listing that shows it huge (a 10 MB title was stored
/// and served whole). A longer title or author is cut at a character boundary; a longer
/// GUID keeps its start and a hash of the whole (so two long GUIDs stay apart); a longer
/// link is no link.
pub const MAX_TITLE: usize = 2 << 10;
pub const MAX_GUID: usize = 1 << 10;
pub const MAX_LINK: usize = 8 << 10;
pub const MAX_HTML: usize = 4 << 20;
pub const MAX_AUTHORS: usize = 32;
pub const MAX_AUTHOR: usize = 256;

/// `s` cut to at most `max` bytes, at a character boundary.
fn capped(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn guid_of(id: &str) -> Option<String> {
    let id = id.trim();
    if id.is_empty() {
        return None;
    }
    if id.len() <= MAX_GUID {
        return Some(id.to_string());
    }
    let hash = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
    Some(format!("{}#{hash:016x}", capped(id.to_string(), MAX_GUID - 17)))
}

fn entry(e: model::Entry, feed_url: &Url, feed_language: Option<&str>) -> Entry {
    Entry {
        guid: guid_of(&e.id),
        link: pick_link(&e.links, feed_url).filter(|l| l.len() <= MAX_LINK),
        title: capped(e.title.as_ref().map(text_of).unwrap_or_default(), MAX_TITLE),
        summary_html: e.summary.map(|s| capped(s.content, MAX_HTML)).filter(|s| !s.trim().is_empty()),
        content_html: e.content.and_then(|c| c.body).map(|b| capped(b, MAX_HTML)).filter(|s| !s.trim().is_empty()),
        authors: e
            .authors
            .into_iter()
            .filter_map(|p| p.name)
            .map(|n| capped(n.trim().to_string(), MAX_AUTHOR))
            .filter(|n| !n.is_empty())
            .take(MAX_AUTHORS)
            .collect(),
        published: e.published.or(e.updated),
        updated: e.updated,
        language: e.language.as_deref().map(clean::language_code).or_else(|| feed_language.map(str::to_string)),
    }
}

/// A title or other short text as one line of plain text.
fn text_of(t: &Text) -> String {
    let plain = if t.content_type.to_string().contains("html") || t.content.contains('<') {
        clean::html_to_text(&t.content)
    } else {
        t.content.clone()
    };
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The entry's web page: an `alternate` (or unlabelled) link first, made absolute
/// against the feed's URL. Only an http(s) link is a page: a `javascript:` or `data:`
/// link is dropped here, so it never becomes an article's URL or a base that relative
/// links in its HTML resolve against.
fn pick_link(links: &[model::Link], base: &Url) -> Option<String> {
    let best = links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")) && !l.href.trim().is_empty())
        .or_else(|| links.iter().find(|l| !l.href.trim().is_empty()))?;
    let url: String = base.join(best.href.trim()).ok()?.into();
    crate::model::is_web_url(&url).then_some(url)
}

/// The document without XML declarations that are not at its start: they are invalid
/// there, and quick-xml (under feed-rs) panics on one that names an encoding.
fn without_late_declarations(text: &str) -> Cow<'_, str> {
    let start = text.len() - text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']).len();
    let is_declaration = |at: usize| {
        text[at..].starts_with("<?xml") && text[at + 5..].starts_with(|c: char| c.is_whitespace() || c == '?')
    };
    let late: Vec<usize> =
        text.match_indices("<?xml").map(|(i, _)| i).filter(|&i| i != start && is_declaration(i)).collect();
    if late.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for at in late {
        if at < from {
            continue;
        }
        out.push_str(&text[from..at]);
        from = text[at..].find("?>").map_or(text.len(), |end| at + end + 2);
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

/// An XML document cut after its first `max` entries (`item`/`entry` elements), with
/// the elements still open closed again, and the number of entries cut off. JSON and
/// documents with fewer entries are returned as they are.
fn keep_first_entries(bytes: &[u8], max: usize) -> (Cow<'_, [u8]>, usize) {
    let Ok(text) = std::str::from_utf8(bytes) else { return (Cow::Borrowed(bytes), 0) };
    if !text.trim_start().starts_with('<') {
        return (Cow::Borrowed(bytes), 0);
    }
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut open: Vec<String> = Vec::new();
    let (mut seen, mut cut, mut entry_depth) = (0usize, None::<(usize, Vec<String>)>, None::<usize>);
    loop {
        let before = reader.buffer_position() as usize;
        let (name, empty) = match reader.read_event() {
            Ok(Event::Start(e)) => (e.name().into_inner().to_string(), false),
            Ok(Event::Empty(e)) => (e.name().into_inner().to_string(), true),
            Ok(Event::End(_)) => {
                open.pop();
                if cut.is_some() && open.is_empty() {
                    break;
                }
                continue;
            }
            Ok(Event::Eof) => break,
            Ok(_) => continue,
            // Let feed-rs report what is wrong with the document.
            Err(_) => return (Cow::Borrowed(bytes), 0),
        };
        let local = name.rsplit(':').next().unwrap_or(&name);
        // Entries are the item/entry elements at the depth of the first one.
        if (local == "item" || local == "entry") && entry_depth.is_none_or(|d| d == open.len()) {
            entry_depth = Some(open.len());
            seen += 1;
            if seen == max + 1 {
                cut = Some((before, open.clone()));
            }
        }
        if !empty {
            open.push(name);
        }
    }
    let Some((at, stack)) = cut else { return (Cow::Borrowed(bytes), 0) };
    let mut out = Vec::with_capacity(at + 64);
    out.extend_from_slice(&bytes[..at]);
    for name in stack.iter().rev() {
        out.extend_from_slice(format!("</{name}>").as_bytes());
    }
    (Cow::Owned(out), seen - max)
}

/// Some servers send a gzip file as the body itself, without Content-Encoding.
fn inflate_if_gzip(bytes: &[u8], max_body: u64) -> Result<Cow<'_, [u8]>, FeedError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max_body + 1)
        .read_to_end(&mut out)
        .map_err(|e| FeedError::new(ErrorKind::Parse, format!("the body is gzip data that does not inflate: {e}")))?;
    if out.len() as u64 > max_body {
        return Err(FeedError::new(
            ErrorKind::TooLarge,
            format!("the gzip body inflates to more than the limit of {max_body} bytes"),
        ));
    }
    Ok(Cow::Owned(out))
}

/// feed-rs reads `<rss>` only with version 2.0, 0.91 or 0.92. RSS 0.90, 0.93, 0.94
/// and a missing version are read the same way, so the root element's version is
/// rewritten to 2.0 for them. Comments, processing instructions and the DOCTYPE
/// before the root are skipped; nothing else is touched.
fn rss_version_as_2(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Some(root) = root_start(bytes) else {
        return Cow::Borrowed(bytes);
    };
    let rest = &bytes[root..];
    if !rest.starts_with(b"<rss") || !rest.get(4).is_some_and(|b| b.is_ascii_whitespace() || *b == b'>') {
        return Cow::Borrowed(bytes);
    }
    let Some(tag_len) = rest.iter().position(|&b| b == b'>') else {
        return Cow::Borrowed(bytes);
    };
    let tag = &rest[..tag_len];
    let version = find(tag, b" version=")
        .or_else(|| find(tag, b"\tversion="))
        .or_else(|| find(tag, b"\nversion="))
        .map(|i| i + b" version=".len());
    let mut out = Vec::with_capacity(bytes.len() + 16);
    match version {
        Some(v) => {
            let quote = tag.get(v).copied().filter(|q| *q == b'"' || *q == b'\'');
            let Some(quote) = quote else {
                return Cow::Borrowed(bytes);
            };
            let Some(len) = tag[v + 1..].iter().position(|&b| b == quote) else {
                return Cow::Borrowed(bytes);
            };
            let value = &tag[v + 1..v + 1 + len];
            if matches!(value, b"2.0" | b"0.91" | b"0.92" | b"") {
                return Cow::Borrowed(bytes);
            }
            out.extend_from_slice(&bytes[..root + v + 1]);
            out.extend_from_slice(b"2.0");
            out.extend_from_slice(&bytes[root + v + 1 + len..]);
        }
        None => {
            out.extend_from_slice(&bytes[..root + 4]);
            out.extend_from_slice(b" version=\"2.0\"");
            out.extend_from_slice(&bytes[root + 4..]);
        }
    }
    Cow::Owned(out)
}

/// Offset of the root element's `<`, past the prolog, comments and DOCTYPE.
fn root_start(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len().min(256 * 1024) {
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i += find(rest, b"-->")? + 3;
        } else if rest.starts_with(b"<?") {
            i += find(rest, b"?>")? + 2;
        } else if rest.starts_with(b"<!") {
            // A DOCTYPE, perhaps with an internal subset in brackets.
            let close = match (find(rest, b"["), find(rest, b">")) {
                (Some(open), Some(gt)) if open < gt => find(rest, b"]>").map(|e| e + 2)?,
                (_, Some(gt)) => gt + 1,
                _ => return None,
            };
            i += close;
        } else if rest.starts_with(b"<") {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

/// Reads the many ways feeds write dates: RFC 3339 and RFC 2822 with their common
/// mistakes, English and Indonesian day and month names ("Sen, 3 Mei 2025 10:00
/// WIB"), and dates without a zone, which are taken to be in `timezone`.
pub fn parse_date(raw: &str, timezone: Tz) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.to_utc());
    }
    let normal = normalise_date(s);
    const ZONED: &[&str] = &[
        "%d %b %Y %H:%M:%S %z",
        "%d %b %Y %H:%M %z",
        "%b %d %Y %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ];
    for f in ZONED {
        if let Ok(t) = DateTime::parse_from_str(&normal, f) {
            return Some(t.to_utc());
        }
    }
    const LOCAL: &[&str] = &[
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%b %d %Y %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ];
    let local = LOCAL.iter().find_map(|f| NaiveDateTime::parse_from_str(&normal, f).ok()).or_else(|| {
        ["%d %b %Y", "%b %d %Y", "%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(&normal, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    timezone.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

/// Rewrites a date into the shapes `parse_date` tries: day names dropped, month
/// names as English abbreviations, zone names as offsets, words like "pukul" gone.
fn normalise_date(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for word in s.split(|c: char| c.is_whitespace() || c == ',') {
        let w = word.trim_end_matches('.');
        if w.is_empty() {
            continue;
        }
        let lower = w.to_lowercase();
        if let Some(month) = month(&lower) {
            out.push(month.to_string());
        } else if is_day_name(&lower) || matches!(lower.as_str(), "pukul" | "jam" | "at" | "um") {
            continue;
        } else if let Some(offset) = zone_offset(w) {
            out.push(offset.to_string());
        } else if is_dotted_time(w) {
            // "19.30", the Indonesian way of writing 19:30.
            out.push(w.replace('.', ":"));
        } else {
            out.push(w.to_string());
        }
    }
    out.join(" ")
}

fn is_dotted_time(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

fn month(w: &str) -> Option<&'static str> {
    const MONTHS: &[(&str, &[&str])] = &[
        ("Jan", &["jan", "januari", "january"]),
        ("Feb", &["feb", "februari", "pebruari", "february", "peb"]),
        ("Mar", &["mar", "maret", "march"]),
        ("Apr", &["apr", "april"]),
        ("May", &["mei", "may"]),
        ("Jun", &["jun", "juni", "june"]),
        ("Jul", &["jul", "juli", "july"]),
        ("Aug", &["agu", "agt", "ags", "agustus", "aug", "august"]),
        ("Sep", &["sep", "sept", "september"]),
        ("Oct", &["okt", "oktober", "oct", "october"]),
        ("Nov", &["nov", "nop", "november", "nopember"]),
        ("Dec", &["des", "desember", "dec", "december"]),
    ];
    MONTHS.iter().find(|(_, names)| names.contains(&w)).map(|(en, _)| *en)
}

fn is_day_name(w: &str) -> bool {
    const DAYS: &[&str] = &[
        "senin",
        "sen",
        "selasa",
        "sel",
        "rabu",
        "rab",
        "kamis",
        "kam",
        "jumat",
        "jum'at",
        "jum",
        "sabtu",
        "sab",
        "minggu",
        "min",
        "ahad",
        "mon",
        "monday",
        "tue",
        "tues",
        "tuesday",
        "wed",
        "wednesday",
        "thu",
        "thur",
        "thurs",
        "thursday",
        "fri",
        "friday",
        "sat",
        "saturday",
        "sun",
        "sunday",
    ];
    DAYS.contains(&w)
}

fn zone_offset(w: &str) -> Option<&'static str> {
    Some(match w {
        "WIB" => "+0700",
        "WITA" => "+0800",
        "WIT" => "+0900",
        "GMT" | "UTC" | "UT" | "Z" => "+0000",
        "EST" => "-0500",
        "EDT" => "-0400",
        "CST" => "-0600",
        "CDT" => "-0500",
        "MST" => "-0700",
        "MDT" => "-0600",
        "PST" => "-0800",
        "PDT" => "-0700",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<String> {
        parse_date(s, chrono_tz::Asia::Jakarta).map(|t| t.to_rfc3339())
    }

    #[test]
    fn fields_are_capped_and_long_guids_stay_apart() {
        let huge_title = "é".repeat(5 << 20); // 10 MB
        let long_guid = "g".repeat(5_000);
        let long_link = format!("https://e.org/{}", "p".repeat(10_000));
        let doc = format!(
            r#"<rss version="2.0"><channel><title>t</title>
            <item><title>{huge_title}</title><guid>{long_guid}1</guid><link>{long_link}</link></item>
            <item><title>b</title><guid>{long_guid}2</guid></item></channel></rss>"#
        );
        let f = parse(doc.as_bytes(), None, &Url::parse("https://e.org/").unwrap(), Tz::UTC, limits(10)).unwrap();
        let a = &f.entries[0];
        assert!(a.title.len() <= MAX_TITLE && a.title.len() > MAX_TITLE - 2, "{}", a.title.len());
        assert!(a.title.chars().all(|c| c == 'é'));
        assert_eq!(a.link, None, "a link over {MAX_LINK} bytes");
        let (g1, g2) = (a.guid.as_deref().unwrap(), f.entries[1].guid.as_deref().unwrap());
        assert!(g1.len() <= MAX_GUID && g2.len() <= MAX_GUID);
        assert_ne!(g1, g2, "two long GUIDs that differ only at the end stay two");
    }

    #[test]
    fn only_http_links_are_entry_links() {
        let doc = r#"<rss version="2.0"><channel><title>t</title>
            <item><title>a</title><link>javascript:alert(document.domain)//</link></item>
            <item><title>b</title><link>vbscript:msgbox(1)</link></item>
            <item><title>c</title><link>data:text/html;base64,PHNjcmlwdD4=</link></item>
            <item><title>d</title><link>/relative/d</link></item>
            <item><title>e</title><link>ftp://e.org/e</link></item></channel></rss>"#;
        let f = parse(doc.as_bytes(), None, &Url::parse("https://example.org/feed").unwrap(), Tz::UTC, limits(100))
            .unwrap();
        let links: Vec<Option<&str>> = f.entries.iter().map(|e| e.link.as_deref()).collect();
        assert_eq!(links, [None, None, None, Some("https://example.org/relative/d"), None]);
    }

    #[test]
    fn dates_in_english_indonesian_and_without_zone() {
        let cases = [
            ("Fri, 27 Jun 2025 11:48:17 +0700", "2025-06-27T04:48:17+00:00"),
            ("2025-06-27T11:48:17+07:00", "2025-06-27T04:48:17+00:00"),
            ("Sen, 3 Mei 2025 10:00:00 +0700", "2025-05-03T03:00:00+00:00"),
            ("Jumat, 27 Juni 2025 11:48 WIB", "2025-06-27T04:48:00+00:00"),
            ("Minggu, 26 Januari 2025 pukul 19.30 WIB", "2025-01-26T12:30:00+00:00"),
            ("Thurs, 13 Jul 2011 07:38:00 GMT", "2011-07-13T07:38:00+00:00"),
            ("Wed, 02 Oct 2002 08:00:00 EST", "2002-10-02T13:00:00+00:00"),
            // No zone: taken as the feed's zone (Asia/Jakarta here).
            ("2025-06-27 11:48:17", "2025-06-27T04:48:17+00:00"),
            ("2025-06-27T11:48:17", "2025-06-27T04:48:17+00:00"),
            ("27 Agustus 2025", "2025-08-26T17:00:00+00:00"),
            ("2025-06-27", "2025-06-26T17:00:00+00:00"),
        ];
        for (raw, want) in cases {
            assert_eq!(d(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(d(""), None);
        assert_eq!(d("kemarin sore"), None);
        assert_eq!(d("32 Jan 2025"), None);
    }

    #[test]
    fn entries_without_ids_get_none_not_a_random_uuid() {
        let xml = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>No id</title><description>x</description></item>
            <item><title>Has link</title><link>/a/1</link></item>
            <item><title>Has guid</title><guid isPermaLink="false">abc</guid></item>
            </channel></rss>"#;
        let url = Url::parse("https://example.org/feed").unwrap();
        let f = parse(xml, None, &url, Tz::UTC, limits(100)).unwrap();
        let ids: Vec<_> = f.entries.iter().map(|e| e.guid.clone()).collect();
        assert_eq!(ids, [None, None, Some("abc".into())]);
        assert_eq!(f.entries[1].link.as_deref(), Some("https://example.org/a/1"));
    }

    #[test]
    fn html_pages_and_empty_bodies_get_clear_errors() {
        let url = Url::parse("https://example.org/").unwrap();
        let e = parse(b"<!DOCTYPE html><html><body>Login</body></html>", None, &url, Tz::UTC, limits(10)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Parse);
        assert!(e.message.contains("HTML page"), "{e}");
        let e = parse(b"  \n", None, &url, Tz::UTC, limits(10)).unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn entries_over_the_cap_are_counted() {
        let mut xml = String::from(r#"<rss version="2.0"><channel><title>t</title>"#);
        for i in 0..30 {
            xml.push_str(&format!("<item><title>{i}</title><link>https://e.org/{i}</link></item>"));
        }
        xml.push_str("</channel></rss>");
        let url = Url::parse("https://e.org/").unwrap();
        let f = parse(xml.as_bytes(), None, &url, Tz::UTC, limits(10)).unwrap();
        assert_eq!((f.entries.len(), f.truncated), (10, 20));
        assert_eq!(f.entries[9].title, "9");
        // Atom, with namespaced elements around.
        let mut atom = String::from("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title>");
        for i in 0..25 {
            atom.push_str(&format!("<entry><title>{i}</title><id>e{i}</id></entry>"));
        }
        atom.push_str("</feed>");
        let f = parse(atom.as_bytes(), None, &url, Tz::UTC, limits(5)).unwrap();
        assert_eq!((f.entries.len(), f.truncated), (5, 20));
    }

    fn limits(max_entries: usize) -> Limits {
        Limits { max_entries, max_body: 1 << 20 }
    }

    #[test]
    fn a_declaration_after_the_start_is_dropped_not_a_panic() {
        let url = Url::parse("https://e.org/").unwrap();
        let doc = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\
                   <title>t</title><entry><title>x</title></entry></feed>";
        let f = parse(doc.as_bytes(), None, &url, Tz::UTC, limits(10)).unwrap();
        assert_eq!(f.entries[0].title, "x");
        assert_eq!(without_late_declarations("<?xml version=\"1.0\"?><a/>"), "<?xml version=\"1.0\"?><a/>");
        assert_eq!(
            without_late_declarations("<a><?xml-stylesheet href=\"s\"?></a>"),
            "<a><?xml-stylesheet href=\"s\"?></a>"
        );
    }

    #[test]
    fn old_and_unversioned_rss_is_read_as_2() {
        let url = Url::parse("https://e.org/").unwrap();
        for root in [
            "<rss version=\"0.93\">",
            "<rss version='0.94' xmlns:dc=\"http://purl.org/dc/elements/1.1/\">",
            "<rss>",
            "<rss\n  version=\"0.9\">",
        ] {
            let xml = format!(
                "<?xml version=\"1.0\"?>\n<!-- a comment with <rss version=\"9\"> in it -->\n\
                 <!DOCTYPE rss [<!ENTITY x \"y\">]>\n{root}<channel><title>T</title>\
                 <item><title>One</title><link>https://e.org/1</link></item></channel></rss>"
            );
            let f = parse(xml.as_bytes(), None, &url, Tz::UTC, limits(10)).unwrap_or_else(|e| panic!("{root}: {e}"));
            assert_eq!(f.entries[0].title, "One", "{root}");
        }
        // Known versions and other roots are left alone.
        assert!(matches!(rss_version_as_2(b"<rss version=\"2.0\"></rss>"), Cow::Borrowed(_)));
        assert!(matches!(rss_version_as_2(b"<feed><rss/></feed>"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_gzip_body_without_content_encoding_is_inflated_within_the_limit() {
        use std::io::Write;
        let url = Url::parse("https://e.org/").unwrap();
        let xml = b"<rss version=\"2.0\"><channel><title>T</title><item><title>Zipped</title></item></channel></rss>";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(xml).unwrap();
        let gz = gz.finish().unwrap();
        let f = parse(&gz, None, &url, Tz::UTC, limits(10)).unwrap();
        assert_eq!(f.entries[0].title, "Zipped");
        let tight = Limits { max_entries: 10, max_body: 20 };
        assert_eq!(parse(&gz, None, &url, Tz::UTC, tight).unwrap_err().kind, ErrorKind::TooLarge);
    }
}
