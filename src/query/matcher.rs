//! Matching articles against many queries at once.
//!
//! A [`Matcher`] is compiled from a set of queries (the configured topics, or the one
//! query of a search). Every query word becomes a *term* with the forms it matches
//! (see `forms`); the forms of all terms go into one hash index, as a percolator
//! does. An article is read once: each of its words — and each pair of neighbouring
//! words written as one, so `kerja sama`, `kerja-sama` and `kerjasama` meet — is looked
//! up in that index. A query is filed under one set of terms it cannot match without
//! (its *anchor*), and evaluated only when an anchor term occurred and every other
//! term set it requires has a term in the article too (a presearcher), so the cost of
//! an article grows with its length and the queries it nearly matches, not with the
//! number of queries.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::xxh3_64;

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
        let borrowed = |s: &'a str| text::split_tokens(s).map(Cow::Borrowed).collect();
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

/// Hash of a form → the terms (or pair splits) it is a form of. Nearly every form
/// belongs to one, so its id is stored in place; a form several share points into
/// `shared`. (A `Vec` per form cost an allocation each: 10,000 topics have 1.8 million
/// forms.) The prefix index also marks the beginnings of longer prefixes
/// ([`FormIndex::mark_longer`]), so reading a word's beginnings stops at the first that
/// no prefix continues.
#[derive(Default)]
struct FormIndex {
    map: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    shared: Vec<Vec<u32>>,
}

/// Marks a [`FormIndex`] value as a place in `shared`.
const SHARED: u32 = 1 << 31;
/// Marks a [`FormIndex`] key that a longer key begins with. Such a value is a place in
/// `shared` or [`NO_ID`], never an id in place, so an id in place is always bare.
const LONGER: u32 = 1 << 30;
/// The value of a key that is only the beginning of longer keys.
const NO_ID: u32 = LONGER | (LONGER - 1);

/// What a [`FormIndex`] holds for one key.
struct Found<'a> {
    ids: &'a [u32],
    longer: bool,
}

impl FormIndex {
    fn add(&mut self, form: &[u8], id: u32) {
        match self.map.entry(xxh3_64(form)) {
            Entry::Vacant(slot) => {
                slot.insert(id);
            }
            Entry::Occupied(mut slot) => {
                let v = *slot.get();
                if v & SHARED != 0 {
                    let list = &mut self.shared[(v & !(SHARED | LONGER)) as usize];
                    if !list.contains(&id) {
                        list.push(id);
                    }
                } else if v != id {
                    let list = if v == NO_ID { vec![id] } else { vec![v, id] };
                    self.shared.push(list);
                    slot.insert(SHARED | (v & LONGER) | (self.shared.len() - 1) as u32);
                }
            }
        }
    }

    /// Notes that a longer key begins with `beginning`.
    fn mark_longer(&mut self, beginning: &[u8]) {
        let v = self.map.entry(xxh3_64(beginning)).or_insert(NO_ID);
        if *v & (SHARED | LONGER) == 0 {
            self.shared.push(vec![*v]);
            *v = SHARED | (self.shared.len() - 1) as u32;
        }
        *v |= LONGER;
    }

    fn find(&self, hash: u64) -> Found<'_> {
        match self.map.get(&hash) {
            None => Found { ids: &[], longer: false },
            Some(&NO_ID) => Found { ids: &[], longer: true },
            Some(v) if v & SHARED != 0 => {
                Found { ids: &self.shared[(v & !(SHARED | LONGER)) as usize], longer: v & LONGER != 0 }
            }
            Some(v) => Found { ids: std::slice::from_ref(v), longer: false },
        }
    }
}

