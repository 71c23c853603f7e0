//! RSS (0.90, 0.91–0.94, 1.0, 2.0, and 2.0 in Userland's namespace) and Atom (0.3 and
//! 1.0) from the document tree: what each entry says, in kabar's terms.
//!
//! Read as feeds are written, not as the specifications say they should be: elements
//! of RSS in any of its namespaces (or none), Atom 0.3's names beside 1.0's, Dublin
//! Core and Atom elements inside RSS, text constructs of any `type` (an unknown one
//! is text), markup left unescaped inside a title or description, and the page an
//! entry links to found wherever a feed puts it (`<link>`, an `isPermaLink` GUID,
//! `rdf:about`, `atom:link`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::date::parse_date;
use super::tree::{Child, Node, unescape};
use crate::model::Entry;
use crate::pipeline::clean;

/// Namespaces RSS's own elements come in: none (2.0, 0.9x), RSS 1.0, RSS 0.90's, and
/// Userland's for 2.0.
const RSS: &[&str] = &[
    "",
    "http://purl.org/rss/1.0/",
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://backend.userland.com/rss2",
    "http://backend.userland.com/rss",
];
const ATOM10: &str = "http://www.w3.org/2005/Atom";
const ATOM03: &str = "http://purl.org/atom/ns#";
/// Atom 1.0, 0.3, and none (Atom without its namespace, as some feeds write it).
const ATOM: &[&str] = &[ATOM10, ATOM03, ""];
const ATOM_ONLY: &[&str] = &[ATOM10, ATOM03];
const DC: &[&str] = &["http://purl.org/dc/elements/1.1/"];
const DCTERMS: &[&str] = &["http://purl.org/dc/terms/"];
const CONTENT: &[&str] = &["http://purl.org/rss/1.0/modules/content/"];
const XHTML: &[&str] = &["http://www.w3.org/1999/xhtml"];
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const XML: &str = "http://www.w3.org/XML/1998/namespace";
const ITUNES: &[&str] = &["http://www.itunes.com/dtds/podcast-1.0.dtd"];
const WFW: &[&str] = &["http://wellformedweb.org/CommentAPI/"];

