//! Entry → [`Article`]: HTML to plain text, boilerplate lines set aside for matching,
//! canonical URL, language, content fingerprint.
//!
//! What is stored for display keeps every line as published; boilerplate is only
//! left out of matching, fingerprints and the search index.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};

use html5gum::{DefaultEmitter, Token, Tokenizer};
use url::Url;
use xxhash_rust::xxh3::xxh3_64;

use crate::model::{Article, Entry};
use crate::pipeline::dedup::sketch;
use crate::text;

/// Texts with fewer tokens than this get no content fingerprint: a one-line teaser
/// or an empty description is not enough to call two articles the same.
const MIN_FINGERPRINT_TOKENS: usize = 8;

/// Cleans one entry. `hint` is the configured language; `learned` the lines its site
/// is known to repeat in every article (see [`SiteLines`]).
pub fn clean(entry: Entry, hint: Option<&str>, learned: Option<&HashSet<u64>>) -> Article {
    let summary = entry.summary_html.as_deref().map(html_to_text).unwrap_or_default();
    let content = entry.content_html.as_deref().map(html_to_text).unwrap_or_default();
    // The richer of the two is the article's text.
    let text = if content.len() >= summary.len() { content } else { summary };
    let (kept, boilerplate, short_lines) = split_lines(&text, learned);
    let index_body = text::token_string(&kept);
    let index_title = text::token_string(&entry.title);
    let token_count = index_body.split(' ').filter(|t| !t.is_empty()).count();
    let content_hash = (token_count >= MIN_FINGERPRINT_TOKENS).then(|| xxh3_64(index_body.as_bytes()) as i64);
    let language = detect_language(&entry.title, &kept, entry.language.as_deref(), hint);
    let sketch = sketch::sketch(&entry.title, &kept);
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
        entry,
    }
}

/// HTML (or plain text) → plain text, one paragraph per line. Script, style and
/// similar elements are dropped with their content; entities are decoded.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return plain_lines(html);
    }
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut out = String::with_capacity(html.len());
    let mut skip_depth = 0usize;
    let plain = !html.contains('<');
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = tag.name.as_slice();
                if is_skipped(name) && !tag.self_closing {
                    skip_depth += 1;
                } else if is_block(name) {
                    // A block starts text again, as in a browser: an element left open
                    // (`<object>` without `</object>`) does not swallow the rest.
                    if skip_depth > 0 && ends_skipping(name) {
                        skip_depth = 0;
                    }
                    out.push('\n');
                }
            }
            Token::EndTag(tag) => {
                let name = tag.name.as_slice();
                if is_skipped(name) {
                    skip_depth = skip_depth.saturating_sub(1);
                } else if is_block(name) {
                    out.push('\n');
                }
            }
            Token::String(s) if skip_depth == 0 => {
                let s = String::from_utf8_lossy(&s);
                if plain {
                    out.push_str(&s);
                } else {
                    // In HTML a newline inside text is only a space.
                    out.extend(s.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }));
                }
            }
            _ => {}
        }
    }
    plain_lines(&out)
}

/// The text of HTML's named character reference `&name;` (`eacute` → `é`), from the
/// WHATWG table html5gum carries; `None` for a name HTML does not define.
pub fn html_entity(name: &str) -> Option<String> {
    let source = format!("&{name};");
    let mut out = String::new();
    for token in Tokenizer::new(&source).flatten() {
        if let Token::String(s) = token {
            out.push_str(&String::from_utf8_lossy(&s));
        }
    }
    (out != source && !out.is_empty()).then_some(out)
}

/// Trims every line, squeezes runs of spaces, drops empty lines; paragraphs are
/// separated by one blank line.
fn plain_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        for (i, w) in words.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

/// Block elements that end an unclosed `object`, `iframe`, `svg`, `math` or `template`.
fn ends_skipping(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"div"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"blockquote"
            | b"table"
            | b"article"
            | b"section"
    )
}

fn is_skipped(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"noscript" | b"template" | b"iframe" | b"object" | b"svg" | b"math" | b"head"
    )
}

fn is_block(name: &[u8]) -> bool {
    matches!(
        name,
        b"p" | b"br"
            | b"div"
            | b"li"
            | b"ul"
            | b"ol"
            | b"h1"
            | b"h2"
            | b"h3"
            | b"h4"
            | b"h5"
            | b"h6"
            | b"tr"
            | b"table"
            | b"blockquote"
            | b"pre"
            | b"section"
            | b"article"
            | b"header"
            | b"footer"
            | b"figure"
            | b"figcaption"
            | b"hr"
            | b"dd"
            | b"dt"
            | b"aside"
            | b"nav"
    )
}

/// Splits text into what matching uses and the boilerplate lines it ignores: "read
/// also" and related-news lines, credits, copyright, comment prompts, and lines the
/// site repeats in its articles (`learned`). A dateline such as "Jakarta (ANTARA) - "
/// is cut from the start of its line.
pub fn split_boilerplate(text: &str, learned: Option<&HashSet<u64>>) -> (String, Vec<String>) {
    let (kept, removed, _) = split_lines(text, learned);
    (kept, removed)
}

