//! Decides whether one article matches an expression, and which words made it match.

use std::collections::HashMap;

use super::Expr;
use crate::model::{Evidence, Field};
use crate::text;

/// An article prepared for matching: its title and body tokens with an index from
/// each token to where it occurs. Build it once and test every topic against it.
pub struct Doc<'a> {
    title: Vec<String>,
    body: Vec<String>,
    index: HashMap<String, Vec<(Field, u32)>>,
    language: Option<&'a str>,
    feed: &'a str,
}

/// A run of matched words: `start..=end` in one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    pub field: Field,
    pub start: u32,
    pub end: u32,
}

impl<'a> Doc<'a> {
    /// `body` is the text to match: the article text without its boilerplate lines.
    pub fn new(title: &str, body: &str, language: Option<&'a str>, feed: &'a str) -> Doc<'a> {
        let title = text::tokens(title);
        let body = text::tokens(body);
        let mut index: HashMap<String, Vec<(Field, u32)>> = HashMap::new();
        for (field, tokens) in [(Field::Title, &title), (Field::Body, &body)] {
            for (i, t) in tokens.iter().enumerate() {
                index.entry(t.clone()).or_default().push((field, i as u32));
            }
        }
        Doc { title, body, index, language, feed }
    }

    fn tokens(&self, field: Field) -> &[String] {
        match field {
            Field::Title => &self.title,
            Field::Body => &self.body,
        }
    }

    /// The matched words, or `None` when `expr` does not match.
    pub fn eval(&self, expr: &Expr) -> Option<Vec<Hit>> {
        self.eval_in(expr, None)
    }

    fn eval_in(&self, expr: &Expr, scope: Option<Field>) -> Option<Vec<Hit>> {
        match expr {
            Expr::Words { words, prefix } => {
                let hits = self.words(words, *prefix, scope);
                (!hits.is_empty()).then_some(hits)
            }
            Expr::And(xs) => {
                let mut all = Vec::new();
                for x in xs {
                    all.extend(self.eval_in(x, scope)?);
                }
                Some(normalise(all))
            }
            Expr::Or(xs) => {
                let mut any = None::<Vec<Hit>>;
                for x in xs {
                    if let Some(h) = self.eval_in(x, scope) {
                        any.get_or_insert_with(Vec::new).extend(h);
                    }
                }
                any.map(normalise)
            }
            Expr::Not(x) => match self.eval_in(x, scope) {
                Some(_) => None,
                None => Some(Vec::new()),
            },
            Expr::Near { left, right, distance } => {
                let l = self.eval_in(left, scope)?;
                let r = self.eval_in(right, scope)?;
                let mut out = Vec::new();
                for a in &l {
                    for b in &r {
                        if a.field == b.field && gap(a, b) <= *distance {
                            out.push(*a);
                            out.push(*b);
                        }
                    }
                }
                (!out.is_empty()).then(|| normalise(out))
            }
            Expr::Title(x) => self.eval_in(x, Some(Field::Title)),
            Expr::Lang(code) => {
                let lang = self.language?;
                let same = lang.eq_ignore_ascii_case(code)
                    || lang.split_once('-').is_some_and(|(base, _)| base.eq_ignore_ascii_case(code));
                same.then(Vec::new)
            }
            Expr::Feed(name) => self.feed.eq_ignore_ascii_case(name).then(Vec::new),
        }
    }

    fn words(&self, words: &[String], prefix: bool, scope: Option<Field>) -> Vec<Hit> {
        let last = words.len() - 1;
        let matches_word = |k: usize, token: &str| {
            if prefix && k == last { token.starts_with(words[k].as_str()) } else { token == words[k] }
        };
        let mut starts: Vec<(Field, u32)> = Vec::new();
        let mut add = |positions: &[(Field, u32)]| starts.extend_from_slice(positions);
        if prefix && last == 0 {
            for (token, positions) in &self.index {
                if token.starts_with(words[0].as_str()) {
                    add(positions);
                }
            }
        } else if let Some(positions) = self.index.get(&words[0]) {
            add(positions);
        }
        let mut hits: Vec<Hit> = starts
            .into_iter()
            .filter(|(f, _)| scope.is_none_or(|s| s == *f))
            .filter(|&(f, p)| {
                let tokens = self.tokens(f);
                (1..words.len()).all(|k| tokens.get(p as usize + k).is_some_and(|t| matches_word(k, t)))
            })
            .map(|(field, p)| Hit { field, start: p, end: p + last as u32 })
            .collect();
        hits.sort_unstable();
        hits
    }

    /// The matched words and their places, title first, at most `limit` of them.
    pub fn evidence(&self, hits: &[Hit], limit: usize) -> Vec<Evidence> {
        hits.iter()
            .take(limit)
            .map(|h| Evidence {
                term: self.tokens(h.field)[h.start as usize..=h.end as usize].join(" "),
                field: h.field,
                position: h.start,
            })
            .collect()
    }
}

