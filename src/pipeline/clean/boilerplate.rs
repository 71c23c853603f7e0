//! Boilerplate: the lines matching, fingerprints and the search index leave out ("read
//! also", credits, comment prompts, datelines, the lines a site repeats), and the text
//! rebuilt without them for a search over stored articles. Shared by `clean` (at
//! ingest), the store (which learns a site's lines) and the read side (searches).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use xxhash_rust::xxh3::xxh3_64;

use crate::text;

/// Splits text into what matching uses and the boilerplate lines it ignores: "read
/// also" and related-news lines, credits, copyright, comment prompts, and lines the
/// site repeats in its articles (`learned`). A dateline such as "Jakarta (ANTARA) - "
/// is cut from the start of its line.
pub fn split_boilerplate(text: &str, learned: Option<&HashSet<u64>>) -> (String, Vec<String>) {
    let lines = split_lines(text, learned);
    (lines.kept, lines.removed)
}

/// A text split by [`split_lines`].
pub(super) struct Lines {
    /// The lines kept, one per line.
    pub kept: String,
    /// `kept`'s tokens as [`text::token_string`] gives them: folded once here, for the
    /// line identities, the search index, the matcher and the sketch.
    pub tokens: String,
    pub removed: Vec<String>,
    /// The identities of the short lines ([`line_hash`]), each once, in order.
    pub short: Vec<u64>,
}

/// [`split_boilerplate`], with the kept text's tokens and the identities of the
/// text's short lines: each line is folded and hashed once, for all three jobs.
pub(super) fn split_lines(text: &str, learned: Option<&HashSet<u64>>) -> Lines {
    let mut kept = String::with_capacity(text.len());
    let mut tokens = String::with_capacity(text.len());
    let mut removed = Vec::new();
    let mut short = Vec::new();
    let mut seen = HashSet::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let folded = text::token_string(line);
        let hash = folded_line_hash(&folded);
        if let Some(h) = hash.filter(|h| seen.insert(*h)) {
            short.push(h);
        }
        let repeated = learned.is_some_and(|set| hash.is_some_and(|h| set.contains(&h)));
        if is_boilerplate_line(line) || repeated {
            removed.push(line.to_string());
            continue;
        }
        let (line, folded) = match strip_dateline(line) {
            Some((dateline, rest)) => {
                removed.push(dateline.to_string());
                (rest, text::token_string(rest))
            }
            None => (line, folded),
        };
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(line);
        if !tokens.is_empty() && !folded.is_empty() {
            tokens.push(' ');
        }
        tokens.push_str(&folded);
    }
    Lines { kept, tokens, removed, short }
}

/// Lines longer than this are never learned as a site's boilerplate.
const MAX_LEARNED_LINE_WORDS: usize = 25;

/// The identity of a line for learning a site's boilerplate: its folded words.
/// `None` for a line too long to be boilerplate.
pub fn line_hash(line: &str) -> Option<u64> {
    folded_line_hash(&text::token_string(line))
}

/// [`line_hash`] of a line already folded.
fn folded_line_hash(folded: &str) -> Option<u64> {
    let words = folded.split(' ').filter(|w| !w.is_empty()).count();
    (words > 0 && words <= MAX_LEARNED_LINE_WORDS).then(|| xxh3_64(folded.as_bytes()))
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
    for (_, line) in kept_lines(text, removed).into_iter().filter(|(_, k)| !k.is_empty()) {
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(line);
    }
    kept
}

/// Each non-empty line of `text`, trimmed, as (the boilerplate it starts with, the rest
/// matching reads): a whole boilerplate line is all the first, a dateline set aside
/// ("Jakarta (ANTARA) -") the first part of its line. [`kept_text`] joins the second
/// parts; a page marks words by their place in them.
pub fn kept_lines<'a>(text: &'a str, removed: &[String]) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if removed.iter().any(|r| r == line) {
            out.push((line, ""));
            continue;
        }
        let kept = removed
            .iter()
            .find_map(|r| line.strip_prefix(r.as_str()).filter(|_| strip_dateline(line).is_some()))
            .map(str::trim_start)
            .unwrap_or(line);
        out.push((&line[..line.len() - kept.len()], kept));
    }
    out
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
    if line.strip_prefix("MEMBACA").is_some_and(|rest| rest.starts_with(char::is_whitespace) || rest.starts_with(':')) {
        return true;
    }
    let chars = line.chars().count();
    // A source credit: "Sumber: ANTARA", "Source: Reuters" (short: a sentence that
    // begins so is kept).
    if chars <= 60 && (lower.starts_with("sumber:") || lower.starts_with("source:")) {
        return true;
    }
    let short = chars <= 120;
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
