//! Matching articles against many queries at once.
//!
//! A [`Matcher`] is compiled from a set of queries (the configured topics, or the one
//! query of a search). Every query word becomes a *term* with the forms it matches
//! (see `forms`); the forms of all terms go into one hash index, as a percolator
//! does. An article is read once: each of its words — and each pair of neighbouring
//! words written as one, so `kerja sama`, `kerja-sama` and `kerjasama` meet — is looked
//! up in that index. Only the queries whose terms occurred are then evaluated, so the
//! cost of an article grows with its length, not with the number of queries.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::{Expr, forms};
use crate::model::{Evidence, Field};
use crate::text;

/// An article prepared for matching: the words of its title and of its text (the
/// text without boilerplate lines).
pub struct Doc<'a> {
    title: Vec<Cow<'a, str>>,
    body: Vec<Cow<'a, str>>,
    language: Option<&'a str>,
    feed: &'a str,
}

impl<'a> Doc<'a> {
    /// From the article's title and text as written.
    pub fn new(title: &str, body: &str, language: Option<&'a str>, feed: &'a str) -> Doc<'a> {
        let owned = |s: &str| text::tokens(s).into_iter().map(Cow::Owned).collect();
        Doc { title: owned(title), body: owned(body), language, feed }
    }

    /// From the title and text already in the index form ([`text::token_string`]: the
    /// tokens joined by single spaces), borrowing them: a new article has that form at
    /// hand (its search-index text), so it is not folded and split a second time.
    pub fn from_tokens(title: &'a str, body: &'a str, language: Option<&'a str>, feed: &'a str) -> Doc<'a> {
        let borrowed = |s: &'a str| s.split(' ').filter(|t| !t.is_empty()).map(Cow::Borrowed).collect();
        Doc { title: borrowed(title), body: borrowed(body), language, feed }
    }

    fn tokens(&self, field: Field) -> &[Cow<'a, str>] {
        match field {
            Field::Title => &self.title,
            Field::Body => &self.body,
        }
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

/// A run of matched words: `start..=end` in one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    pub field: Field,
    pub start: u32,
    pub end: u32,
}

type TermId = u32;

