//! Page → its main text: the article an entry's link leads to, when the feed carried
//! only a teaser.
//!
//! 1. `charset`: the bytes decoded (byte-order mark, valid UTF-8, the HTTP charset, the
//!    page's `<meta charset>`, windows-1252).
//! 2. `meta`: the page's hints (canonical URL, `og:url`, published time, `lang`) and how
//!    deeply it nests, from one pass of the tokenizer; a page nested past [`MAX_DEPTH`]
//!    or with more than [`MAX_ELEMENTS`] elements is refused before any tree is built.
//! 3. The main content, found by dom_smoothie (Readability's scoring over an html5ever
//!    tree), as HTML; `clean::html_to_text` turns it into one paragraph per line.
//! 4. kabar's own boilerplate rules (`clean::split_boilerplate`) set aside the
//!    in-article junk ("Baca juga", "MEMBACA", credits, ©, comment prompts): kept in the
//!    text, out of matching, as for feed text.
//!
//! Synchronous and pure: bytes in, a [`Page`] or a typed [`ExtractError`] out.

mod charset;
mod meta;
mod teaser;

use chrono::{DateTime, Utc};
use url::Url;

use crate::pipeline::clean;
pub use teaser::{FullText, LEAD_WORDS, SHORT_WORDS, Teaser, teaser};

/// Bumped whenever a change to extraction changes what it returns for some page, so
/// stored articles can be re-extracted.
pub const VERSION: u32 = 1;

/// Elements nested deeper than this are not a real article page; the tree builder and
/// the scorer are not asked to walk them.
pub const MAX_DEPTH: usize = 512;
/// More elements than this are not a real article page either (a 16 MiB page of
/// markup has about a million).
pub const MAX_ELEMENTS: usize = 200_000;
/// See `extract`.
const CHAR_THRESHOLD: usize = 2000;
/// Main text shorter than this (in characters) is no article: a paywall's teaser, a
/// consent wall, a bot check.
pub const MIN_TEXT: usize = 200;

/// What a page yields.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Page {
    pub title: Option<String>,
    /// The main text, one paragraph per line, boilerplate lines included.
    pub text: String,
    /// The lines of `text` that matching, fingerprints and the index leave out.
    pub boilerplate: Vec<String>,
    /// As the page declares it (`<html lang>`), normalised to a two-letter code.
    pub language: Option<String>,
    pub published: Option<DateTime<Utc>>,
    /// `<link rel=canonical>`, else `og:url`: absolute http(s) only, canonicalised.
    pub canonical_url: Option<String>,
}

/// Why a page gave no text. Each is final for that page and version: a retry would
/// read the same bytes the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("not an HTML page")]
    NotHtml,
    #[error("the page nests {0} levels deep (at most {MAX_DEPTH})")]
    TooDeep(usize),
    #[error("the page has {0} elements (at most {MAX_ELEMENTS})")]
    TooManyElements(usize),
    #[error("no main text found on the page")]
    NoMainText,
}

impl ExtractError {
    /// The status stored on the article.
    pub fn status(&self) -> &'static str {
        match self {
            ExtractError::NotHtml => "not_html",
            ExtractError::TooDeep(_) | ExtractError::TooManyElements(_) => "too_complex",
            ExtractError::NoMainText => "no_main_text",
        }
    }
}