/// A feed document as read, before kabar's caps.
#[derive(Debug, Default)]
pub struct Feed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>`, in minutes.
    pub ttl: Option<u32>,
    pub entries: Vec<Entry>,
    /// Something worth a warning (a text construct of an unknown type).
    pub notes: Vec<String>,
}

/// What every reader needs along the way.
struct Reader<'a> {
    timezone: Tz,
    notes: &'a mut Vec<String>,
}

/// Reads a feed from its root element; `None` when the root is no feed kabar knows.
pub fn read(root: &Node, feed_url: &Url, timezone: Tz) -> Option<Feed> {
    let base = with_base(feed_url, root);
    let mut feed = Feed::default();
    let mut notes = Vec::new();
    let mut r = Reader { timezone, notes: &mut notes };
    let name = root.name.to_ascii_lowercase();
    match name.as_str() {
        "rss" | "rdf" => r.rss(root, &base, &mut feed),
        "feed" => r.atom_feed(root, &base, &mut feed),
        "entry" => {
            let language = lang(root);
            feed.entries.push(r.atom_entry(root, &base, language.as_deref()));
        }
        // A channel as the root (RSS 0.9x written without <rss>).
        "channel" => r.rss(root, &base, &mut feed),
        _ => return None,
    }
    feed.notes = notes;
    Some(feed)
}

/// `base` moved by the element's `xml:base`, if it has one.
fn with_base(base: &Url, node: &Node) -> Url {
    match node.attr_ns(XML, "base").and_then(|b| base.join(b.trim()).ok()) {
        Some(url) => url,
        None => base.clone(),
    }
}

/// The first date `node` has that reads, taking the elements `names` (namespace, name)
/// in order of preference.
fn first_date(node: &Node, names: &[(&[&str], &str)], timezone: Tz) -> Option<DateTime<Utc>> {
    names
        .iter()
        .find_map(|(ns, name)| node.elements().filter(|n| n.is(ns, name)).find_map(|n| parse_date(&n.text(), timezone)))
}

fn lang(node: &Node) -> Option<String> {
    node.attr_ns(XML, "lang").map(str::trim).filter(|l| !l.is_empty()).map(clean::language_code)
}

impl Reader<'_> {
    fn rss(&mut self, root: &Node, base: &Url, feed: &mut Feed) {
        let channel = if root.name.eq_ignore_ascii_case("channel") { Some(root) } else { root.child(RSS, "channel") };
        let channel_base = channel.map_or_else(|| base.clone(), |c| with_base(base, c));
        if let Some(c) = channel {
            feed.title = c.child(RSS, "title").map(rss_title).filter(|t| !t.is_empty());
            feed.site_url = c.child(RSS, "link").and_then(|l| absolute(&channel_base, &l.text()));
            feed.language = c
                .child(RSS, "language")
                .or_else(|| c.child(DC, "language"))
                .map(|l| clean::language_code(l.text().trim()))
                .filter(|l| !l.is_empty());
            feed.ttl = c.child(RSS, "ttl").and_then(|t| t.text().trim().parse().ok());
        }
        // Items sit in the channel (0.9x, 2.0) or beside it (0.90, 1.0); a document that
        // puts them anywhere else still has them.
        let mut items: Vec<(&Node, Url)> = Vec::new();
        for parent in [Some(root), channel].into_iter().flatten() {
            let parent_base = with_base(base, parent);
            for n in parent.elements().filter(|n| n.is(RSS, "item")) {
                if !items.iter().any(|(m, _)| std::ptr::eq(*m, n)) {
                    items.push((n, with_base(&parent_base, n)));
                }
            }
        }
        if items.is_empty() {
            descendants(root, "item", &mut |n| items.push((n, with_base(base, n))));
        }
        let language = feed.language.clone();
        for (item, item_base) in items {
            feed.entries.push(self.rss_item(item, &item_base, language.as_deref()));
        }
    }

    fn rss_item(&mut self, item: &Node, base: &Url, feed_language: Option<&str>) -> Entry {
        let about = item.attr_ns(RDF, "about").map(str::trim).filter(|a| !a.is_empty());
        let guid = item.child(RSS, "guid");
        let guid_text = guid.map(|g| g.text().trim().to_string()).filter(|g| !g.is_empty());
        let title = item
            .child(RSS, "title")
            .map(rss_title)
            .or_else(|| item.child(DC, "title").map(rss_title))
            .or_else(|| item.child(ATOM_ONLY, "title").map(|t| self.atom_title(t)))
            .unwrap_or_default();
        // The page: <link>, else a GUID that is a permalink (isPermaLink defaults to
        // true), else RSS 1.0's rdf:about, else an Atom link.
        let link = item
            .elements()
            .filter(|n| n.is(RSS, "link"))
            .find_map(|l| absolute(base, l.attr("href").map_or_else(|| l.text(), str::to_string).trim()))
            .or_else(|| {
                let permalink = guid
                    .is_some_and(|g| !g.attr("isPermaLink").is_some_and(|p| p.trim().eq_ignore_ascii_case("false")));
                guid_text.as_deref().filter(|_| permalink).and_then(|g| web(base, g))
            })
            .or_else(|| about.and_then(|a| web(base, a)))
            .or_else(|| atom_link(item, base))
            // Last, the page's comments (the article's own address, often with a fragment),
            // or the entry's comment feed: an address that is this entry's alone.
            .or_else(|| item.child(RSS, "comments").and_then(|c| web(base, &c.text())))
            .or_else(|| {
                item.child(WFW, "comment").or_else(|| item.child(WFW, "commentRss")).and_then(|c| web(base, &c.text()))
            });
        let summary = item
            .child(RSS, "description")
            .or_else(|| item.child(DC, "description"))
            .map(html_of)
            .or_else(|| item.child(ATOM_ONLY, "summary").map(|s| self.atom_html(s)))
            .or_else(|| item.child(ITUNES, "summary").map(|s| escape_text(&s.text())));
        let content = item
            .child(CONTENT, "encoded")
            .map(html_of)
            .or_else(|| item.child(XHTML, "body").or_else(|| item.child(XHTML, "div")).map(Node::inner_markup))
            .or_else(|| item.child(ATOM_ONLY, "content").map(|c| self.atom_html(c)));
        let date = |names: &[(&[&str], &str)]| first_date(item, names, self.timezone);
        let published = date(&[
            (RSS, "pubDate"),
            (DC, "date"),
            (DCTERMS, "issued"),
            (DCTERMS, "created"),
            (DCTERMS, "date"),
            (ATOM_ONLY, "published"),
            (ATOM_ONLY, "issued"),
        ]);
        let updated = date(&[(DCTERMS, "modified"), (ATOM_ONLY, "updated"), (ATOM_ONLY, "modified")]);
        let mut authors: Vec<String> = Vec::new();
        for n in item.elements() {
            if n.is(RSS, "author") || n.is(DC, "creator") || n.is(ITUNES, "author") {
                authors.push(n.text());
            } else if n.is(ATOM_ONLY, "author") {
                authors.push(n.child(ATOM, "name").map_or_else(|| n.text(), Node::text));
            }
        }
        let language = item
            .child(DC, "language")
            .map(|l| clean::language_code(l.text().trim()))
            .filter(|l| !l.is_empty())
            .or_else(|| lang(item))
            .or_else(|| feed_language.map(str::to_string));
        Entry {
            guid: guid_text.or_else(|| about.map(str::to_string)),
            link,
            title,
            summary_html: summary.filter(|s| !s.trim().is_empty()),
            content_html: content.filter(|s| !s.trim().is_empty()),
            authors: clean_authors(authors),
            published: published.or(updated),
            updated,
            language,
        }
    }

    fn atom_feed(&mut self, root: &Node, base: &Url, feed: &mut Feed) {
        feed.title = root.child(ATOM, "title").map(|t| self.atom_title(t)).filter(|t| !t.is_empty());
        feed.site_url = atom_link(root, base);
        feed.language = lang(root);
        let language = feed.language.clone();
        for entry in root.elements().filter(|n| n.is(ATOM, "entry")) {
            let entry_base = with_base(base, entry);
            feed.entries.push(self.atom_entry(entry, &entry_base, language.as_deref()));
        }
    }

    fn atom_entry(&mut self, entry: &Node, base: &Url, feed_language: Option<&str>) -> Entry {
        let title = entry
            .child(ATOM, "title")
            .map(|t| self.atom_title(t))
            .or_else(|| entry.child(DC, "title").map(rss_title))
            .unwrap_or_default();
        let summary = entry.child(ATOM, "summary").map(|s| self.atom_html(s));
        let content = entry.child(ATOM, "content").filter(|c| c.attr("src").is_none()).map(|c| self.atom_html(c));
        let date = |names: &[(&[&str], &str)]| first_date(entry, names, self.timezone);
        let published = date(&[
            (ATOM, "published"),
            (ATOM, "issued"),
            (ATOM, "created"),
            (DC, "date"),
            (DCTERMS, "issued"),
            (DCTERMS, "created"),
        ]);
        let updated = date(&[(ATOM, "updated"), (ATOM, "modified"), (DCTERMS, "modified")]);
        let authors = entry
            .elements()
            .filter(|n| n.is(ATOM, "author") || n.is(DC, "creator"))
            .map(|a| a.child(ATOM, "name").map_or_else(|| a.text(), Node::text))
            .collect();
        let id = entry.child(ATOM, "id").map(|i| i.text().trim().to_string()).filter(|i| !i.is_empty());
        Entry {
            link: atom_link(entry, base)
                .or_else(|| id.as_deref().and_then(|i| web(base, i).filter(|_| i.starts_with("http")))),
            guid: id,
            title,
            summary_html: summary.filter(|s| !s.trim().is_empty()),
            content_html: content.filter(|s| !s.trim().is_empty()),
            authors: clean_authors(authors),
            published: published.or(updated),
            updated,
            language: lang(entry).or_else(|| feed_language.map(str::to_string)),
        }
    }

    /// An Atom text construct as one line of plain text.
    fn atom_title(&mut self, node: &Node) -> String {
        let text = match self.kind(node) {
            Kind::Text => node.text(),
            Kind::Html => clean::html_to_text(&raw_html(node)),
            Kind::Xhtml => node.text(),
            Kind::Base64(inner) => match base64(&node.text()) {
                Some(decoded) if *inner == Kind::Html => clean::html_to_text(&decoded),
                Some(decoded) => decoded,
                None => node.text(),
            },
        };
        one_line(&text)
    }

    /// An Atom text construct as HTML.
    fn atom_html(&mut self, node: &Node) -> String {
        match self.kind(node) {
            Kind::Text => escape_text(&node.text()),
            Kind::Html => raw_html(node),
            Kind::Xhtml => xhtml_of(node),
            Kind::Base64(inner) => match (base64(&node.text()), *inner) {
                (Some(decoded), Kind::Html) => decoded,
                (Some(decoded), _) => escape_text(&decoded),
                (None, _) => escape_text(&node.text()),
            },
        }
    }

    /// What a text construct's `type` (and Atom 0.3's `mode`) say it holds. Any type
    /// that is not text, HTML or XML is read as text, with a note.
    fn kind(&mut self, node: &Node) -> Kind {
        let ty = node.attr("type").unwrap_or("").trim().to_ascii_lowercase();
        let mode = node.attr("mode").unwrap_or("").trim().to_ascii_lowercase();
        let base = match ty.as_str() {
            "" | "text" | "text/plain" => Kind::Text,
            "html" | "text/html" => Kind::Html,
            "xhtml" | "application/xhtml+xml" => Kind::Xhtml,
            t if t.contains("html") => Kind::Html,
            t if t.ends_with("xml") || t.ends_with("+xml") => Kind::Xhtml,
            t if t.starts_with("text/") => Kind::Text,
            other => {
                let note = format!("a text of type {other:?} read as plain text");
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                Kind::Text
            }
        };
        match mode.as_str() {
            "base64" => Kind::Base64(Box::new(if base == Kind::Text && ty.is_empty() { Kind::Html } else { base })),
            "escaped" if base == Kind::Text && ty.is_empty() => Kind::Html,
            "xml" => Kind::Xhtml,
            _ if !ty.is_empty()
                && !matches!(base, Kind::Html | Kind::Xhtml)
                && !ty.starts_with("text")
                && looks_base64(&node.text()) =>
            {
                // Atom 1.0: content of another media type is base64.
                Kind::Base64(Box::new(Kind::Text))
            }
            _ => base,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Text,
    Html,
    Xhtml,
    Base64(Box<Kind>),
}

/// Every element named `name` below `node` that is not inside another one.
fn descendants<'a>(node: &'a Node, name: &str, found: &mut impl FnMut(&'a Node)) {
    for n in node.elements() {
        if n.name.eq_ignore_ascii_case(name) {
            found(n);
        } else {
            descendants(n, name, found);
        }
    }
}

/// An RSS title as one line of plain text. RSS says nothing of its type: a title with
/// formatting tags is HTML, and entities escaped a second time (common inside CDATA:
/// `Tom &amp; Jerry`) are decoded; anything else that looks like a tag is text
/// (`Vec<String>`, `The <dialog> element`).
fn rss_title(node: &Node) -> String {
    let raw = node.text();
    let text = if has_formatting_tags(&raw) { clean::html_to_text(&raw) } else { unescape(&raw) };
    one_line(&text)
}

/// The tags that mark a title or short text as HTML.
fn has_formatting_tags(s: &str) -> bool {
    const TAGS: &[&str] = &[
        "b", "i", "em", "strong", "u", "s", "strike", "sub", "sup", "span", "a", "br", "font", "small", "big", "code",
        "abbr", "cite", "q", "mark", "del", "ins", "p", "div", "img", "tt",
    ];
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(lt) = rest.find('<') {
        let after = rest[lt + 1..].trim_start_matches('/');
        let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if TAGS.contains(&name.as_str()) && after[name.len()..].starts_with(['>', ' ', '/', '\t', '\n']) {
            return true;
        }
        rest = &rest[lt + 1..];
    }
    false
}

/// The HTML an RSS description (or `content:encoded`) holds: its text when escaped or
/// in CDATA, or the markup itself when the feed left it unescaped.
fn html_of(node: &Node) -> String {
    if node.has_elements() { node.inner_markup() } else { node.text() }
}

/// The HTML of an `html` text construct (markup left unescaped inside is taken too).
fn raw_html(node: &Node) -> String {
    html_of(node)
}

/// The markup of an `xhtml` text construct, without the `div` that wraps it.
fn xhtml_of(node: &Node) -> String {
    let elements: Vec<&Node> = node.elements().collect();
    let only_text_beside = node.children.iter().all(|c| match c {
        Child::Text(t) => t.trim().is_empty(),
        Child::Node(_) => true,
    });
    match elements.as_slice() {
        [div] if div.name.eq_ignore_ascii_case("div") && only_text_beside => div.inner_markup(),
        _ => node.inner_markup(),
    }
}

/// Plain text as HTML that reads back as the same text.
fn escape_text(s: &str) -> String {
    quick_xml::escape::partial_escape(s).into_owned()
}

/// Whitespace squeezed to single spaces, control characters dropped.
fn one_line(s: &str) -> String {
    let visible: String = s.chars().filter(|c| !c.is_control() || c.is_whitespace()).collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_authors(authors: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in authors.iter().map(|a| one_line(a)).filter(|a| !a.is_empty()) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// An Atom `link` that is the page: `rel` absent or `alternate` (also in its IRI form),
/// an HTML type first; else any link but the feed's own.
fn atom_link(node: &Node, base: &Url) -> Option<String> {
    let links: Vec<&Node> = node
        .elements()
        .filter(|n| n.is(ATOM_ONLY, "link") || (n.ns.is_empty() && n.name == "link" && n.attr("href").is_some()))
        .collect();
    let rel = |n: &Node| n.attr("rel").map(|r| r.trim().rsplit('/').next().unwrap_or("").to_ascii_lowercase());
    let alternate = |n: &Node| rel(n).is_none_or(|r| r == "alternate");
    let html = |n: &Node| n.attr("type").is_none_or(|t| t.contains("html"));
    let first_html = links.iter().copied().filter(|n| alternate(n) && html(n));
    first_html
        .chain(links.iter().copied().filter(|n| alternate(n)))
        .chain(links.iter().copied().filter(|n| rel(n).is_some_and(|r| r != "self" && r != "edit")))
        .chain(links.iter().copied())
        .find_map(|l| absolute(&with_base(base, l), l.attr("href")?.trim()))
}

/// `href` made absolute against `base`, if the result is an http(s) URL.
fn absolute(base: &Url, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url: String = base.join(href).ok()?.into();
    crate::model::is_web_url(&url).then_some(url)
}

/// `value` as a page address only if it is written as one (an absolute http(s) URL, or
/// a path): a GUID like `tag:example.org,2025:1` or `12345` is no page.
fn web(base: &Url, value: &str) -> Option<String> {
    let v = value.trim();
    let looks = v.starts_with("http://") || v.starts_with("https://") || v.starts_with('/');
    looks.then(|| absolute(base, v)).flatten()
}

fn looks_base64(s: &str) -> bool {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 8 && t.len() % 4 == 0 && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Base64 (whitespace ignored) decoded as UTF-8 text.
fn base64(s: &str) -> Option<String> {
    fn value(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    }
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= value(*b)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len().max(1)]);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes() {
        assert_eq!(base64("SGVsbG8sIDxiPndvcmxkPC9iPg==").as_deref(), Some("Hello, <b>world</b>"));
        assert_eq!(base64("SGk=").as_deref(), Some("Hi"));
        assert!(looks_base64("SGVsbG8sIDxiPndvcmxkPC9iPg=="));
        assert!(!looks_base64("Hello world"));
    }

    #[test]
    fn formatting_tags_mark_html_titles() {
        assert!(has_formatting_tags("A <b>bold</b> move"));
        assert!(has_formatting_tags("A<br/>B"));
        assert!(!has_formatting_tags("Vec<String>"));
        assert!(!has_formatting_tags("The <dialog> element"));
        assert!(!has_formatting_tags("a < b and c > d"));
    }
}