/// A query, with its words replaced by terms.
#[derive(Debug, Clone)]
enum Node {
    /// Words in order and adjacent, each a term; `joined` is the words written as one
    /// (`kerja sama` → `kerjasama`), which also matches.
    Words {
        terms: Vec<TermId>,
        joined: Option<TermId>,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Near {
        left: Box<Node>,
        right: Box<Node>,
        distance: u32,
    },
    Title(Box<Node>),
    Lang(String),
    Feed(String),
}

/// The keys are already hashes: use them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex = HashMap<u64, Vec<TermId>, BuildHasherDefault<Identity>>;

/// A compiled set of queries.
#[derive(Default)]
pub struct Matcher {
    queries: Vec<Node>,
    /// Hash of a word form → the terms it is a form of.
    exact: HashIndex,
    /// Hash of a prefix → the prefix terms it stands for.
    prefixes: HashIndex,
    /// The byte lengths of the prefixes, longest last.
    prefix_lens: Vec<usize>,
    /// Hash of two neighbouring words that are a form written as two (see
    /// [`forms::splits`]) → the terms.
    pairs: HashIndex,
    /// Hash of a word and the beginning of the next that are a prefix written as two.
    pair_prefixes: HashIndex,
    /// The byte lengths of those beginnings, longest last.
    pair_prefix_lens: Vec<usize>,
    /// Term → the queries that use it.
    term_queries: Vec<Vec<u32>>,
    /// Queries that can match without any of their words (`NOT a`, `lang:id`).
    always: Vec<u32>,
    /// (is prefix, word) → term, so queries share terms.
    registry: HashMap<(bool, String), TermId>,
}

impl Matcher {
    pub fn new<'e>(queries: impl IntoIterator<Item = &'e Expr>) -> Matcher {
        let mut m = Matcher::default();
        for expr in queries {
            let q = m.queries.len() as u32;
            let node = m.compile(expr, q);
            if !requires_term(&node) {
                m.always.push(q);
            }
            m.queries.push(node);
        }
        for lens in [&mut m.prefix_lens, &mut m.pair_prefix_lens] {
            lens.sort_unstable();
            lens.dedup();
        }
        m
    }

    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    fn term(&mut self, word: &str, prefix: bool, query: u32) -> TermId {
        let key = (prefix, word.to_string());
        let id = match self.registry.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.term_queries.len() as TermId;
                self.term_queries.push(Vec::new());
                if prefix {
                    for f in forms::prefix_forms(word) {
                        self.prefix_lens.push(f.len());
                        self.prefixes.entry(xxh3_64(f.as_bytes())).or_default().push(id);
                    }
                } else {
                    for f in forms::word_forms(word) {
                        self.exact.entry(xxh3_64(f.as_bytes())).or_default().push(id);
                    }
                }
                for split in forms::splits(word, prefix) {
                    for (left, right) in split.lefts.iter().flat_map(|l| split.rights.iter().map(move |r| (l, r))) {
                        let index = if prefix { &mut self.pair_prefixes } else { &mut self.pairs };
                        index.entry(pair_hash(left.as_bytes(), right.as_bytes())).or_default().push(id);
                        if prefix {
                            self.pair_prefix_lens.push(right.len());
                        }
                    }
                }
                self.registry.insert(key, id);
                id
            }
        };
        let users = &mut self.term_queries[id as usize];
        if users.last() != Some(&query) {
            users.push(query);
        }
        id
    }

    fn compile(&mut self, expr: &Expr, q: u32) -> Node {
        match expr {
            Expr::Words { words, prefix } => {
                let last = words.len() - 1;
                let terms = words.iter().enumerate().map(|(i, w)| self.term(w, *prefix && i == last, q)).collect();
                let joined = (words.len() > 1 && words.len() <= 3).then(|| self.term(&words.concat(), *prefix, q));
                Node::Words { terms, joined }
            }
            Expr::And(xs) => Node::And(xs.iter().map(|x| self.compile(x, q)).collect()),
            Expr::Or(xs) => Node::Or(xs.iter().map(|x| self.compile(x, q)).collect()),
            Expr::Not(x) => Node::Not(Box::new(self.compile(x, q))),
            Expr::Near { left, right, distance } => Node::Near {
                left: Box::new(self.compile(left, q)),
                right: Box::new(self.compile(right, q)),
                distance: *distance,
            },
            Expr::Title(x) => Node::Title(Box::new(self.compile(x, q))),
            Expr::Lang(l) => Node::Lang(l.clone()),
            Expr::Feed(f) => Node::Feed(f.clone()),
        }
    }

    /// Every query that matches `doc`, by its position in the set, with the words that
    /// made it match.
    pub fn matches(&self, doc: &Doc) -> Vec<(usize, Vec<Hit>)> {
        let hits = self.term_hits(doc);
        let mut candidate = vec![false; self.queries.len()];
        for q in &self.always {
            candidate[*q as usize] = true;
        }
        for term in hits.keys() {
            for q in &self.term_queries[*term as usize] {
                candidate[*q as usize] = true;
            }
        }
        candidate
            .iter()
            .enumerate()
            .filter(|(_, c)| **c)
            .filter_map(|(q, _)| eval(&self.queries[q], &hits, doc, None).map(|h| (q, h)))
            .collect()
    }

    /// Where each term occurs in `doc`: one pass over its words and neighbouring pairs.
    fn term_hits(&self, doc: &Doc) -> HashMap<TermId, Vec<Hit>> {
        let mut hits: HashMap<TermId, Vec<Hit>> = HashMap::new();
        let mut add = |terms: &[TermId], field, start, end| {
            for t in terms {
                hits.entry(*t).or_default().push(Hit { field, start, end });
            }
        };
        for field in [Field::Title, Field::Body] {
            let tokens = doc.tokens(field);
            for (i, token) in tokens.iter().enumerate() {
                let (i, t) = (i as u32, token.as_bytes());
                if let Some(terms) = self.exact.get(&xxh3_64(t)) {
                    add(terms, field, i, i);
                }
                for &len in self.prefix_lens.iter().take_while(|l| **l <= t.len()) {
                    if let Some(terms) = self.prefixes.get(&xxh3_64(&t[..len])) {
                        add(terms, field, i, i);
                    }
                }
                // Two words written as one (`bekerja sama`): see `forms::splits`.
                let Some(next) = tokens.get(i as usize + 1).map(|n| n.as_bytes()) else { continue };
                if let Some(terms) = self.pairs.get(&pair_hash(t, next)) {
                    add(terms, field, i, i + 1);
                }
                for &len in self.pair_prefix_lens.iter().take_while(|l| **l <= next.len()) {
                    if let Some(terms) = self.pair_prefixes.get(&pair_hash(t, &next[..len])) {
                        add(terms, field, i, i + 1);
                    }
                }
            }
        }
        for list in hits.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        hits
    }
}

