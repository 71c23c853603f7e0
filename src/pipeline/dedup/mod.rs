//! Which stored row an entry is: its entry key (same feed, same key → an update) and
//! whether a new entry repeats a story already stored (→ `duplicate_of`).
//!
//! * this module: entry keys, and the verdict from exact matches (URL, text);
//! * `sketch`: the fingerprint of a text (shingle sketch and translation signals);
//! * `index`: the recent articles in memory, for near copies, teasers and translations.
//!
//! Plain functions and data structures without I/O; `store` looks up the candidates
//! and applies the verdict inside the feed's transaction.
//!
//! The entry key is the GUID only while a feed's GUIDs are trustworthy. Real feeds
//! number their items by position (`<guid>1</guid>` … `<guid>9</guid>`, new articles
//! every day), repeat a GUID inside one document, or reuse one for another article;
//! such a feed falls back to the canonical link, then to a hash of title and date.

pub mod index;
pub mod sketch;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use xxhash_rust::xxh3::xxh3_64;

use crate::model::Article;

/// Whether a document's GUIDs can serve as keys: no two are equal, and they are not just positions (1, 2, 3 …).
pub fn guids_usable(articles: &[Article]) -> bool {
    // Entries without a GUID fall back one by one; judge the GUIDs that are there.
    let guids: Vec<&str> = articles.iter().filter_map(|a| a.entry.guid.as_deref()).collect();
    let mut seen = std::collections::HashSet::new();
    guids.iter().all(|g| seen.insert(*g)) && !looks_positional(&guids)
}

/// GUIDs that are small integers forming a run from 0 or 1: positions, not ids.
fn looks_positional(guids: &[&str]) -> bool {
    if guids.len() < 2 {
        return false;
    }
    let mut numbers: Vec<u64> = Vec::with_capacity(guids.len());
    for g in guids {
        match g.parse::<u64>() {
            Ok(n) if g.len() <= 4 => numbers.push(n),
            _ => return false,
        }
    }
    numbers.sort_unstable();
    let first = numbers[0];
    first <= 1 && numbers.iter().enumerate().all(|(i, n)| *n == first + i as u64)
}

/// The key of each article of one document. With `trust_guids`, an article's GUID is
/// its key; otherwise (or without a GUID) its canonical link when no other entry of
/// the document shares it, else a hash of title and date. Two entries of one document
/// never share a key: a later one with the same title and date is told apart by its
/// text, and one with the same text too by its place among them (each entry a feed
/// publishes is a row).
pub fn entry_keys(articles: &[Article], trust_guids: bool) -> Vec<String> {
    let mut link_count: HashMap<&str, usize> = HashMap::new();
    for a in articles {
        if let Some(u) = a.canonical_url.as_deref() {
            *link_count.entry(u).or_default() += 1;
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    articles
        .iter()
        .map(|a| {
            let key = match (&a.entry.guid, trust_guids) {
                (Some(guid), true) => guid_key(guid),
                _ => {
                    let unique_link = a.canonical_url.as_deref().filter(|u| link_count.get(u) == Some(&1));
                    fallback_key(unique_link, &a.entry.title, a.entry.published)
                }
            };
            let key = if seen.contains_key(&key) { format!("{key}~{:016x}", xxh3_64(a.text.as_bytes())) } else { key };
            let n = seen.entry(key.clone()).or_default();
            *n += 1;
            if *n > 1 { format!("{key}#{n}") } else { key }
        })
        .collect()
}

pub fn guid_key(guid: &str) -> String {
    format!("g:{guid}")
}

/// The key when the GUID cannot serve: the canonical link, else title and date.
pub fn fallback_key(canonical_url: Option<&str>, title: &str, published: Option<DateTime<Utc>>) -> String {
    match canonical_url {
        Some(u) => format!("u:{u}"),
        None => {
            let date = published.map(|d| d.timestamp().to_string()).unwrap_or_default();
            let h = xxh3_64(format!("{}\u{1f}{date}", title.trim()).as_bytes());
            format!("h:{h:016x}")
        }
    }
}

/// What is stored under a GUID key, to tell whether the feed reused the GUID.
#[derive(Debug, Clone)]
pub struct StoredIdentity {
    pub canonical_url: Option<String>,
    pub title: String,
}

/// A stored row and an incoming entry share a GUID but are different articles: both
/// the link and the title differ. (An edited title alone, or a moved link alone, is an
/// update of the same article.)
pub fn guid_reused(stored: &StoredIdentity, incoming: &Article) -> bool {
    let link_differs = match (&stored.canonical_url, &incoming.canonical_url) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    };
    link_differs && stored.title.trim() != incoming.entry.title.trim()
}

/// Why a new row repeats an earlier story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Url,
    Content,
    Near,
    Translation,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Url => "url",
            Reason::Content => "content",
            Reason::Near => "near",
            Reason::Translation => "translation",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Some(match s {
            "url" => Reason::Url,
            "content" => Reason::Content,
            "near" => Reason::Near,
            "translation" => Reason::Translation,
            _ => return None,
        })
    }
}

