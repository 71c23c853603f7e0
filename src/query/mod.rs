//! The one query language for topics (in the configuration) and for search.
//!
//! ```text
//! word          the word; case- and accent-insensitive
//! word*         any word starting with "word"
//! "two words"   the words in order, adjacent
//! a b, a AND b  both                   a OR b   either
//! NOT a, -a     not                    ( … )    grouping
//! a NEAR/n b    within n words (a, b may be groups; default n = 10)
//! title:a       only in the title      lang:id  article language      feed:name
//! ```
//!
//! `lexer` → `parser` → [`Expr`]; `forms` gives the word forms a query word matches
//! (English inflections, Indonesian affixes); `matcher` compiles queries into a term
//! index and decides over one article; [`Query::fts`] gives the search index a superset
//! of the matches, which the matcher then narrows (so search and topics agree exactly);
//! `search` runs a search over the store.

pub mod forms;
mod lexer;
mod matcher;
mod parser;

pub use forms::MIN_JOINED;
pub use matcher::{Doc, Hit, Matcher};

use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// One word, or several in order and adjacent. With `prefix`, the last word
    /// matches any word that starts with it.
    Words {
        words: Vec<String>,
        prefix: bool,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Near {
        left: Box<Expr>,
        right: Box<Expr>,
        distance: u32,
    },
    Title(Box<Expr>),
    Lang(String),
    Feed(String),
}

impl Expr {
    /// Whether a match of this expression has word positions (NEAR needs them).
    fn has_positions(&self) -> bool {
        match self {
            Expr::Words { .. } => true,
            Expr::And(xs) | Expr::Or(xs) => xs.iter().all(Expr::has_positions),
            Expr::Near { .. } => true,
            Expr::Title(e) => e.has_positions(),
            Expr::Not(_) | Expr::Lang(_) | Expr::Feed(_) => false,
        }
    }
}

/// What one query may cost, checked by [`Query::parse`] before anything else sees the
/// query: its length, its nesting (the parser, the matcher and the index expression all
/// recurse over it), its words, and the index terms those words expand to (each is a
/// posting list the search reads). A topic and a search obey the same limits.
pub mod limits {
    /// Characters in a query.
    pub const MAX_CHARS: usize = 4_000;
    /// Levels of nesting: parentheses, NOT, `-`, `title:` and each NEAR in a chain.
    pub const MAX_DEPTH: usize = 32;
    /// Words and phrases (a phrase counts each of its words).
    pub const MAX_WORDS: usize = 200;
    /// Terms of the search-index expression the words expand to (their forms).
    pub const MAX_INDEX_TERMS: usize = 20_000;
}

/// A query and the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub expr: Expr,
    source: String,
    /// The search-index expression, built once (see [`Query::fts`]).
    fts: Option<String>,
}

impl Query {
    /// Parses `source`, refusing a query past any of the [`limits`] with the column
    /// where it goes past.
    pub fn parse(source: &str) -> Result<Query, QueryError> {
        if source.chars().count() > limits::MAX_CHARS {
            let column = limits::MAX_CHARS + 1;
            return Err(QueryError::new(column, format!("a query of at most {} characters", limits::MAX_CHARS)));
        }
        let tokens = lexer::lex(source)?;
        let expr = parser::parse(&tokens, source.chars().count() + 1)?;
        let fts = fts(&expr);
        let terms = index_terms(fts.as_deref());
        if terms > limits::MAX_INDEX_TERMS {
            return Err(QueryError::new(
                1,
                format!(
                    "a query whose words expand to at most {} word forms (this one: {terms}); use fewer words or prefixes",
                    limits::MAX_INDEX_TERMS
                ),
            ));
        }
        Ok(Query { expr, source: source.to_string(), fts })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The number of terms in [`Query::fts`] (what a search of it holds in memory).
    pub fn index_terms(&self) -> usize {
        index_terms(self.fts.as_deref())
    }

    /// An FTS5 expression that every matching document satisfies (it may admit
    /// more), or `None` when the index cannot narrow the query (`NOT a` alone).
    pub fn fts(&self) -> Option<String> {
        self.fts.clone()
    }
}

/// Terms of an index expression: each is a quoted form.
fn index_terms(fts: Option<&str>) -> usize {
    fts.map_or(0, |f| f.matches('"').count() / 2)
}

fn fts(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Words { words, prefix } => Some(words_fts(words, *prefix)),
        Expr::And(xs) => {
            let parts: Vec<String> = xs.iter().filter_map(fts).collect();
            (!parts.is_empty()).then(|| format!("({})", parts.join(" AND ")))
        }
        Expr::Near { left, right, .. } => fts(&Expr::And(vec![(**left).clone(), (**right).clone()])),
        Expr::Or(xs) => {
            let parts: Option<Vec<String>> = xs.iter().map(fts).collect();
            parts.map(|p| format!("({})", p.join(" OR ")))
        }
        Expr::Title(e) => fts(e),
        Expr::Not(_) | Expr::Lang(_) | Expr::Feed(_) => None,
    }
}