/// A term written as two words (see [`forms::splits`]), one index per side, each
/// naming the split: the forms of the first word (`lefts`) and of the second
/// (`rights`) at each split point of every whole-word term, and a pair of words is
/// the term when both name one split. Kept apart, the two sides cost their sum, not
/// their product: 10,000 topics had 13 million (first, second) pairs. A prefix term's
/// second word need only begin with one of the forms, so its splits are kept as
/// [`PrefixSplit`]s.
#[derive(Default)]
struct Pairs {
    lefts: FormIndex,
    rights: FormIndex,
    /// Split → its term.
    terms: Vec<TermId>,
    prefix_lefts: FormIndex,
    prefix_splits: Vec<PrefixSplit>,
}

/// A prefix term written as two words at one split point: the beginnings the second
/// word may have there.
struct PrefixSplit {
    term: TermId,
    rights: Vec<String>,
}

impl Pairs {
    fn add(&mut self, term: TermId, prefix: bool, split: forms::Split) {
        if prefix {
            let at = self.prefix_splits.len() as u32;
            for left in &split.lefts {
                self.prefix_lefts.add(left.as_bytes(), at);
            }
            self.prefix_splits.push(PrefixSplit { term, rights: split.rights });
        } else {
            let at = self.terms.len() as u32;
            for left in &split.lefts {
                self.lefts.add(left.as_bytes(), at);
            }
            for right in &split.rights {
                self.rights.add(right.as_bytes(), at);
            }
            self.terms.push(term);
        }
    }

    /// The terms two neighbouring words are together: the first by its hash, the second
    /// as written and by its hash.
    fn terms(&self, left_hash: u64, right: &[u8], right_hash: u64, mut found: impl FnMut(TermId)) {
        // Both lists are ascending: splits are numbered as they are added.
        let lefts = self.lefts.find(left_hash).ids;
        if !lefts.is_empty() {
            let rights = self.rights.find(right_hash).ids;
            let (short, long) = if lefts.len() <= rights.len() { (lefts, rights) } else { (rights, lefts) };
            for split in short.iter().filter(|s| long.binary_search(s).is_ok()) {
                found(self.terms[*split as usize]);
            }
        }
        for split in self.prefix_lefts.find(left_hash).ids {
            let split = &self.prefix_splits[*split as usize];
            if split.rights.iter().any(|r| right.starts_with(r.as_bytes())) {
                found(split.term);
            }
        }
    }
}

/// Where each term occurs in an article: a slot per term of the matcher, so finding a
/// term's places is an index, not a hash lookup (hashing was a quarter of the matching
/// time at 10,000 topics). The slots cost 4 bytes per term per article.
struct TermHits {
    /// Term → 1 + its place in `lists`; 0 when the term does not occur.
    slot: Vec<u32>,
    lists: Vec<(TermId, Vec<Hit>)>,
}

impl TermHits {
    fn new(terms: usize) -> TermHits {
        TermHits { slot: vec![0; terms], lists: Vec::new() }
    }

    fn push(&mut self, term: TermId, hit: Hit) {
        let slot = &mut self.slot[term as usize];
        if *slot == 0 {
            self.lists.push((term, Vec::new()));
            *slot = self.lists.len() as u32;
        }
        self.lists[*slot as usize - 1].1.push(hit);
    }

    fn get(&self, term: &TermId) -> Option<&Vec<Hit>> {
        match self.slot[*term as usize] {
            0 => None,
            n => Some(&self.lists[n as usize - 1].1),
        }
    }

    fn contains(&self, term: &TermId) -> bool {
        self.slot[*term as usize] != 0
    }
}

