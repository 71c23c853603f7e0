//! The generated corpus: English and Indonesian article HTML from the word lists in
//! `words/`, RSS and Atom feeds, and re-published copies with the truth about them.

use crate::prelude::*;

/// A small deterministic random source (the corpus is the same on every run).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

pub(crate) static EN: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| include_str!("words/en.txt").split_whitespace().filter(|w| !w.is_empty()).collect());
pub(crate) static ID: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| include_str!("words/id.txt").split_whitespace().filter(|w| !w.is_empty()).collect());
pub(crate) static NAMES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| include_str!("words/names.txt").lines().filter(|w| !w.is_empty()).collect());

/// A language's vocabulary: the real words above (function words and common news
/// words, about half of all tokens, so language detection sees real text) and a few
/// thousand made-up content words drawn from the language's syllables, picked with a
/// Zipf-like skew, so rare words are rare as in real news.
pub(crate) struct Vocab {
    pub(crate) common: &'static [&'static str],
    pub(crate) content: Vec<String>,
}

impl Vocab {
    pub(crate) fn new(rng: &mut Rng, common: &'static [&'static str], syllables: &[&str], n: usize) -> Vocab {
        let mut seen = std::collections::HashSet::new();
        let mut content = Vec::with_capacity(n);
        while content.len() < n {
            let w: String = (0..2 + rng.below(3)).map(|_| rng.pick(syllables)).collect();
            if seen.insert(w.clone()) {
                content.push(w);
            }
        }
        Vocab { common, content }
    }

    pub(crate) fn word(&self, rng: &mut Rng) -> String {
        if rng.below(2) == 0 {
            return rng.pick(self.common).to_string();
        }
        // Log-uniform rank: P(rank) ∝ 1/rank.
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = ((self.content.len() as f64).powf(u) as usize).saturating_sub(1);
        self.content[rank.min(self.content.len() - 1)].clone()
    }
}

pub(crate) static EN_SYLLABLES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    include_str!("words/en-syllables.txt").split_whitespace().filter(|w| !w.is_empty()).collect()
});
pub(crate) static ID_SYLLABLES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    include_str!("words/id-syllables.txt").split_whitespace().filter(|w| !w.is_empty()).collect()
});

/// The two vocabularies, English and Indonesian, the same on every run.
pub(crate) fn vocabs() -> [Vocab; 2] {
    let mut rng = Rng(0x5eed);
    [Vocab::new(&mut rng, &EN, &EN_SYLLABLES, 5000), Vocab::new(&mut rng, &ID, &ID_SYLLABLES, 5000)]
}

pub(crate) struct Article {
    pub(crate) guid: String,
    pub(crate) link: String,
    pub(crate) title: String,
    pub(crate) paragraphs: Vec<String>,
    pub(crate) published: i64,
}

pub(crate) fn sentence(rng: &mut Rng, words: &Vocab) -> String {
    let n = 10 + rng.below(9);
    let mut s = String::new();
    for i in 0..n {
        let w = match rng.below(12) {
            0 => rng.pick(&NAMES).to_string(),
            1 => (rng.below(9000) + 10).to_string(),
            _ => words.word(rng),
        };
        if i == 0 {
            let mut c = w.chars();
            s.push_str(&c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default());
        } else {
            s.push(' ');
            s.push_str(&w);
        }
    }
    s.push('.');
    s
}

/// A paragraph of article HTML: three sentences, now and then a link or emphasis.
pub(crate) fn paragraph(rng: &mut Rng, words: &Vocab) -> String {
    let mut p = (0..3).map(|_| sentence(rng, words)).collect::<Vec<_>>().join(" ");
    if rng.below(3) == 0 {
        let w = words.word(rng);
        p = p.replacen(&format!(" {w} "), &format!(" <a href=\"https://example.org/tag/{w}\">{w}</a> "), 1);
    }
    if rng.below(4) == 0 {
        let w = words.word(rng);
        p = p.replacen(&format!(" {w} "), &format!(" <strong>{w}</strong> "), 1);
    }
    p
}

pub(crate) fn article(rng: &mut Rng, words: &Vocab, guid: String, link: String, now: i64) -> Article {
    let title = sentence(rng, words).trim_end_matches('.').split(' ').take(8).collect::<Vec<_>>().join(" ");
    let paragraphs = (0..9).map(|_| paragraph(rng, words)).collect();
    Article { guid, link, title, paragraphs, published: now - rng.below(7 * 86_400) as i64 }
}