/// The index terms for one word: the forms the matcher reads, each a whole word, or for
/// a prefix its prefix forms as prefixes. Whole words are the cheap terms: FTS5 finds a
/// word's postings in the searched id range only, while a prefix term merges the postings
/// of every word that begins with it across the whole archive.
fn word_alternatives(word: &str, prefix: bool) -> Vec<String> {
    let forms = if prefix { forms::prefix_forms(word) } else { forms::word_forms(word) };
    let star = if prefix { "*" } else { "" };
    forms.iter().map(|f| format!("\"{f}\"{star}")).collect()
}

/// One word: its forms, or the word written as two (see [`forms::splits`]; the index
/// holds words, not the pairs the matcher also reads as one).
fn word_fts(word: &str, prefix: bool) -> String {
    let mut alternatives = word_alternatives(word, prefix);
    let star = if prefix { "*" } else { "" };
    for split in forms::splits(word, prefix) {
        let lefts: Vec<String> = split.lefts.iter().map(|f| format!("\"{f}\"")).collect();
        let rights: Vec<String> = split.rights.iter().map(|f| format!("\"{f}\"{star}")).collect();
        alternatives.push(format!("(({}) AND ({}))", lefts.join(" OR "), rights.join(" OR ")));
    }
    format!("({})", alternatives.join(" OR "))
}

/// Words in a row: each word (as [`word_fts`]), or the words written as one.
fn words_fts(words: &[String], prefix: bool) -> String {
    let last = words.len() - 1;
    if words.len() == 1 {
        return word_fts(&words[0], prefix);
    }
    let each: Vec<String> = words.iter().enumerate().map(|(i, w)| word_fts(w, prefix && i == last)).collect();
    let mut alternatives = vec![format!("({})", each.join(" AND "))];
    if words.len() <= 3 {
        alternatives.push(word_fts(&words.concat(), prefix));
    }
    format!("({})", alternatives.join(" OR "))
}

/// A syntax error: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// 1-based column, in characters.
    pub column: usize,
    pub message: String,
}