/// [`split_boilerplate`], and the identities of the text's short lines ([`line_hash`]),
/// each once, in order: each line is hashed once, for both jobs.
fn split_lines(text: &str, learned: Option<&HashSet<u64>>) -> (String, Vec<String>, Vec<u64>) {
    let mut kept = String::with_capacity(text.len());
    let mut removed = Vec::new();
    let mut short = Vec::new();
    let mut seen = HashSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let hash = line_hash(line);
        if let Some(h) = hash.filter(|h| seen.insert(*h)) {
            short.push(h);
        }
        let repeated = learned.is_some_and(|set| hash.is_some_and(|h| set.contains(&h)));
        if is_boilerplate_line(line) || repeated {
            removed.push(line.to_string());
            continue;
        }
        let line = match strip_dateline(line) {
            Some((dateline, rest)) => {
                removed.push(dateline.to_string());
                rest
            }
            None => line,
        };
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(line);
    }
    (kept, removed, short)
}

/// Lines longer than this are never learned as a site's boilerplate.
const MAX_LEARNED_LINE_WORDS: usize = 25;

/// The identity of a line for learning a site's boilerplate: its folded words.
/// `None` for a line too long to be boilerplate.
pub fn line_hash(line: &str) -> Option<u64> {
    let folded = text::token_string(line);
    let words = folded.split(' ').filter(|w| !w.is_empty()).count();
    (words > 0 && words <= MAX_LEARNED_LINE_WORDS).then(|| xxh3_64(folded.as_bytes()))
}

/// The site an article belongs to, for learning its boilerplate: the host of its link.
pub fn site_of(link: Option<&str>) -> Option<String> {
    let url = Url::parse(link?).ok()?;
    Some(url.host_str()?.trim_start_matches("www.").to_ascii_lowercase())
}

/// The short lines each site repeats across its articles ("Follow us on …",
/// "Dapatkan berita terbaru di …"), learned from stored articles by the store and read
/// by `clean`. Shared between the writer thread and the polls.
#[derive(Debug, Default)]
pub struct SiteLines {
    sites: RwLock<HashMap<String, Arc<HashSet<u64>>>>,
}

impl SiteLines {
    /// The lines learned for `site`.
    pub fn for_site(&self, site: &str) -> Option<Arc<HashSet<u64>>> {
        self.sites.read().unwrap_or_else(|p| p.into_inner()).get(site).cloned()
    }

    /// Marks a line as boilerplate for `site`.
    pub fn learn(&self, site: &str, line: u64) {
        let mut sites = self.sites.write().unwrap_or_else(|p| p.into_inner());
        let set = sites.entry(site.to_string()).or_default();
        if !set.contains(&line) {
            Arc::make_mut(set).insert(line);
        }
    }

    /// Lines learned over all sites.
    pub fn len(&self) -> usize {
        self.sites.read().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The text matching uses, rebuilt from the stored text and the boilerplate lines
/// that were set aside when it was stored (so a later search sees exactly what the
/// topics saw at ingest).
pub fn kept_text(text: &str, removed: &[String]) -> String {
    let mut kept = String::with_capacity(text.len());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if removed.iter().any(|r| r == line) {
            continue;
        }
        let line = removed
            .iter()
            .find_map(|r| line.strip_prefix(r.as_str()).filter(|_| strip_dateline(line).is_some()))
            .map(str::trim_start)
            .unwrap_or(line);
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(line);
    }
    kept
}

fn is_boilerplate_line(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        // "read also" and related links
        "baca juga",
        "baca:",
        "lihat juga",
        "simak juga",
        "berita terkait",
        "artikel terkait",
        "read also",
        "also read",
        "read more",
        "see also",
        "related news",
        "related:",
        "related stories",
        // credits
        "pewarta:",
        "pewarta :",
        "editor:",
        "editor :",
        "penerjemah:",
        "translator:",
        "reporter:",
        "penulis:",
        "redaktur:",
        "fotografer:",
        "reporting by",
        "editing by",
        "writing by",
        "(reporting by",
        // calls to action
        "tinggalkan komentar",
        "leave a comment",
        "ikuti kami",
        "follow us",
        "share this",
        "bagikan:",
        "artikel ini telah tayang",
        "dapatkan update berita",
    ];
    // Non-breaking spaces are common in these lines; compare with plain ones.
    let lower = line.to_lowercase().replace('\u{a0}', " ");
    if PREFIXES.iter().any(|p| lower.starts_with(p)) {
        return true;
    }
    // An inserted headline: "MEMBACA  Some other story" (upper case, unlike the verb
    // "membaca" opening an ordinary sentence).
    if line.strip_prefix("MEMBACA").is_some_and(|rest| rest.starts_with(char::is_whitespace)) {
        return true;
    }
    let short = line.chars().count() <= 120;
    short
        && (lower.contains("hak cipta")
            || lower.contains("copyright")
            || lower.contains("all rights reserved")
            || line.contains('©'))
}

