//! Feed bytes → [`ParsedFeed`]: RSS 0.90–2.0 (Userland's namespaced 2.0 too), Atom 0.3
//! and 1.0, JSON Feed 1.x and RSS written as JSON.
//!
//! * `tree`: the XML document as a small element tree, read leniently (entities of
//!   HTML decoded, mismatched end tags tolerated, no DTD expansion, entries past the
//!   cap skipped unbuilt);
//! * `xml`: RSS and Atom read from the tree, every variant of where a feed puts an
//!   entry's title, page, dates and text;
//! * `json`: JSON Feed;
//! * `date`: dates in the many forms feeds write them.
//!
//! kabar reads feeds itself rather than through feed-rs, whose model lost entries and
//! fields that real feeds carry: Atom 0.3 documents came out empty; one text construct
//! of an unexpected `type` rejected the whole feed; an `isPermaLink` GUID, RSS 1.0's
//! `rdf:about` and Userland's namespace were not read; a title with markup inside came
//! out empty; `dcterms` dates and W3C-DTF without seconds were not read (the golden
//! tests in `tests/parse.rs` name each case). An entry with no id gets none (no
//! invented UUID): `dedup` keys it.

mod date;
mod json;
mod tree;
mod xml;

pub use date::parse_date;

use std::borrow::Cow;
use std::io::Read;

use chrono_tz::Tz;
use url::Url;

use crate::model::{Entry, ErrorKind, FeedError, ParsedFeed};
use crate::pipeline::decode;

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
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let text = without_late_declarations(&decoded.text);
    let body = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let not_a_feed = |detail: String| {
        let message = if looks_like_html(body.as_bytes()) {
            "the server sent an HTML page, not a feed".to_string()
        } else {
            format!("not a feed: {detail}")
        };
        FeedError::new(ErrorKind::Parse, message)
    };
    let (feed, entry_elements, skipped) = if body.starts_with('{') || body.starts_with('[') {
        let feed = json::read(body, feed_url, timezone).map_err(not_a_feed)?;
        let feed = feed.ok_or_else(|| not_a_feed("JSON without items (not JSON Feed)".to_string()))?;
        let n = feed.entries.len();
        (feed, n, 0)
    } else {
        let document = tree::read(body, limits.max_entries).map_err(|e| not_a_feed(e.0))?;
        let feed = xml::read(&document.root, feed_url, timezone)
            .ok_or_else(|| not_a_feed(format!("the document is <{}>, not RSS, RDF or Atom", document.root.name)))?;
        (feed, document.entry_elements, document.skipped)
    };
    let mut entries: Vec<Entry> = feed.entries.into_iter().map(capped_entry).collect();
    // JSON items past the cap (XML ones were never built).
    let over = entries.len().saturating_sub(limits.max_entries);
    entries.truncate(limits.max_entries);
    if entries.is_empty() && entry_elements > 0 {
        warnings.push(format!("the document has {entry_elements} entry elements but none could be read"));
    }
    warnings.extend(feed.notes);
    Ok(ParsedFeed {
        title: feed.title.map(|t| capped(t, MAX_TITLE)),
        site_url: feed.site_url,
        language: feed.language,
        ttl: feed.ttl.map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60)),
        entries,
        truncated: skipped + over,
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
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

/// An entry with every field within its cap (see [`MAX_TITLE`]).
fn capped_entry(e: Entry) -> Entry {
    Entry {
        guid: e.guid.as_deref().and_then(guid_of),
        link: e.link.filter(|l| l.len() <= MAX_LINK),
        title: capped(e.title, MAX_TITLE),
        summary_html: e.summary_html.map(|s| capped(s, MAX_HTML)),
        content_html: e.content_html.map(|c| capped(c, MAX_HTML)),
        authors: e.authors.into_iter().map(|a| capped(a, MAX_AUTHOR)).take(MAX_AUTHORS).collect(),
        ..e
    }
}

/// The document without XML declarations that are not at its start: they are invalid
/// there, and quick-xml's readers have panicked on one that names an encoding.
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

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.contains("<!doctype html") || head.contains("<html")
}

#[cfg(test)]
mod tests {
    use super::*;

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