/// The hash of two neighbouring words (a zero byte between them: tokens never hold one).
/// Most pairs fit a small buffer hashed in one call; the streaming hasher gives the same
/// value for longer ones, but setting it up costs more than hashing a short pair.
fn pair_hash(a: &[u8], b: &[u8]) -> u64 {
    let mut buf = [0u8; 64];
    let n = a.len() + 1 + b.len();
    if n <= buf.len() {
        buf[..a.len()].copy_from_slice(a);
        buf[a.len() + 1..n].copy_from_slice(b);
        return xxh3_64(&buf[..n]);
    }
    let mut h = Xxh3::new();
    h.update(a);
    h.update(&[0]);
    h.update(b);
    h.digest()
}

/// Whether a query can only match when one of its words occurs.
fn requires_term(node: &Node) -> bool {
    match node {
        Node::Words { .. } | Node::Near { .. } => true,
        Node::And(xs) => xs.iter().any(requires_term),
        Node::Or(xs) => xs.iter().all(requires_term),
        Node::Title(x) => requires_term(x),
        Node::Not(_) | Node::Lang(_) | Node::Feed(_) => false,
    }
}

fn eval(node: &Node, hits: &HashMap<TermId, Vec<Hit>>, doc: &Doc, scope: Option<Field>) -> Option<Vec<Hit>> {
    let in_scope = |h: &&Hit| scope.is_none_or(|s| s == h.field);
    match node {
        Node::Words { terms, joined } => {
            let mut out: Vec<Hit> = Vec::new();
            if let Some(first) = hits.get(&terms[0]) {
                'start: for h in first.iter().filter(in_scope) {
                    let mut end = h.end;
                    for t in &terms[1..] {
                        let next =
                            hits.get(t).and_then(|list| list.iter().find(|n| n.field == h.field && n.start == end + 1));
                        match next {
                            Some(n) => end = n.end,
                            None => continue 'start,
                        }
                    }
                    out.push(Hit { field: h.field, start: h.start, end });
                }
            }
            if let Some(list) = joined.and_then(|j| hits.get(&j)) {
                out.extend(list.iter().filter(in_scope));
            }
            (!out.is_empty()).then(|| normalise(out))
        }
        Node::And(xs) => {
            let mut all = Vec::new();
            for x in xs {
                all.extend(eval(x, hits, doc, scope)?);
            }
            Some(normalise(all))
        }
        Node::Or(xs) => {
            let mut any = None::<Vec<Hit>>;
            for x in xs {
                if let Some(h) = eval(x, hits, doc, scope) {
                    any.get_or_insert_with(Vec::new).extend(h);
                }
            }
            any.map(normalise)
        }
        Node::Not(x) => match eval(x, hits, doc, scope) {
            Some(_) => None,
            None => Some(Vec::new()),
        },
        Node::Near { left, right, distance } => {
            let l = eval(left, hits, doc, scope)?;
            let r = eval(right, hits, doc, scope)?;
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
        Node::Title(x) => eval(x, hits, doc, Some(Field::Title)),
        Node::Lang(code) => {
            let lang = doc.language?;
            let same = lang.eq_ignore_ascii_case(code)
                || lang.split_once('-').is_some_and(|(base, _)| base.eq_ignore_ascii_case(code));
            same.then(Vec::new)
        }
        Node::Feed(name) => doc.feed.eq_ignore_ascii_case(name).then(Vec::new),
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

    #[test]
    fn a_pair_hashes_the_same_whatever_its_length() {
        for (a, b) in [("kerja", "sama"), ("", ""), ("a", &"b".repeat(62)[..]), ("a", &"b".repeat(63)[..])] {
            let mut h = Xxh3::new();
            h.update(a.as_bytes());
            h.update(&[0]);
            h.update(b.as_bytes());
            assert_eq!(pair_hash(a.as_bytes(), b.as_bytes()), h.digest(), "{a} {b}");
        }
    }

    #[test]
    fn the_index_form_gives_the_same_words() {
        for (title, body) in [
            ("Indonesia–India MoU", "Pemerintah  Indonesia,\n\nCafé ÉLYSÉE (kerja-sama) ﬁnance ＡＢＣ 26 Jan."),
            ("", ""),
            ("  ...  ", "e\u{301}\u{301} 한국어"),
        ] {
            let (t, b) = (text::token_string(title), text::token_string(body));
            let (raw, indexed) = (Doc::new(title, body, None, "x"), Doc::from_tokens(&t, &b, None, "x"));
            assert_eq!(raw.title, indexed.title);
            assert_eq!(raw.body, indexed.body);
        }
    }

    fn matches_in(q: &str, d: &Doc) -> bool {
        let query = Query::parse(q).unwrap();
        !Matcher::new([&query.expr]).matches(d).is_empty()
    }

    fn m(q: &str) -> bool {
        matches_in(q, &doc())
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
    fn compounds_and_affixes_are_reachable_from_one_term() {
        for text in [
            "Kedua negara sepakat kerja sama di bidang digital.",
            "Kedua negara sepakat kerjasama di bidang digital.",
            "Kedua negara sepakat kerja-sama di bidang digital.",
            "Kedua negara sepakat bekerja sama di bidang digital.",
            "Kedua negara sepakat bekerjasama di bidang digital.",
            "Proyek itu dikerjasamakan dengan India.",
            "Kerjasamanya dengan India berjalan baik.",
        ] {
            let d = Doc::new("", text, Some("id"), "x");
            for q in ["kerjasama", "\"kerja sama\"", "kerja-sama"] {
                assert!(matches_in(q, &d), "{q} should find {text:?}");
            }
        }
        let english = Doc::new("", "The two countries signed agreements on cybersecurity cooperation.", None, "x");
        for q in ["agreement", "sign", "\"cyber security\"", "cybersecurity", "cooperat*"] {
            assert!(matches_in(q, &english), "{q}");
        }
        // Forms come from the query word, so a word is never cut down to another one.
        assert!(matches_in("kerja", &Doc::new("", "Pekerjaan rumah belum selesai.", None, "x")));
        assert!(!matches_in("digital", &Doc::new("", "Gital adalah nama sebuah desa.", None, "x")));
        assert!(!matches_in("kerja", &Doc::new("", "Kerani itu sedang cuti.", None, "x")));
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
    fn only_queries_whose_words_occur_are_evaluated_and_all_agree() {
        let queries: Vec<Query> = ["india", "brazil", "NOT brazil", "lang:id", "title:digital", "mou NEAR/2 nota"]
            .iter()
            .map(|q| Query::parse(q).unwrap())
            .collect();
        let matcher = Matcher::new(queries.iter().map(|q| &q.expr));
        let found: Vec<usize> = matcher.matches(&doc()).into_iter().map(|(q, _)| q).collect();
        assert_eq!(found, [0, 2, 3, 4, 5]);
    }

    #[test]
    fn evidence_names_the_words_and_where() {
        let d = doc();
        let query = Query::parse("mou OR title:digital").unwrap();
        let hits = Matcher::new([&query.expr]).matches(&d).pop().unwrap().1;
        let ev = d.evidence(&hits, 10);
        assert_eq!(ev[0].term, "digital");
        assert_eq!(ev[0].field, Field::Title);
        assert_eq!(ev[0].position, 6);
        assert_eq!(ev[1].term, "mou");
        assert_eq!(ev[1].field, Field::Body);
    }
}