/// "Jakarta (ANTARA) - The rest" → ("Jakarta (ANTARA) -", "The rest").
fn strip_dateline(line: &str) -> Option<(&str, &str)> {
    let open = line.find(" (")?;
    if open == 0 || open > 40 {
        return None;
    }
    let close = open + line[open..].find(')')?;
    let agency = &line[open + 2..close];
    if agency.is_empty() || agency.len() > 20 || !agency.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '/') {
        return None;
    }
    if !line[..open].chars().next()?.is_uppercase() {
        return None;
    }
    let after = line[close + 1..].trim_start();
    let rest = after.strip_prefix('-').or_else(|| after.strip_prefix('–')).or_else(|| after.strip_prefix('—'))?;
    let dateline_end = line.len() - rest.len();
    Some((line[..dateline_end].trim_end(), rest.trim_start()))
}

/// Query parameters that only track who clicked where.
fn is_tracking_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("utm_")
        || matches!(
            name.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gclsrc"
                | "msclkid"
                | "yclid"
                | "twclid"
                | "igshid"
                | "mc_cid"
                | "mc_eid"
                | "ref"
                | "ref_src"
                | "ref_url"
                | "_ga"
                | "_gl"
                | "cmpid"
                | "ncid"
                | "sr_share"
                | "rss"
                | "rssfeed"
                | "feed"
                | "from"
        )
}

/// The URL that identifies an article: https, host lower-cased, default port,
/// fragment and tracking parameters removed. `None` for anything not http(s).
pub fn canonical_url(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    // http and https copies of a page are one article.
    if url.scheme() == "http" {
        url.set_scheme("https").ok()?;
        if url.port() == Some(443) {
            url.set_port(None).ok()?;
        }
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

/// "id-ID" → "id", "EN_us" → "en".
pub fn language_code(tag: &str) -> String {
    tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase()
}

/// Fewer words than this never override the language the feed declares.
const MIN_WORDS_TO_OVERRIDE: usize = 20;

/// Characters of the body that language detection reads: about 75 words, which tell
/// English from Indonesian reliably. Detection time grows with the sample; on the 8,891
/// entries of the shared test corpus, 500 characters and 1,000 disagree on 3 (short
/// English technical posts), and detection was 12 % of a cold ingest's CPU at 1,000.
const LANGUAGE_SAMPLE: usize = 500;

/// The article's language: a confident detection from enough text wins (feeds do
/// declare the wrong language: many Indonesian sites say "en-US"); otherwise what the
/// entry or feed declares; otherwise the configured hint; otherwise a guess.
/// Javanese is left out of detection: whatlang takes short Indonesian texts for it.
pub fn detect_language(title: &str, body: &str, declared: Option<&str>, hint: Option<&str>) -> Option<String> {
    static DETECTOR: OnceLock<whatlang::Detector> = OnceLock::new();
    let detector = DETECTOR.get_or_init(|| whatlang::Detector::with_denylist(vec![whatlang::Lang::Jav]));
    let mut sample = String::with_capacity(title.len() + body.len().min(LANGUAGE_SAMPLE) + 1);
    sample.push_str(title);
    sample.push('\n');
    let cut = body.char_indices().nth(LANGUAGE_SAMPLE).map(|(i, _)| i).unwrap_or(body.len());
    sample.push_str(&body[..cut]);
    let info = detector.detect(&sample);
    let words = sample.split_whitespace().count();
    if let Some(info) = &info
        && info.is_reliable()
        && words >= MIN_WORDS_TO_OVERRIDE
    {
        return Some(iso639_1(info.lang()));
    }
    declared
        .filter(|d| !d.is_empty())
        .map(language_code)
        .or_else(|| hint.map(language_code))
        .or_else(|| info.filter(|_| words >= 4).map(|i| iso639_1(i.lang())))
}

/// Two-letter codes for the languages whatlang knows; its three-letter code otherwise.
fn iso639_1(lang: whatlang::Lang) -> String {
    use whatlang::Lang::*;
    let code = match lang {
        Eng => "en",
        Ind => "id",
        Jav => "jv",
        Spa => "es",
        Por => "pt",
        Fra => "fr",
        Deu => "de",
        Ita => "it",
        Nld => "nl",
        Rus => "ru",
        Ukr => "uk",
        Pol => "pl",
        Tur => "tr",
        Ara => "ar",
        Cmn => "zh",
        Jpn => "ja",
        Kor => "ko",
        Hin => "hi",
        Ben => "bn",
        Tha => "th",
        Vie => "vi",
        Tgl => "tl",
        Ell => "el",
        Heb => "he",
        Pes => "fa",
        Urd => "ur",
        Swe => "sv",
        Dan => "da",
        Nob => "no",
        Fin => "fi",
        Ces => "cs",
        Hun => "hu",
        Ron => "ro",
        Bul => "bg",
        other => return other.code().to_string(),
    };
    code.to_string()
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
        let seed = include_str!("../../tests/fixtures/seed-article.txt");
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
        assert_eq!(split_lines(&text, None).2, [hash("Baca juga: A"), hash("Ikuti kami")]);
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