/// A compiled set of queries.
#[derive(Default)]
pub struct Matcher {
    queries: Vec<Node>,
    /// Hash of a word form → the terms it is a form of.
    exact: FormIndex,
    /// Hash of a prefix → the prefix terms it stands for.
    prefixes: FormIndex,
    /// The byte lengths of the prefixes, longest last.
    prefix_lens: Vec<usize>,
    /// Terms written as two words.
    pairs: Pairs,
    /// Term → the queries it is an anchor of: a query is looked at only when one of
    /// its anchor terms occurs (see [`required`]).
    term_queries: Vec<Vec<u32>>,
    /// Per query, the sets of terms of which at least one must occur for it to match:
    /// a query is evaluated only when every set has a term in the article.
    required: Vec<Vec<Vec<TermId>>>,
    /// Queries that can match without any of their words (`NOT a`, `lang:id`).
    always: Vec<u32>,
    /// (is prefix, word) → term, so queries share terms.
    registry: HashMap<(bool, String), TermId>,
    /// Term → whether it is a prefix.
    prefix_terms: Vec<bool>,
}

impl Matcher {
    pub fn new<'e>(queries: impl IntoIterator<Item = &'e Expr>) -> Matcher {
        let mut m = Matcher::default();
        for expr in queries {
            let q = m.queries.len() as u32;
            let node = m.compile(expr);
            let clauses = required(&node);
            match m.anchor(&clauses) {
                Some(anchor) => {
                    for t in anchor {
                        m.term_queries[*t as usize].push(q);
                    }
                }
                None => m.always.push(q),
            }
            m.required.push(clauses);
            m.queries.push(node);
        }
        m.prefix_lens.sort_unstable();
        m.prefix_lens.dedup();
        let prefixes: Vec<&String> = m.registry.keys().filter(|(prefix, _)| *prefix).map(|(_, w)| w).collect();
        for form in prefixes.into_iter().flat_map(|w| forms::prefix_forms(w)) {
            for &len in m.prefix_lens.iter().take_while(|l| **l < form.len()) {
                m.prefixes.mark_longer(&form.as_bytes()[..len]);
            }
        }
        m
    }

    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The set of required terms a query is filed under: the one least likely to occur
    /// (fewest terms, and a prefix counts as several words). None when nothing is
    /// required (`NOT a`, `lang:id`): such queries are evaluated for every article.
    fn anchor<'c>(&self, clauses: &'c [Vec<TermId>]) -> Option<&'c Vec<TermId>> {
        let cost = |t: &TermId| if self.prefix_terms[*t as usize] { 4 } else { 1 };
        clauses.iter().min_by_key(|c| c.iter().map(cost).sum::<usize>())
    }

    fn term(&mut self, word: &str, prefix: bool) -> TermId {
        let key = (prefix, word.to_string());
        match self.registry.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.term_queries.len() as TermId;
                self.term_queries.push(Vec::new());
                self.prefix_terms.push(prefix);
                if prefix {
                    for f in forms::prefix_forms(word) {
                        self.prefix_lens.push(f.len());
                        self.prefixes.add(f.as_bytes(), id);
                    }
                } else {
                    for f in forms::word_forms(word) {
                        self.exact.add(f.as_bytes(), id);
                    }
                }
                for split in forms::splits(word, prefix) {
                    if split.rights.is_empty() {
                        continue;
                    }
                    self.pairs.add(id, prefix, split);
                }
                self.registry.insert(key, id);
                id
            }
        }
    }

    fn compile(&mut self, expr: &Expr) -> Node {
        match expr {
            Expr::Words { words, prefix } => {
                let last = words.len() - 1;
                let terms = words.iter().enumerate().map(|(i, w)| self.term(w, *prefix && i == last)).collect();
                let joined = (words.len() > 1 && words.len() <= 3).then(|| self.term(&words.concat(), *prefix));
                Node::Words { terms, joined }
            }
            Expr::And(xs) => Node::And(xs.iter().map(|x| self.compile(x)).collect()),
            Expr::Or(xs) => Node::Or(xs.iter().map(|x| self.compile(x)).collect()),
            Expr::Not(x) => Node::Not(Box::new(self.compile(x))),
            Expr::Near { left, right, distance } => Node::Near {
                left: Box::new(self.compile(left)),
                right: Box::new(self.compile(right)),
                distance: *distance,
            },
            Expr::Title(x) => Node::Title(Box::new(self.compile(x))),
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
        for (term, _) in &hits.lists {
            for q in &self.term_queries[*term as usize] {
                candidate[*q as usize] = true;
            }
        }
        let present = |clause: &Vec<TermId>| clause.iter().any(|t| hits.contains(t));
        candidate
            .iter()
            .enumerate()
            .filter(|(q, c)| **c && self.required[*q].iter().all(present))
            .filter_map(|(q, _)| eval(&self.queries[q], &hits, doc, None).map(|h| (q, h)))
            .collect()
    }

    /// Where each term occurs in `doc`: one pass over its words and neighbouring pairs.
    fn term_hits(&self, doc: &Doc) -> TermHits {
        let mut hits = TermHits::new(self.term_queries.len());
        let mut add = |terms: &[TermId], field, start, end| {
            for t in terms {
                hits.push(*t, Hit { field, start, end });
            }
        };
        for field in [Field::Title, Field::Body] {
            let tokens = doc.tokens(field);
            let hashes: Vec<u64> = tokens.iter().map(|t| xxh3_64(t.as_bytes())).collect();
            for (i, token) in tokens.iter().enumerate() {
                let (at, t) = (i as u32, token.as_bytes());
                add(self.exact.find(hashes[i]).ids, field, at, at);
                // The word's beginnings, shortest first, until no prefix goes on.
                for &len in self.prefix_lens.iter().take_while(|l| **l <= t.len()) {
                    let found = self.prefixes.find(xxh3_64(&t[..len]));
                    add(found.ids, field, at, at);
                    if !found.longer {
                        break;
                    }
                }
                // Two words written as one (`bekerja sama`): see `forms::splits`.
                if let Some(next) = tokens.get(i + 1) {
                    self.pairs.terms(hashes[i], next.as_bytes(), hashes[i + 1], |term| add(&[term], field, at, at + 1));
                }
            }
        }
        for (_, list) in &mut hits.lists {
            list.sort_unstable();
            list.dedup();
        }
        hits
    }
}