/// A re-published copy: re-titled, a "read also" line and credits inserted, one word changed.
pub(crate) fn copy_of(rng: &mut Rng, a: &Article, words: &Vocab, id: bool, guid: String, link: String) -> Article {
    let mut paragraphs = a.paragraphs.clone();
    let read_also = if id { "Baca juga: " } else { "Read also: " };
    paragraphs.insert(2, format!("{read_also}{}", sentence(rng, words)));
    let p = rng.below(paragraphs.len());
    paragraphs[p] = paragraphs[p].replacen(' ', &format!(" {} ", words.word(rng)), 1);
    paragraphs.push(if id { "Editor: Budi Santoso".into() } else { "Editing by Anna Smith".into() });
    let title = sentence(rng, words).trim_end_matches('.').split(' ').take(7).collect::<Vec<_>>().join(" ");
    Article { guid, link, title, paragraphs, published: a.published + 3600 }
}

pub(crate) fn esc(s: &str) -> String {
    quick_xml::escape::partial_escape(s).into_owned()
}

pub(crate) fn html(a: &Article) -> String {
    a.paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect::<Vec<_>>().join("\n")
}

pub(crate) fn rss_doc(title: &str, lang: &str, items: &[Article]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>http://example.org/</link><language>{lang}</language>\n"
    );
    for a in items {
        let date = chrono::DateTime::from_timestamp(a.published, 0).unwrap().to_rfc2822();
        let _ = writeln!(
            s,
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"false\">{}</guid><pubDate>{date}</pubDate><description>{}</description></item>",
            esc(&a.title),
            a.link,
            a.guid,
            esc(&html(a))
        );
    }
    s.push_str("</channel></rss>\n");
    s
}

pub(crate) fn atom_doc(title: &str, lang: &str, items: &[Article]) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{lang}\"><title>{title}</title><id>urn:{title}</id><updated>2025-01-01T00:00:00Z</updated>\n"
    );
    for a in items {
        let date = chrono::DateTime::from_timestamp(a.published, 0).unwrap().to_rfc3339();
        let _ = writeln!(
            s,
            "<entry><title>{}</title><link href=\"{}\"/><id>{}</id><updated>{date}</updated><content type=\"html\">{}</content></entry>",
            esc(&a.title),
            a.link,
            a.guid,
            esc(&html(a))
        );
    }
    s.push_str("</feed>\n");
    s
}

/// The corpus: feed files under `dir/www`, and the truth about copies (guid → the
/// guid of the story's original).
pub(crate) struct Corpus {
    pub(crate) www: PathBuf,
    pub(crate) feeds: usize,
    pub(crate) items: usize,
    pub(crate) bytes: u64,
    pub(crate) story: HashMap<String, String>,
}

pub(crate) fn generate(dir: &Path, feeds: usize, items: usize) -> Corpus {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let vocab = vocabs();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let now = chrono::Utc::now().timestamp();
    let mut originals: [Vec<(usize, Article)>; 2] = [Vec::new(), Vec::new()];
    let mut story = HashMap::new();
    let mut bytes = 0;
    for f in 0..feeds {
        let id = f % 2 == 1;
        let words = &vocab[id as usize];
        let mut list = Vec::with_capacity(items);
        for j in 0..items {
            let guid = format!("f{f}-{j}");
            let link = format!("http://site{f}.example/{}/{j}", if id { "berita" } else { "news" });
            let pool = &originals[id as usize];
            // One item in ten re-publishes an earlier story from another feed.
            let a = if rng.below(10) == 0 && !pool.is_empty() {
                let (from, orig) = &pool[rng.below(pool.len())];
                if *from == f {
                    article(&mut rng, words, guid, link, now)
                } else {
                    let c = copy_of(&mut rng, orig, words, id, guid, link);
                    story.insert(c.guid.clone(), story.get(&orig.guid).cloned().unwrap_or(orig.guid.clone()));
                    c
                }
            } else {
                article(&mut rng, words, guid, link, now)
            };
            story.entry(a.guid.clone()).or_insert(a.guid.clone());
            list.push(a);
        }
        let lang = if id { "id" } else { "en" };
        let doc = if f % 3 == 0 {
            atom_doc(&format!("feed{f}"), lang, &list)
        } else {
            rss_doc(&format!("feed{f}"), lang, &list)
        };
        bytes += doc.len() as u64;
        std::fs::write(www.join(format!("f{f}.xml")), doc).unwrap();
        for a in list {
            if story[&a.guid] == a.guid {
                originals[id as usize].push((f, a));
            }
        }
    }
    Corpus { www, feeds, items, bytes, story }
}
