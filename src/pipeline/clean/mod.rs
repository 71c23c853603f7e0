//! Entry → [`Article`]: HTML to plain text, boilerplate lines set aside for matching,
//! canonical URL, language, content fingerprint.
//!
//! What is stored for display keeps every line as published; boilerplate is only
//! left out of matching, fingerprints and the search index.

mod boilerplate;
mod html;
mod language;
mod url;

use std::collections::HashSet;

use xxhash_rust::xxh3::xxh3_64;

use boilerplate::split_lines;
pub use boilerplate::{SiteLines, kept_lines, kept_text, line_hash, split_boilerplate};
pub use html::{Quiet, html_entity, html_to_text};
pub use language::{DeclaredLanguage, detect_language, language_code};
pub use url::{canonical_url, site_of};

use crate::model::{Article, Entry};
use crate::pipeline::dedup::sketch;
use crate::text;

/// Texts with fewer tokens than this get no content fingerprint: a one-line teaser
/// or an empty description is not enough to call two articles the same.
const MIN_FINGERPRINT_TOKENS: usize = 8;

/// Cleans one entry. `hint` is the configured language; `learned` the lines its site
/// is known to repeat in every article (see [`SiteLines`]).
pub fn clean(entry: Entry, hint: Option<&str>, learned: Option<&HashSet<u64>>) -> Article {
    clean_in(entry, hint, learned, &mut DeclaredLanguage::default())
}