/// What a query needs in order to match: sets of terms, each of which must have one
/// term in the article (a necessary condition, in conjunctive form; the query is still
/// evaluated in full). `a NEAR/5 (b OR c*)` needs {a} and {b, c*}; `"kerja sama"` needs
/// {kerja, kerjasama} and {sama, kerjasama}, as the joined form alone matches too.
/// Empty when the query can match without any of its words (`NOT a`, `lang:id`).
fn required(node: &Node) -> Vec<Vec<TermId>> {
    match node {
        Node::Words { terms, joined } => terms.iter().map(|t| std::iter::once(*t).chain(*joined).collect()).collect(),
        Node::And(xs) => xs.iter().flat_map(required).collect(),
        Node::Near { left, right, .. } => [required(left), required(right)].concat(),
        Node::Title(x) => required(x),
        // One term of some set of every branch: the smallest set of each, together.
        Node::Or(xs) => {
            let mut any = Vec::new();
            for x in xs {
                match required(x).into_iter().min_by_key(Vec::len) {
                    Some(smallest) => any.extend(smallest),
                    None => return Vec::new(),
                }
            }
            any.sort_unstable();
            any.dedup();
            vec![any]
        }
        Node::Not(_) | Node::Lang(_) | Node::Feed(_) => Vec::new(),
    }
}