impl QueryError {
    fn new(column: usize, expected: impl Into<String>) -> QueryError {
        QueryError { column, message: format!("expected {}", expected.into()) }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for QueryError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(word: &str) -> Expr {
        Expr::Words { words: vec![word.to_string()], prefix: false }
    }

    fn p(s: &str) -> Expr {
        Query::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")).expr
    }

    fn err(s: &str) -> (usize, String) {
        let e = Query::parse(s).expect_err(s);
        (e.column, e.message)
    }

    #[test]
    fn precedence_not_near_and_or() {
        // a OR b c  ==  a OR (b AND c)
        assert_eq!(p("a OR b c"), Expr::Or(vec![w("a"), Expr::And(vec![w("b"), w("c")])]));
        // a b NEAR c  ==  a AND (b NEAR c)
        assert_eq!(
            p("a b NEAR c"),
            Expr::And(vec![w("a"), Expr::Near { left: Box::new(w("b")), right: Box::new(w("c")), distance: 10 }])
        );
        // NOT a b  ==  (NOT a) AND b;  -a is NOT a
        assert_eq!(p("NOT a b"), Expr::And(vec![Expr::Not(Box::new(w("a"))), w("b")]));
        assert_eq!(p("-a OR b"), Expr::Or(vec![Expr::Not(Box::new(w("a"))), w("b")]));
        assert_eq!(p("a AND b"), p("a b"));
    }

    #[test]
    fn terms_phrases_prefixes_and_fields() {
        assert_eq!(p("Kerja-Sama"), Expr::Words { words: vec!["kerja".into(), "sama".into()], prefix: false });
        assert_eq!(p("digital*"), Expr::Words { words: vec!["digital".into()], prefix: true });
        assert_eq!(
            p("\"Nota  Kesepahaman\""),
            Expr::Words { words: vec!["nota".into(), "kesepahaman".into()], prefix: false }
        );
        assert_eq!(p("title:(a OR b)"), Expr::Title(Box::new(Expr::Or(vec![w("a"), w("b")]))));
        assert_eq!(
            p("lang:ID feed:antara-id"),
            Expr::And(vec![Expr::Lang("id".into()), Expr::Feed("antara-id".into())])
        );
        assert_eq!(
            p("(a OR b) NEAR/15 (c OR \"d e\")"),
            Expr::Near {
                left: Box::new(Expr::Or(vec![w("a"), w("b")])),
                right: Box::new(Expr::Or(vec![
                    w("c"),
                    Expr::Words { words: vec!["d".into(), "e".into()], prefix: false }
                ])),
                distance: 15
            }
        );
        // Lower-case operators are words (Indonesian "dan", English "and" alike).
        assert_eq!(p("a and b"), Expr::And(vec![w("a"), w("and"), w("b")]));
    }

    #[test]
    fn every_error_names_its_column_and_what_was_expected() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "the query is empty"),
            ("a AND", 6, "after AND, found the end"),
            ("a OR OR b", 6, "after OR, found OR"),
            ("(a b", 5, "')' to close the '(' at column 1"),
            ("a b)", 4, "found ')' without a matching '('"),
            ("()", 2, "inside the parentheses"),
            ("\"open phrase", 1, "closing '\"'"),
            ("\"  \"", 1, "words inside the quotes"),
            ("a NEAR", 7, "after NEAR"),
            ("a NEAR/0 b", 8, "distance from 1 to 1000"),
            ("a NEAR/x b", 8, "distance from 1 to 1000"),
            ("a NEAR NOT b", 3, "both sides of NEAR"),
            ("lang:id NEAR b", 9, "both sides of NEAR"),
            ("NOT", 4, "after NOT"),
            ("a -", 3, "letters or digits, found \"-\""),
            ("title:", 7, "after title:"),
            ("lang:", 6, "value right after lang:"),
            ("feed:(x)", 6, "value right after feed:, found '('"),
            ("date:2025", 1, "a field title:, lang: or feed:, not date:"),
            ("di*gital", 3, "'*' only at the end"),
            ("a ©", 3, "letters or digits"),
            ("a ) b", 3, "without a matching"),
        ];
        for (q, col, needle) in cases {
            let (c, m) = err(q);
            assert!(m.starts_with("expected "), "{q}: {m}");
            assert!(m.contains(needle), "{q}: {m:?} lacks {needle:?}");
            assert_eq!(c, *col, "{q}: {m}");
        }
    }

    #[test]
    fn fts_is_a_superset() {
        let q = |s: &str| Query::parse(s).unwrap().fts().unwrap();
        assert!(q("mou").starts_with("(\"mou\" OR \"mous\""), "{}", q("mou"));
        let digital = q("digital*");
        assert!(digital.contains("\"digital\"*") && digital.contains("\"didigital\"*"), "{digital}");
        assert!(digital.contains("((\"digi\" OR \"didigi\"") && digital.contains("AND (\"tal\"*))"), "{digital}");
        let kerjasama = q("kerjasama");
        assert!(kerjasama.contains("\"bekerjasama\"") && kerjasama.contains("\"dikerjasamakan\""), "{kerjasama}");
        assert!(!kerjasama.contains('*'), "whole words only: {kerjasama}");
        assert!(
            kerjasama.contains("\"bekerja\"") && kerjasama.contains("AND (\"sama\" OR "),
            "split form missing: {kerjasama}"
        );
        assert!(kerjasama.contains("\"samanya\""), "suffixed right part missing: {kerjasama}");
        let phrase = q("\"kerja sama\"");
        assert!(phrase.contains("\"kerjasama\""), "joined form missing: {phrase}");
        assert_eq!(Query::parse("a OR NOT b").unwrap().fts(), None);
        assert_eq!(Query::parse("-x").unwrap().fts(), None);
        assert!(q("mou NOT b lang:id").starts_with("((\"mou\""));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error_at_its_column_not_a_stack_overflow() {
        use limits::MAX_DEPTH;
        // 2,500 parentheses overflowed the stack before the limits (one API request
        // aborted the daemon): now the length limit refuses them.
        assert!(Query::parse(&format!("{}a{}", "(".repeat(2_500), ")".repeat(2_500))).is_err());
        // Within the length limit, each kind of nesting is refused where it goes past.
        let parens = format!("{}a{}", "(".repeat(1_900), ")".repeat(1_900));
        let nots = format!("{}a", "NOT ".repeat(900));
        let minus = format!("{}a", "-".repeat(3_000));
        // `title:(` opens two levels, so the 17th `title:` is the 33rd level.
        let titles = format!("{}a{}", "title:(".repeat(400), ")".repeat(400));
        let nears = format!("a{}", " NEAR b".repeat(MAX_DEPTH + 1));
        let cases = [(&parens, "(", MAX_DEPTH), (&nots, "NOT", MAX_DEPTH), (&minus, "-", MAX_DEPTH)];
        let cases = cases.into_iter().chain([(&titles, "title:", MAX_DEPTH / 2), (&nears, "NEAR", MAX_DEPTH)]);
        for (q, op, nth) in cases {
            let (column, message) = err(q);
            assert!(message.contains("levels of nesting"), "{op}: {message}");
            let expected = q.match_indices(op).nth(nth).map(|(i, _)| i + 1).unwrap();
            assert_eq!(column, expected, "{op}: {message}");
        }
        // At the limit, each parses, and the matcher and the index expression walk it.
        let deepest = [
            format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH)),
            format!("{}a", "NOT ".repeat(MAX_DEPTH)),
            format!("{}a{}", "title:(".repeat(MAX_DEPTH / 2), ")".repeat(MAX_DEPTH / 2)),
            format!("a{}", " NEAR b".repeat(MAX_DEPTH)),
            format!("{}a{}", "(NOT title:(".repeat(MAX_DEPTH / 4), "))".repeat(MAX_DEPTH / 4)),
        ];
        for q in deepest {
            let query = Query::parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
            let matcher = Matcher::new([&query.expr]);
            let _ = matcher.matches(&Doc::new("a b", "a b", Some("en"), "f"));
        }
    }

    #[test]
    fn length_words_and_index_terms_are_bounded() {
        use limits::{MAX_CHARS, MAX_INDEX_TERMS, MAX_WORDS};
        // The 26 KB query that took 17 s and 1.6 GB before.
        let long = "\"kerja sama\" ".repeat(2_000);
        let (column, message) = err(&long);
        assert_eq!(column, MAX_CHARS + 1);
        assert!(message.contains(&format!("at most {MAX_CHARS} characters")), "{message}");
        // Words: each word, and each word of a phrase, counts.
        let words: Vec<String> = (0..=MAX_WORDS).map(|i| format!("w{i}")).collect();
        let (column, message) = err(&words.join(" "));
        assert_eq!(column, words[..MAX_WORDS].join(" ").chars().count() + 2, "{message}");
        assert!(message.contains(&format!("at most {MAX_WORDS} words")), "{message}");
        assert!(Query::parse(&words[..MAX_WORDS].join(" ")).is_ok());
        let phrase = format!("\"{}\"", words.join(" "));
        assert!(err(&phrase).1.contains("words in a query"));
        // Index terms: long Indonesian words have dozens of forms each.
        let heavy: Vec<String> = (0..MAX_WORDS).map(|i| format!("kerjasama{}", "x".repeat(i % 7))).collect();
        let (column, message) = err(&heavy.join(" OR "));
        assert_eq!(column, 1);
        assert!(message.contains(&format!("at most {MAX_INDEX_TERMS} word forms")), "{message}");
        // The example topic is far inside every limit.
        assert!(Query::parse(include_str!("../../config/kabar.toml").split("'''").nth(1).unwrap()).is_ok());
    }

    #[test]
    fn the_design_example_topic_parses() {
        let q = Query::parse(
            "(digital* OR siber OR cyber* OR \"kecerdasan buatan\" OR \"artificial intelligence\")\nNEAR/15\n(cooperat* OR partnership* OR MoU OR \"kerja sama\" OR kerjasama OR kemitraan OR \"nota kesepahaman\")",
        )
        .unwrap();
        assert!(matches!(q.expr, Expr::Near { distance: 15, .. }));
    }
}