/// [`clean`] for one of a document's entries: `language` is what its earlier entries
/// have shown of the declared language.
pub fn clean_in(
    entry: Entry,
    hint: Option<&str>,
    learned: Option<&HashSet<u64>>,
    language: &mut DeclaredLanguage,
) -> Article {
    let summary = entry.summary_html.as_deref().map(html_to_text).unwrap_or_default();
    let content = entry.content_html.as_deref().map(html_to_text).unwrap_or_default();
    // The richer of the two is the article's text.
    let text = if content.len() >= summary.len() { content } else { summary };
    let lines = split_lines(&text, learned);
    let (kept, index_body, boilerplate, short_lines) = (lines.kept, lines.tokens, lines.removed, lines.short);
    let index_title = text::token_string(&entry.title);
    let token_count = text::split_tokens(&index_body).count();
    let content_hash = (token_count >= MIN_FINGERPRINT_TOKENS).then(|| xxh3_64(index_body.as_bytes()) as i64);
    let language = language.detect(&entry.title, &kept, entry.language.as_deref(), hint);
    let sketch = sketch::sketch_folded(&entry.title, &kept, &index_title, &index_body);
    Article {
        sketch,
        short_lines,
        canonical_url: entry.link.as_deref().and_then(canonical_url),
        text,
        boilerplate,
        language,
        content_hash,
        index_title,
        index_body,
        topics: Vec::new(),
        wants_page: false,
        entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_paragraph_lines_without_scripts() {
        let html = "<p>First &amp; <b>bold</b>\nline.</p><script>alert('x')</script>\
                    <style>p{}</style><div>Second<br>Third</div><p>  </p>";
        assert_eq!(html_to_text(html), "First & bold line.\n\nSecond\n\nThird");
        assert_eq!(html_to_text("plain\ntext &eacute;t&eacute;"), "plain\n\ntext été");
        assert_eq!(html_to_text("no markup at all"), "no markup at all");
    }

    #[test]
    fn canonical_urls_drop_tracking_and_fragments() {
        let c = |u: &str| canonical_url(u);
        assert_eq!(
            c("http://WWW.Example.COM:80/a/b?utm_source=x&id=7&fbclid=1#top").as_deref(),
            Some("https://www.example.com/a/b?id=7")
        );
        assert_eq!(c("https://e.org/x?utm_medium=rss").as_deref(), Some("https://e.org/x"));
        assert_eq!(c("https://e.org/x?ref=home&gclid=abc").as_deref(), Some("https://e.org/x"));
        assert_eq!(c("mailto:a@b.c"), None);
        assert_eq!(c("not a url"), None);
    }

    #[test]
    fn the_seed_article_boilerplate_is_set_aside() {
        let seed = include_str!("../../../tests/fixtures/seed-article.txt");
        let (kept, removed) = split_boilerplate(seed, None);
        for line in [
            "MEMBACA\u{a0} Ji Chang Wook Berjanji Akan Merekomendasikan Destinasi Ini kepada Orang Korea Selatan",
            "Berita terkait: Indonesia siap menjadi pusat ekosistem digital ASEAN: menteri",
            "Translator: Farhan Arda, Raka Adji",
            "Editor: Primayanti",
            "Hak cipta © ANTARA 2025",
            "Tinggalkan komentar",
        ] {
            assert!(removed.iter().any(|r| r == line), "not removed: {line}");
            assert!(!kept.contains(line), "kept: {line}");
        }
        assert!(kept.contains("Nota Kesepahaman (MoU)"));
        assert_eq!(removed.len(), 8, "{removed:#?}");
        // What a later search rebuilds from the stored lines is what matching saw.
        assert_eq!(kept_text(seed, &removed), kept);
    }

    #[test]
    fn lines_a_site_repeats_are_set_aside_once_learned() {
        let text = "Harga cabai naik dua kali lipat.\nDapatkan kabar terkini di kanal WhatsApp kami";
        let lines = SiteLines::default();
        let (kept, removed) = split_boilerplate(text, lines.for_site("example.com").as_deref());
        assert!(removed.is_empty() && kept.contains("WhatsApp"));
        lines.learn("example.com", line_hash("Dapatkan kabar terkini di kanal WhatsApp kami").unwrap());
        let (kept, removed) = split_boilerplate(text, lines.for_site("example.com").as_deref());
        assert_eq!(removed, ["Dapatkan kabar terkini di kanal WhatsApp kami"]);
        assert_eq!(kept, "Harga cabai naik dua kali lipat.");
        assert_eq!(site_of(Some("https://WWW.Example.com/a")).as_deref(), Some("example.com"));
        assert_eq!(line_hash(&"word ".repeat(30)), None);
    }

    #[test]
    fn short_lines_are_counted_once_each_in_order() {
        let long = "word ".repeat(30);
        let text = format!("Baca juga: A\n{long}\n\nIkuti kami\n  BACA JUGA: a  \nBaca juga: A");
        let hash = |l: &str| line_hash(l).unwrap();
        assert_eq!(split_lines(&text, None).short, [hash("Baca juga: A"), hash("Ikuti kami")]);
    }

    #[test]
    fn text_folded_once_reads_as_text_folded_again() {
        // `clean` folds each line once and hands the tokens on to the index, the matcher
        // and the sketch; they must be what folding the kept text afresh gives.
        let seed = include_str!("../../../tests/fixtures/seed-article.txt");
        for (title, text) in [
            seed.split_once('\n').unwrap(),
            ("Café ÉLYSÉE", "Jakarta (ANTARA) - Pemerintah  Indonesia,\n\n—\nﬁnance ＡＢＣ 26 Jan.\nBaca juga: x"),
            ("", "  \n ... \n"),
        ] {
            let lines = split_lines(text, None);
            assert_eq!(lines.tokens, text::token_string(&lines.kept));
            let folded = sketch::sketch_folded(title, &lines.kept, &text::token_string(title), &lines.tokens);
            assert_eq!(folded, sketch::sketch(title, &lines.kept));
        }
    }

    #[test]
    fn datelines_are_cut_from_the_line() {
        let (kept, removed) = split_boilerplate("Jakarta (ANTARA) - Pemerintah Indonesia dan India ...\nSecond", None);
        assert_eq!(kept, "Pemerintah Indonesia dan India ...\nSecond");
        assert_eq!(removed, ["Jakarta (ANTARA) -"]);
        assert_eq!(kept_text("Jakarta (ANTARA) - Pemerintah Indonesia dan India ...\nSecond", &removed), kept);
        // An ordinary parenthesis is not a dateline.
        let (kept, removed) = split_boilerplate("Kementerian (Kominfo) menyatakan - tidak", None);
        assert!(removed.is_empty(), "{removed:?}");
        assert!(kept.starts_with("Kementerian"));
        // The place is at most 40 bytes; a parenthesis further on is the text's own,
        // and a letter across that bound is read whole.
        let place = format!("J{}", "a".repeat(39));
        let (_, removed) = split_boilerplate(&format!("{place} (AP) - Text"), None);
        assert_eq!(removed, [format!("{place} (AP) -")]);
        for line in [format!("{place}a (AP) - Text"), format!("J{} (AP) - Text", "é".repeat(21))] {
            let (kept, removed) = split_boilerplate(&line, None);
            assert!(removed.is_empty(), "{removed:?}");
            assert_eq!(kept, line);
        }
    }

    #[test]
    fn language_detection_prefers_confident_text() {
        let id = "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital untuk mempercepat transformasi digital yang berkelanjutan dan mendorong inovasi bagi masyarakat";
        let en = "The governments of Indonesia and India have formed a strategic partnership in the digital sector to accelerate sustainable digital transformation";
        assert_eq!(detect_language("", id, Some("en"), None).as_deref(), Some("id"));
        assert_eq!(detect_language("", en, Some("id"), None).as_deref(), Some("en"));
        // Too short to tell: the declaration decides, then the hint.
        assert_eq!(detect_language("Kerja sama", "", Some("id-ID"), None).as_deref(), Some("id"));
        assert_eq!(detect_language("Kerja sama", "", None, Some("id")).as_deref(), Some("id"));
    }

    #[test]
    fn a_declared_language_is_trusted_only_once_texts_agree() {
        let en = "The governments of Indonesia and India have formed a strategic partnership in the digital sector to accelerate sustainable digital transformation across the region";
        let id = "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital untuk mempercepat transformasi digital yang berkelanjutan dan mendorong inovasi bagi masyarakat";
        // A feed that says what it writes: detected three times, then one in eight.
        let mut trust = DeclaredLanguage::default();
        for _ in 0..19 {
            assert_eq!(trust.detect("", en, Some("en-US"), None).as_deref(), Some("en"));
        }
        assert_eq!(trust.detections(), 3 + 2);
        // A check that disagrees ends the trust: the next three are detected again.
        let mut trust = DeclaredLanguage::default();
        for _ in 0..3 {
            trust.detect("", en, Some("en"), None);
        }
        for _ in 0..4 {
            assert_eq!(trust.detect("", id, Some("en"), None).as_deref(), Some("en"), "trusted");
        }
        assert_eq!(trust.detections(), 3);
        for _ in 0..4 {
            trust.detect("", id, Some("en"), None);
        }
        assert_eq!(trust.detections(), 4, "the eighth is checked");
        for _ in 0..3 {
            assert_eq!(trust.detect("", id, Some("en"), None).as_deref(), Some("id"));
        }
        assert_eq!(trust.detections(), 7);
        // A feed that declares the wrong language never earns trust.
        let mut trust = DeclaredLanguage::default();
        for _ in 0..20 {
            assert_eq!(trust.detect("", id, Some("en-US"), None).as_deref(), Some("id"));
        }
        assert_eq!(trust.detections(), 20);
        // Nor does one that declares none.
        let mut trust = DeclaredLanguage::default();
        for _ in 0..10 {
            assert_eq!(trust.detect("", en, None, None).as_deref(), Some("en"));
        }
        assert_eq!(trust.detections(), 10);
    }

    #[test]
    fn short_indonesian_is_not_taken_for_javanese() {
        let text = "KPK menjaring enam orang dari hasil OTT di Kabupaten Mandailing Natal, Sumatera Utara.";
        let title = "KPK Tangkap Enam Orang di Kasus Korupsi PUPR Sumatera Utara";
        assert_eq!(detect_language(title, text, Some("id"), None).as_deref(), Some("id"));
        assert_eq!(detect_language(title, text, None, None).as_deref(), Some("id"));
    }

    #[test]
    fn short_texts_get_no_fingerprint() {
        let short = clean(
            Entry { title: "t".into(), summary_html: Some("Only a few words here.".into()), ..Entry::default() },
            None,
            None,
        );
        assert_eq!(short.content_hash, None);
        let long = clean(
            Entry {
                title: "t".into(),
                summary_html: Some("<p>One two three four five six seven eight nine.</p>".into()),
                ..Entry::default()
            },
            None,
            None,
        );
        let same = clean(
            Entry {
                title: "another title".into(),
                content_html: Some("one TWO three, four five six seven eight nine".into()),
                ..Entry::default()
            },
            None,
            None,
        );
        assert!(long.content_hash.is_some());
        assert_eq!(long.content_hash, same.content_hash);
    }
}