fn eval(node: &Node, hits: &TermHits, doc: &Doc, scope: Option<Field>) -> Option<Vec<Hit>> {
    let in_scope = |h: &&Hit| scope.is_none_or(|s| s == h.field);
    match node {
        Node::Words { terms, joined } => {
            let mut out: Vec<Hit> = Vec::new();
            if let Some(first) = hits.get(&terms[0]) {
                'start: for h in first.iter().filter(in_scope) {
                    let mut end = h.end;
                    for t in &terms[1..] {
                        match hits.get(t).and_then(|list| first_at(list, h.field, end + 1)) {
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
            // Both lists are sorted: each run of `left` looks only at the runs of
            // `right` that start near it (a common word occurs dozens of times).
            let longest = r.iter().map(|b| b.end - b.start).max().unwrap_or(0);
            let mut near_b = vec![false; r.len()];
            let mut out = Vec::new();
            for a in &l {
                let from = a.start.saturating_sub(distance + longest);
                let first = r.partition_point(|b| (b.field, b.start) < (a.field, from));
                let mut paired = false;
                for (j, b) in r.iter().enumerate().skip(first) {
                    if b.field != a.field || b.start > a.end + distance {
                        break;
                    }
                    if gap(a, b) <= *distance {
                        paired = true;
                        near_b[j] = true;
                    }
                }
                if paired {
                    out.push(*a);
                }
            }
            out.extend(r.iter().zip(&near_b).filter(|(_, n)| **n).map(|(b, _)| *b));
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

/// The first run of a sorted list that starts at `start` in `field`.
fn first_at(list: &[Hit], field: Field, start: u32) -> Option<&Hit> {
    let i = list.partition_point(|n| (n.field, n.start) < (field, start));
    list.get(i).filter(|n| n.field == field && n.start == start)
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
            for q in ["kerjasama", "\"kerja sama\"", "kerja-sama", "kerjasama*"] {
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
    fn near_finds_exactly_the_runs_within_reach() {
        // Random texts of four words, checked against every pair of places.
        let words = ["alpha", "beta", "gamma", "delta"];
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut checked = 0;
        for _ in 0..200 {
            let len = 1 + next() % 60;
            let tokens: Vec<&str> = (0..len).map(|_| words[next() % words.len()]).collect();
            let d = Doc::new("", &tokens.join(" "), None, "x");
            let distance = 1 + (next() % 8) as u32;
            // Single words, and a two-word run ("alpha beta") on either side.
            let (word, phrase) = (("beta", 1), ("alpha", 2));
            for (q, left, right) in [
                (format!("alpha NEAR/{distance} beta"), ("alpha", 1), word),
                (format!("\"alpha beta\" NEAR/{distance} gamma"), phrase, ("gamma", 1)),
                (format!("gamma NEAR/{distance} \"alpha beta\""), ("gamma", 1), phrase),
            ] {
                // The runs of a side: (start, end).
                let runs = |(first, run): (&str, usize)| -> Vec<(usize, usize)> {
                    (0..tokens.len())
                        .filter(|i| tokens[*i] == first && (run == 1 || tokens.get(i + 1) == Some(&"beta")))
                        .map(|i| (i, i + run - 1))
                        .collect()
                };
                let (lefts, rights) = (runs(left), runs(right));
                let reach = |a: &(usize, usize), b: &(usize, usize)| {
                    b.0.saturating_sub(a.1).max(a.0.saturating_sub(b.1)) <= distance as usize
                };
                let mut want: Vec<(usize, usize)> = Vec::new();
                want.extend(lefts.iter().filter(|a| rights.iter().any(|b| reach(a, b))));
                want.extend(rights.iter().filter(|b| lefts.iter().any(|a| reach(a, b))));
                want.sort_unstable();
                want.dedup();
                let query = Query::parse(&q).unwrap();
                let got: Vec<(usize, usize)> = Matcher::new([&query.expr])
                    .matches(&d)
                    .pop()
                    .map(|(_, hits)| hits.iter().map(|h| (h.start as usize, h.end as usize)).collect())
                    .unwrap_or_default();
                assert_eq!(got, want, "{q} in {tokens:?}");
                checked += usize::from(!want.is_empty());
            }
        }
        assert!(checked > 100, "too few texts match to prove anything: {checked}");
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
    fn every_prefix_a_word_begins_with_is_found() {
        // Prefixes of many lengths that begin alike, so reading a word's beginnings
        // stops early only where no longer prefix goes on.
        let prefixes = ["ker", "kerj", "kerjas", "kerjasama", "sam", "samak", "digi", "digitalis", "ekon", "ekonomi"];
        let queries: Vec<Query> = prefixes.iter().map(|p| Query::parse(&format!("{p}*")).unwrap()).collect();
        let matcher = Matcher::new(queries.iter().map(|q| &q.expr));
        let words = [
            "kerja",
            "kerjasama",
            "kerjasamanya",
            "bekerjasama",
            "dikerjakan",
            "pekerjaan",
            "kerani",
            "ke",
            "samakan",
            "menyamakan",
            "digitalisasi",
            "mendigitalkan",
            "ekonomi",
            "perekonomian",
            "keraton",
            "sama",
            "dig",
        ];
        let mut found = 0;
        for word in words {
            let d = Doc::new("", word, None, "x");
            let got: Vec<usize> = matcher.matches(&d).into_iter().map(|(q, _)| q).collect();
            let want: Vec<usize> = (0..prefixes.len())
                .filter(|q| forms::prefix_forms(prefixes[*q]).iter().any(|f| word.starts_with(f.as_str())))
                .collect();
            assert_eq!(got, want, "{word}");
            found += got.len();
        }
        assert!(found >= 20, "too few words match to prove anything: {found}");
    }

    #[test]
    fn the_presearcher_drops_no_match() {
        // Every query evaluated in full against every document gives what `matches`
        // gives, for queries whose required words occur partly, wholly or not at all.
        let queries: Vec<Query> = [
            "india NEAR/3 brazil",
            "\"kerja sama\" NEAR/5 (digital OR siber*)",
            "(brazil OR india) AND mou",
            "(brazil OR NOT chile) digital",
            "title:digital nota",
            "title:(pemerintah OR brazil) kerja*",
            "kesepaham* NEAR/1 nota",
            "\"nota kesepaham*\" OR brazil",
            "-india lang:id",
            "feed:antara-id (chile OR kerjasama)",
            "cafe AND (lait OR brazil) AND NOT chile",
            "strategis digital brazil",
        ]
        .iter()
        .map(|q| Query::parse(q).unwrap())
        .collect();
        let matcher = Matcher::new(queries.iter().map(|q| &q.expr));
        let docs = [
            doc(),
            Doc::new("Brazil", "India and Brazil sign an MoU on cyber security. Digital nota.", Some("en"), "x"),
            Doc::new("", "Pemerintah Chile kerja sama siber. Nota kesepahaman brazil.", Some("id"), "antara-id"),
            Doc::new("", "", None, "x"),
        ];
        let mut matched = 0;
        for d in &docs {
            let hits = matcher.term_hits(d);
            let all: Vec<usize> =
                (0..queries.len()).filter(|q| eval(&matcher.queries[*q], &hits, d, None).is_some()).collect();
            let found: Vec<usize> = matcher.matches(d).into_iter().map(|(q, _)| q).collect();
            assert_eq!(found, all);
            matched += found.len();
        }
        assert!(matched >= 8, "the queries match too little to prove anything: {matched}");
    }

    #[test]
    fn a_query_waits_for_every_word_it_needs() {
        let q = |s: &str| Query::parse(s).unwrap();
        let (a, b, c) = (q("india NEAR/3 brazil"), q("(brazil OR chile) mou"), q("\"kerja sama\""));
        let m = Matcher::new([&a.expr, &b.expr, &c.expr]);
        // Two sets each: {india} {brazil}; {brazil, chile} {mou}; {kerja, kerjasama}
        // {sama, kerjasama}. Each query is filed under its smallest set only.
        assert_eq!(m.required.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2]);
        let filed: usize = m.term_queries.iter().map(Vec::len).sum();
        assert_eq!(filed, 1 + 1 + 2);
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
