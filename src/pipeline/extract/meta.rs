//! What a page says about itself in its markup: `<link rel=canonical>`, `og:url`,
//! `article:published_time`, `<html lang>`, and how deeply its elements nest (a page
//! nested past [`super::MAX_DEPTH`] is refused before a tree is built from it).

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{Span, Tokenizer};

use crate::pipeline::clean::Quiet;

/// The page's hints, as written (resolved and checked by the caller).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Hints {
    pub canonical: Option<String>,
    pub og_url: Option<String>,
    pub published: Option<String>,
    pub lang: Option<String>,
    /// The deepest nesting of elements that are not void (an estimate: end tags the
    /// page leaves out are not inferred).
    pub depth: usize,
    /// Elements in all.
    pub elements: usize,
}

/// Elements that never have content, so never open a level.
fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"area"
            | b"base"
            | b"br"
            | b"col"
            | b"embed"
            | b"hr"
            | b"img"
            | b"input"
            | b"link"
            | b"meta"
            | b"source"
            | b"track"
            | b"wbr"
            // Elements whose end tags pages leave out all the time.
            | b"p"
            | b"li"
            | b"option"
            | b"td"
            | b"tr"
    )
}

/// The tags hints are read from.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Html,
    Link,
    Meta,
    Other,
}

/// The attributes hints come from.
const NAMES: [&[u8]; 6] = [b"lang", b"rel", b"href", b"property", b"name", b"content"];

/// The values of [`NAMES`] on the start tag being read: each trimmed, the first of a
/// name only, empty ones left out.
type Attributes = [Option<String>; NAMES.len()];

impl Hints {
    /// Takes what a finished start tag says.
    fn read(&mut self, kind: Kind, a: Attributes) {
        let [lang, rel, href, property, name, content] = a;
        match kind {
            Kind::Html if self.lang.is_none() => self.lang = lang,
            Kind::Link if self.canonical.is_none() => {
                let rel = rel.unwrap_or_default().to_ascii_lowercase();
                if rel.split_whitespace().any(|r| r == "canonical") {
                    self.canonical = href;
                }
            }
            Kind::Meta => match property.or(name).unwrap_or_default().to_ascii_lowercase().as_str() {
                "og:url" if self.og_url.is_none() => self.og_url = content,
                "article:published_time" | "og:published_time" | "datepublished" | "pubdate"
                    if self.published.is_none() =>
                {
                    self.published = content
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// Reads the hints from the whole page, and its nesting, in one pass of the tokenizer.
/// Its events borrow the tokenizer's buffers: only the few attributes hints come from
/// are copied (building every token, text and attribute map, was a fifth of the time of
/// extracting a page).
pub fn hints(html: &str) -> Hints {
    let mut h = Hints::default();
    let mut depth = 0usize;
    let (mut kind, mut void) = (Kind::Other, false);
    let mut attributes = Attributes::default();
    // The attribute whose value comes next, when it is one of `NAMES`.
    let mut pending: Option<usize> = None;
    let mut emitter = CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| -> Option<()> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                h.elements += 1;
                void = is_void(name);
                kind = match name {
                    b"html" => Kind::Html,
                    b"link" => Kind::Link,
                    b"meta" => Kind::Meta,
                    _ => Kind::Other,
                };
                attributes = Attributes::default();
                pending = None;
            }
            CallbackEvent::AttributeName { name } if kind != Kind::Other => {
                pending = NAMES.iter().position(|n| *n == name);
            }
            CallbackEvent::AttributeValue { value } if kind != Kind::Other => {
                if let Some(slot) = pending.take().map(|i| &mut attributes[i]) {
                    let value = String::from_utf8_lossy(value).trim().to_string();
                    if slot.is_none() && !value.is_empty() {
                        *slot = Some(value);
                    }
                }
            }
            CallbackEvent::CloseStartTag { self_closing } => {
                if !void && !self_closing {
                    depth += 1;
                    h.depth = h.depth.max(depth);
                }
                h.read(kind, std::mem::take(&mut attributes));
                kind = Kind::Other;
            }
            CallbackEvent::EndTag { name } => {
                kind = Kind::Other;
                if !is_void(name) {
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        None
    });
    emitter.naively_switch_states(true);
    for _ in Tokenizer::new_with_emitter(html, Quiet(emitter)) {}
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_og_url_published_and_lang_are_read() {
        let h = hints(
            r#"<html lang="id-ID"><head>
            <link rel="stylesheet" href="/s.css"><link rel="Canonical" href="https://a.example/berita/1">
            <meta property="og:url" content="https://a.example/berita/1?utm_source=x">
            <meta property="article:published_time" content="2025-01-26T10:00:00+07:00">
            </head><body><div><div><p>x</div></div></body></html>"#,
        );
        assert_eq!(h.canonical.as_deref(), Some("https://a.example/berita/1"));
        assert_eq!(h.og_url.as_deref(), Some("https://a.example/berita/1?utm_source=x"));
        assert_eq!(h.published.as_deref(), Some("2025-01-26T10:00:00+07:00"));
        assert_eq!(h.lang.as_deref(), Some("id-ID"));
        assert_eq!(h.depth, 4);
    }

    #[test]
    fn scripts_end_tags_and_second_values_give_no_hints() {
        let h = hints(
            r#"<HTML LANG=" en "><head><script>document.write('<link rel=canonical href="https://x.example/script">')</script>
            <link REL="alternate canonical" HREF="https://a.example/1" href="https://a.example/2">
            <meta name="pubdate" content=""><meta name="pubdate" content="2025-02-01">
            </head><body></div class="x" lang="fr"><p>x</body></html>"#,
        );
        assert_eq!(h.lang.as_deref(), Some("en"));
        assert_eq!(h.canonical.as_deref(), Some("https://a.example/1"));
        // An empty value is no value: the next tag that has one gives it.
        assert_eq!(h.published.as_deref(), Some("2025-02-01"));
        assert_eq!(h.elements, 8);
    }
}