/// Extracts the main text of the page `body` (served with `http_charset`, found at
/// `url`, which resolves relative canonical links).
pub fn extract(body: &[u8], http_charset: Option<&str>, url: Option<&Url>) -> Result<Page, ExtractError> {
    let (html, _) = charset::decode(body, http_charset);
    if !looks_like_html(&html) {
        return Err(ExtractError::NotHtml);
    }
    let hints = meta::hints(&html);
    if hints.depth > MAX_DEPTH {
        return Err(ExtractError::TooDeep(hints.depth));
    }
    if hints.elements > MAX_ELEMENTS {
        return Err(ExtractError::TooManyElements(hints.elements));
    }
    let config = dom_smoothie::Config {
        max_elements_to_parse: MAX_ELEMENTS,
        // Readability retries with looser rules while the content found is shorter than
        // this; its default (500 characters) stops at a news page's lead too often. Tuned
        // on WCXB's dev pages: 500 → 0.930 word F1, 1,000 → 0.932, 2,000 → 0.934, 3,000 →
        // 0.935, 5,000 → 0.933; 2,000 leaves room on the side of less.
        char_threshold: CHAR_THRESHOLD,
        ..dom_smoothie::Config::default()
    };
    let article = dom_smoothie::Readability::new(html.as_ref(), url.map(Url::as_str), Some(config))
        .and_then(|mut r| r.parse())
        .map_err(|_| ExtractError::NoMainText)?;
    let text = clean::html_to_text(&article.content);
    if text.chars().filter(|c| !c.is_whitespace()).count() < MIN_TEXT {
        return Err(ExtractError::NoMainText);
    }
    let (_, boilerplate) = clean::split_boilerplate(&text, None);
    let absolute = |link: &str| {
        let resolved = match url {
            Some(base) => base.join(link).ok()?,
            None => Url::parse(link).ok()?,
        };
        crate::model::is_web_url(resolved.as_str()).then(|| clean::canonical_url(resolved.as_str())).flatten()
    };
    let canonical_url =
        hints.canonical.as_deref().and_then(absolute).or_else(|| hints.og_url.as_deref().and_then(absolute));
    let published = hints
        .published
        .as_deref()
        .or(article.published_time.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
        .map(|t| t.to_utc());
    let language = hints.lang.as_deref().or(article.lang.as_deref()).map(clean::language_code).filter(|l| l.len() == 2);
    let title = Some(article.title.trim().to_string()).filter(|t| !t.is_empty());
    Ok(Page { title, text, boilerplate, language, published, canonical_url })
}

/// Markup, not an image or a PDF served as text/html: some tag in the first few
/// kilobytes, and no NUL bytes.
fn looks_like_html(text: &str) -> bool {
    let mut end = text.len().min(8192);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    !head.contains('\0') && {
        let lower = head.to_ascii_lowercase();
        ["<html", "<!doctype html", "<body", "<div", "<p", "<article", "<head"].iter().any(|t| lower.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE: &str = include_str!("../../../tests/fixtures/pages/wire.html");
    const AGGREGATOR: &str = include_str!("../../../tests/fixtures/pages/aggregator.html");
    const PARAGRAPHS: &str = include_str!("../../../tests/fixtures/pages/expected-paragraphs.txt");

    /// Page chrome of the two templates: navigation, "Terpopuler" and "Berita Terkait"
    /// lists, share buttons, comment forms, post navigation, footers.
    const CHROME: &[&str] = &[
        "Olahraga",
        "Cari berita",
        "Harga emas Antam",
        "Jadwal siaran langsung",
        "Kominfo dorong literasi digital",
        "WhatsApp",
        "Kirim Komentar",
        "Alamat email Anda",
        "Pedoman Media Siber",
        "Terpopuler",
        "Presiden resmikan bendungan",
        "Harga cabai rawit melonjak",
        "Dibuat dengan WordPress",
        "Kategori:",
        "Masuk",
    ];

    fn page(html: &str, url: &str) -> Page {
        extract(html.as_bytes(), None, Some(&Url::parse(url).unwrap())).unwrap()
    }

    #[test]
    fn both_templates_yield_every_paragraph_and_no_chrome() {
        for (html, url) in [
            (WIRE, "https://www.antaranews.example/berita/4610001"),
            (AGGREGATOR, "https://kabardigital.example/?p=8812"),
        ] {
            let p = page(html, url);
            let text = p.text.replace('\u{a0}', " ");
            for para in PARAGRAPHS.lines().filter(|l| !l.is_empty()).map(|l| l.replace('\u{a0}', " ")) {
                let para = para.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(text.contains(&para), "{url}: missing paragraph {para:?}\n{}", p.text);
            }
            for chrome in CHROME {
                assert!(!p.text.contains(chrome), "{url}: chrome {chrome:?} in the text\n{}", p.text);
            }
            assert_eq!(p.language.as_deref(), Some("id"));
            assert!(p.published.is_some());
            // In-article junk stays in the text, set aside as boilerplate.
            assert!(
                p.boilerplate.iter().any(|b| b.starts_with("Baca juga") || b.starts_with("MEMBACA")),
                "{:?}",
                p.boilerplate
            );
        }
        let wire = page(WIRE, "https://www.antaranews.example/berita/4610001");
        assert_eq!(
            wire.canonical_url.as_deref(),
            Some("https://www.antaranews.example/berita/4610001/indonesia-dan-india-memperkuat-kerjasama-digital")
        );
        for credit in ["Translator: Farhan Arda, Raka Adji", "Editor: Primayanti", "Hak cipta © ANTARA 2025"] {
            assert!(wire.boilerplate.iter().any(|b| b == credit), "{credit} not set aside: {:?}", wire.boilerplate);
        }
        let aggregator = page(AGGREGATOR, "https://kabardigital.example/?p=8812");
        assert!(aggregator.boilerplate.iter().any(|b| b == "Sumber: ANTARA"), "{:?}", aggregator.boilerplate);
    }

    #[test]
    fn a_relative_or_non_web_canonical_link_is_resolved_or_dropped() {
        let body =
            format!("<p>{}</p>", "Kalimat berita yang cukup panjang untuk dianggap teks utama halaman ini. ".repeat(8));
        let rel = format!(
            "<html><head><link rel=canonical href=\"/berita/9?utm_source=x\"></head><body><article>{body}</article></body></html>"
        );
        let p = page(&rel, "https://a.example/x/y");
        assert_eq!(p.canonical_url.as_deref(), Some("https://a.example/berita/9"));
        let code = format!(
            "<html><head><link rel=canonical href=\"javascript:alert(1)\"><meta property=og:url content=\"https://a.example/og\"></head><body><article>{body}</article></body></html>"
        );
        assert_eq!(page(&code, "https://a.example/").canonical_url.as_deref(), Some("https://a.example/og"));
    }

    #[test]
    fn hostile_pages_end_in_a_typed_status() {
        // Not HTML: an image, a PDF, nothing.
        assert_eq!(extract(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", None, None), Err(ExtractError::NotHtml));
        assert_eq!(extract(b"%PDF-1.7\n", None, None), Err(ExtractError::NotHtml));
        assert_eq!(extract(b"", None, None), Err(ExtractError::NotHtml));
        // A bot wall or a paywall: a page, but no article on it.
        let wall = b"<html><body><div class=cf-challenge><p>Checking your browser before accessing.</p><script>challenge()</script></div></body></html>";
        assert_eq!(extract(wall, None, None), Err(ExtractError::NoMainText));
        // 100,000 nested elements: refused from the token stream, before any tree.
        let deep = format!("<html><body>{}<p>deep</p></body></html>", "<div>".repeat(100_000));
        let started = std::time::Instant::now();
        assert!(matches!(extract(deep.as_bytes(), None, None), Err(ExtractError::TooDeep(n)) if n > MAX_DEPTH));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let inline = format!("<html><body><p>{}x</p></body></html>", "<b><i>".repeat(50_000));
        assert!(matches!(extract(inline.as_bytes(), None, None), Err(ExtractError::TooDeep(_))));
        // 16 MiB of flat markup: too many elements.
        let huge = format!("<html><body>{}</body></html>", "<span>kata</span>".repeat(16 << 20 >> 4));
        assert!(matches!(extract(huge.as_bytes(), None, None), Err(ExtractError::TooManyElements(_))));
        // A charset lie: declared UTF-8 in the header and the page, bytes in Latin-1.
        let mut lie = b"<html><head><meta charset=utf-8></head><body><article>".to_vec();
        for _ in 0..10 {
            lie.extend_from_slice(
                b"<p>Caf\xe9 di Jakarta menyajikan kopi dari berbagai daerah di Indonesia setiap hari.</p>",
            );
        }
        lie.extend_from_slice(b"</article></body></html>");
        let p = extract(&lie, Some("utf-8"), None).unwrap();
        assert!(p.text.contains("Café di Jakarta"), "{}", p.text);
        // Scripts and styles are never text.
        let scripted = format!(
            "<html><body><article>{}<script>var secret = 'SCRIPTTEXT';</script><style>.SECRETSTYLE{{}}</style></article></body></html>",
            "<p>Paragraf berita yang panjang tentang kerja sama digital antara dua negara di Asia.</p>".repeat(6)
        );
        let p = extract(scripted.as_bytes(), None, None).unwrap();
        assert!(!p.text.contains("SCRIPTTEXT") && !p.text.contains("SECRETSTYLE"), "{}", p.text);
    }
}