/// Words between two runs: 1 when adjacent, 0 when they overlap.
fn gap(a: &Hit, b: &Hit) -> u32 {
    b.start.saturating_sub(a.end).max(a.start.saturating_sub(b.end))
}

fn normalise(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_unstable();
    hits.dedup();
    hits
}

#[cfg(test)]
mod tests {
    use crate::query::Query;

    use super::*;

    fn doc() -> Doc<'static> {
        Doc::new(
            "Indonesia dan India memperkuat kerja sama digital",
            "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital. \
             Kerjasama antara kedua negara diformalisasikan melalui penandatanganan Nota Kesepahaman (MoU). \
             Café au lait.",
            Some("id"),
            "antara-id",
        )
    }

    fn m(q: &str) -> bool {
        Query::parse(q).unwrap().matches(&doc()).is_some()
    }

    #[test]
    fn boolean_operators() {
        assert!(m("indonesia india"));
        assert!(m("indonesia AND NOT brazil"));
        assert!(!m("indonesia AND brazil"));
        assert!(m("brazil OR india"));
        assert!(!m("-india"));
        assert!(m("-(brazil OR chile)"));
    }

    #[test]
    fn phrases_prefixes_and_accents() {
        assert!(m("\"kerja sama\""));
        assert!(!m("\"sama kerja\""));
        assert!(m("kesepaham*"));
        assert!(m("\"nota kesepaham*\""));
        assert!(!m("kesepahamx*"));
        assert!(m("CAFÉ"));
        assert!(m("cafe"));
    }

    #[test]
    fn near_counts_words_and_works_on_groups() {
        // "kerja sama strategis di sektor digital": sama..digital is 4 words apart.
        assert!(m("\"kerja sama\" NEAR/4 digital"));
        assert!(!m("\"pemerintah indonesia\" NEAR/3 digital"));
        assert!(m("(siber OR digital) NEAR/15 (kemitraan OR \"kerja sama\" OR mou)"));
        // Title and body positions never pair up.
        assert!(!m("title:memperkuat NEAR/1 pemerintah"));
    }

    #[test]
    fn fields() {
        assert!(m("title:memperkuat"));
        assert!(!m("title:pemerintah"));
        assert!(m("lang:id"));
        assert!(!m("lang:en"));
        assert!(m("feed:ANTARA-ID digital"));
        assert!(!m("feed:tempo"));
    }

    #[test]
    fn evidence_names_the_words_and_where() {
        let d = doc();
        let hits = Query::parse("mou OR title:digital").unwrap().matches(&d).unwrap();
        let ev = d.evidence(&hits, 10);
        assert_eq!(ev[0].term, "digital");
        assert_eq!(ev[0].field, Field::Title);
        assert_eq!(ev[0].position, 6);
        assert_eq!(ev[1].term, "mou");
        assert_eq!(ev[1].field, Field::Body);
    }
}
