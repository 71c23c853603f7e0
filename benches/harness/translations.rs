//! `translations DIR`: translation links on pseudo-articles made of the real English–
//! Indonesian sentence pairs in DIR (`../shared/translation`): each 8 consecutive pairs
//! of a file are one Indonesian and one English article (as its SOURCES.md says to).
//! Every Indonesian article goes into the dedup window first, an hour apart; then each
//! English article is looked up, and then added to the window too (a daemon's holds
//! both languages): a translation link to its own Indonesian article is a hit, to
//! another one a false link, none a miss. Prints recall and precision per file.

use crate::prelude::*;

use kabar::model::Entry;
use kabar::pipeline::dedup::Reason;
use kabar::pipeline::dedup::index::{Index, Params};

const PER_ARTICLE: usize = 8;
/// The English articles' ids, after the Indonesian ones.
const EN_IDS: i64 = 1_000_000;

fn article(lines: &[&str], lang: &str) -> kabar::model::Article {
    let (title, body) = lines.split_first().expect("8 lines");
    let html: String = body.iter().map(|l| format!("<p>{}</p>", quick_xml::escape::partial_escape(*l))).collect();
    let entry = Entry { title: title.to_string(), content_html: Some(html), ..Entry::default() };
    kabar::pipeline::clean::clean(entry, Some(lang), None)
}

/// (hits, false links, misses) for one pair of files.
pub(crate) fn evaluate(en: &str, id: &str) -> (usize, usize, usize) {
    let en: Vec<&str> = en.lines().collect();
    let id: Vec<&str> = id.lines().collect();
    let n = en.len().min(id.len()) / PER_ARTICLE;
    let mut index = Index::new(Params { window: 400 * 86_400, translation_window: 400 * 86_400, ..Params::default() });
    let base = 1_700_000_000i64;
    for k in 0..n {
        let a = article(&id[k * PER_ARTICLE..(k + 1) * PER_ARTICLE], "id");
        if let Some(s) = a.sketch {
            index.insert(k as i64 + 1, k as i64 + 1, base + k as i64 * 3600, Some("id".into()), s);
        }
    }
    let (mut hits, mut false_links, mut misses) = (0, 0, 0);
    for k in 0..n {
        let a = article(&en[k * PER_ARTICLE..(k + 1) * PER_ARTICLE], "en");
        let found = a
            .sketch
            .as_ref()
            .and_then(|s| index.find(s, &a.index_body, Some("en"), base + k as i64 * 3600 + 60, |_| None));
        if let Some(s) = a.sketch.clone() {
            // The window holds both languages, as a daemon's does.
            index.insert(EN_IDS + k as i64, EN_IDS + k as i64, base + k as i64 * 3600 + 60, Some("en".into()), s);
        }
        match found {
            Some(m) if m.reason == Reason::Translation && m.story == k as i64 + 1 => hits += 1,
            Some(_) => false_links += 1,
            None => misses += 1,
        }
    }
    (hits, false_links, misses)
}

pub(crate) fn translations(dir: &Path) {
    let mut out = String::new();
    for name in ["news-valid", "news-test", "general-valid", "general-test"] {
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}")));
        let (Ok(en), Ok(id)) = (read("en"), read("id")) else {
            eprintln!("translations: no {name}.en/.id in {}", dir.display());
            std::process::exit(2);
        };
        let (hits, false_links, misses) = evaluate(&en, &id);
        let recall = hits as f64 / (hits + misses + false_links).max(1) as f64;
        let precision = hits as f64 / (hits + false_links).max(1) as f64;
        let _ = writeln!(
            out,
            "{name}: {} article pairs, recall {recall:.3}, precision {precision:.3} ({hits} linked, {false_links} wrong, {misses} missed)",
            hits + false_links + misses
        );
    }
    print!("{out}");
}