/// An earlier stored article that a new one may repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    /// The id of that story's first copy.
    pub story_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Original,
    Duplicate { of: i64, reason: Reason, similarity: f64 },
}

/// Whether a canonical URL can identify an article: a site's front page cannot
/// (some feeds link every item to it).
pub fn url_identifies_article(canonical_url: &str) -> bool {
    url::Url::parse(canonical_url).is_ok_and(|u| {
        let path = u.path().trim_end_matches('/');
        !path.is_empty() || u.query().is_some()
    })
}

/// The decision for a new row, from the earlier articles with the same canonical URL
/// and with the same text. A copy points at the story's first copy.
pub fn verdict(same_url: Option<Candidate>, same_content: Option<Candidate>) -> Verdict {
    if let Some(c) = same_url {
        return Verdict::Duplicate { of: c.story_id, reason: Reason::Url, similarity: 1.0 };
    }
    if let Some(c) = same_content {
        return Verdict::Duplicate { of: c.story_id, reason: Reason::Content, similarity: 1.0 };
    }
    Verdict::Original
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;

    fn art(guid: Option<&str>, link: Option<&str>, title: &str) -> Article {
        Article {
            entry: Entry {
                guid: guid.map(String::from),
                link: link.map(String::from),
                title: title.into(),
                ..Entry::default()
            },
            canonical_url: link.map(String::from),
            ..Article::default()
        }
    }

    #[test]
    fn positional_and_repeated_guids_are_not_trusted() {
        let positional: Vec<Article> =
            (1..=9).map(|i| art(Some(&i.to_string()), Some(&format!("https://t.co/a{i}")), "x")).collect();
        assert!(!guids_usable(&positional));
        let repeated =
            vec![art(Some("a"), Some("https://e.org/1"), "one"), art(Some("a"), Some("https://e.org/2"), "two")];
        assert!(!guids_usable(&repeated));
        let real = vec![
            art(Some("tag:e.org,2025:1825315"), Some("https://e.org/1"), "one"),
            art(Some("1825306"), Some("https://e.org/2"), "two"),
        ];
        assert!(guids_usable(&real));
        // Large numeric ids are ids, not positions.
        let numeric = vec![art(Some("1825315"), None, "a"), art(Some("1825316"), None, "b")];
        assert!(guids_usable(&numeric));
    }

    #[test]
    fn keys_fall_back_to_link_then_title_and_date() {
        let docs = vec![
            art(Some("g1"), Some("https://e.org/1"), "one"),
            art(None, Some("https://e.org/2"), "two"),
            art(None, None, "three"),
            // Two entries pointing at the front page: the link cannot tell them apart.
            art(None, Some("https://e.org/"), "four"),
            art(None, Some("https://e.org/"), "five"),
        ];
        let keys = entry_keys(&docs, true);
        assert_eq!(keys[0], "g:g1");
        assert_eq!(keys[1], "u:https://e.org/2");
        assert!(keys[2].starts_with("h:"));
        assert!(keys[3].starts_with("h:") && keys[4].starts_with("h:") && keys[3] != keys[4]);
        // The same entry gets the same key on the next fetch.
        assert_eq!(entry_keys(&docs, true), keys);
        let untrusted = entry_keys(&docs, false);
        assert_eq!(untrusted[0], "u:https://e.org/1");
    }

    #[test]
    fn entries_of_one_document_never_share_a_key() {
        // No id, no date, the same link and title: told apart by their text, and when
        // that is the same too, by their place.
        let with_text = |t: &str| Article { text: t.into(), ..art(None, Some("https://e.org/same"), "") };
        let docs = vec![with_text("first body"), with_text("second body"), with_text("first body")];
        let keys = entry_keys(&docs, true);
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), 3, "{keys:?}");
        assert_eq!(entry_keys(&docs, true), keys, "stable from one fetch to the next");
    }

    #[test]
    fn a_reused_guid_differs_in_link_and_title() {
        let stored = StoredIdentity { canonical_url: Some("https://t.co/a".into()), title: "Old story".into() };
        assert!(guid_reused(&stored, &art(Some("1"), Some("https://t.co/b"), "New story")));
        assert!(!guid_reused(&stored, &art(Some("1"), Some("https://t.co/a"), "Old story, updated")));
        assert!(!guid_reused(&stored, &art(Some("1"), Some("https://t.co/b"), "Old story")));
    }

    #[test]
    fn verdicts_point_at_the_first_copy() {
        let c = Candidate { id: 7, story_id: 3 };
        assert_eq!(verdict(Some(c), None), Verdict::Duplicate { of: 3, reason: Reason::Url, similarity: 1.0 });
        assert!(matches!(verdict(None, Some(c)), Verdict::Duplicate { reason: Reason::Content, .. }));
        assert_eq!(verdict(None, None), Verdict::Original);
        assert!(!url_identifies_article("https://e.org/"));
        assert!(url_identifies_article("https://e.org/news/1"));
        assert!(url_identifies_article("https://e.org/?p=12"));
    }
}
