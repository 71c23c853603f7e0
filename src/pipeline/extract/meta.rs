//! What a page says about itself in its markup: `<link rel=canonical>`, `og:url`,
//! `article:published_time`, `<html lang>`, and how deeply its elements nest (a page
//! nested past [`super::MAX_DEPTH`] is refused before a tree is built from it).

use html5gum::{DefaultEmitter, Token, Tokenizer};

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

/// The value of attribute `name` of `tag`, trimmed, if not empty.
fn attr<S: html5gum::SpanBound>(tag: &html5gum::StartTag<S>, name: &str) -> Option<String> {
    tag.attributes
        .get(name.as_bytes())
        .map(|v| String::from_utf8_lossy(&v.value).trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reads the hints from the whole page, and its nesting, in one pass of the tokenizer.
pub fn hints(html: &str) -> Hints {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut h = Hints::default();
    let mut depth = 0usize;
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                h.elements += 1;
                let name = tag.name.as_slice();
                if !is_void(name) && !tag.self_closing {
                    depth += 1;
                    h.depth = h.depth.max(depth);
                }
                match name {
                    b"html" if h.lang.is_none() => h.lang = attr(&tag, "lang"),
                    b"link" if h.canonical.is_none() => {
                        let rel = attr(&tag, "rel").unwrap_or_default().to_ascii_lowercase();
                        if rel.split_whitespace().any(|r| r == "canonical") {
                            h.canonical = attr(&tag, "href");
                        }
                    }
                    b"meta" => {
                        let key = attr(&tag, "property").or_else(|| attr(&tag, "name")).unwrap_or_default();
                        match key.to_ascii_lowercase().as_str() {
                            "og:url" if h.og_url.is_none() => h.og_url = attr(&tag, "content"),
                            "article:published_time" | "og:published_time" | "datepublished" | "pubdate"
                                if h.published.is_none() =>
                            {
                                h.published = attr(&tag, "content")
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            Token::EndTag(tag) if !is_void(tag.name.as_slice()) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
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
}
