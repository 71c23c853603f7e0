//! The recent articles a new one is compared with, kept in memory.
//!
//! Every article of the last `window` is here with its [`Sketch`]. A new article's
//! candidates come from an inverted index of its signals (numbers, names, acronyms),
//! weighted by how rare each is in the window, so checking an article costs the same
//! however large the archive grows: it never touches more than the postings of its own
//! rare signals, and never scans. Each candidate is then judged on its full sketch:
//!
//! * same language: `near` when the estimated resemblance reaches `near`, or when the
//!   shorter text (a teaser) is mostly the opening of the longer one — checked exactly
//!   on the shingles, which the caller loads for a few candidates at most;
//! * different languages, published within `translation_window`: `translation` when
//!   the rarity-weighted share of signals they have in common reaches `translation`;
//! * always: their numbers must agree, so template stories stay apart.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};

use super::Reason;
use super::sketch::{BINS, EMPTY, MAX_SIGNALS, Sketch, numbers_agree, resemblance, shingle_hashes};

/// The thresholds and the window, as configured in `[dedup]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// How far back (seconds) a new article is compared.
    pub window: i64,
    /// How far apart (seconds) two languages' copies of a story may be.
    pub translation_window: i64,
    /// Least estimated resemblance (Jaccard of word 3-grams) for `near`.
    pub near: f64,
    /// Least share of a shorter text's 3-grams found in the longer one for a teaser.
    pub containment: f64,
    /// Least rarity-weighted share of common signals for `translation`.
    pub translation: f64,
    /// A short line found in this many of a site's articles becomes boilerplate for
    /// that site (0: learn nothing).
    pub learn_boilerplate: u32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            window: 7 * 86_400,
            translation_window: 2 * 86_400,
            near: 0.5,
            containment: 0.7,
            translation: 0.5,
            learn_boilerplate: 4,
        }
    }
}

/// Signals found in more articles than this are too common to find candidates by.
const MAX_POSTINGS: usize = 500;
/// Candidates judged per new article.
const MAX_CANDIDATES: usize = 24;
/// Exact containment checks per new article (each loads one stored text).
const MAX_CONTAINMENT_CHECKS: usize = 3;
/// Signals two languages' copies must share at least (a teaser with a handful of
/// signals cannot be told from another story about the same people).
const MIN_SHARED_SIGNALS: usize = 5;
/// Loanwords shared, and their rarity-weighted share, for a translation whose names and
/// numbers agree less than `translation`; and the share of that the names must still reach.
const MIN_SHARED_WORDS: usize = 4;
const WORDS_AGREE: f64 = 0.6;
const NAMES_WITH_WORDS: f64 = 0.8;
/// A shorter text at most this share of the longer one's length may be its teaser.
const TEASER_RATIO: f64 = 0.6;
/// Articles of a language the window must hold before the signals none of them carry
/// are left out of a translation's comparison (`Index::crossing_similarity`).
const MIN_LANGUAGE_ARTICLES: u32 = 30;
/// Other articles of its own language that must carry a signal, and none of the other
/// language's, for it to count as bound to its language (`Index::bound`).
const BOUND_ARTICLES: u32 = 1;

/// An article of the window, compact: the window holds every article of the last
/// `window` (a week of 10,000 feeds is 50,000 or more), so each byte here counts.
struct Item {
    id: i64,
    story: i64,
    time: i64,
    /// Index into `Index::languages`, or `NO_LANGUAGE`.
    language: u16,
    shingles: u32,
    bins: [u16; BINS],
    signals: Box<[u32]>,
    /// Which of `signals` are numbers (a signal set holds at most 64: `MAX_SIGNALS`).
    numbers: u64,
}

const NO_LANGUAGE: u16 = u16::MAX;
const _: () = assert!(MAX_SIGNALS <= 64, "numbers are a 64-bit mask over the signals");

impl Item {
    /// The numbers among the signals, into `buf`.
    fn numbers<'b>(&self, buf: &'b mut [u32; MAX_SIGNALS]) -> &'b [u32] {
        let mut n = 0;
        for (i, s) in self.signals.iter().enumerate() {
            if self.numbers & (1 << i) != 0 {
                buf[n] = *s;
                n += 1;
            }
        }
        &buf[..n]
    }
}

/// An earlier article the new one copies.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The story's first copy.
    pub story: i64,
    /// The article that matched.
    pub article: i64,
    pub reason: Reason,
    pub similarity: f64,
}

pub struct Index {
    params: Params,
    items: VecDeque<Item>,
    /// Sequence number of `items[0]`.
    first: u32,
    /// Signal → the sequence numbers of the window's articles that carry it. Keys are
    /// hashes already, so the fast (not DoS-resistant) hasher is enough.
    postings: foldhash::HashMap<u32, VecDeque<u32>>,
    /// The languages seen, so an item holds a number instead of a string.
    languages: Vec<String>,
    /// The window's articles per language (by index into `languages`), and per signal
    /// and language: a signal no article of a language carries cannot tie a copy in
    /// that language to its original (a word that is translated, not kept).
    per_language: Vec<u32>,
    signal_languages: foldhash::HashMap<(u32, u16), u32>,
    /// `candidates`' accumulator, kept between calls: a score per window position
    /// (all zero between calls) and the positions scored. An article's signals reach
    /// tens of thousands of postings; adding into an array costs a fraction of a
    /// hash map's upsert, and the writer thread, which runs this, is the pipeline's
    /// one serial stage.
    scratch: RefCell<(Vec<f64>, Vec<u32>)>,
}

impl Index {
    pub fn new(params: Params) -> Index {
        Index {
            params,
            items: VecDeque::new(),
            first: 0,
            postings: Default::default(),
            languages: Vec::new(),
            per_language: Vec::new(),
            signal_languages: Default::default(),
            scratch: RefCell::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Adds an article (in order of `time`).
    pub fn insert(&mut self, id: i64, story: i64, time: i64, language: Option<String>, sketch: Sketch) {
        let seq = self.first.wrapping_add(self.items.len() as u32);
        for s in &sketch.signals {
            self.postings.entry(*s).or_default().push_back(seq);
        }
        let language = match language {
            None => NO_LANGUAGE,
            Some(l) => match self.languages.iter().position(|k| *k == l) {
                Some(i) => i as u16,
                None if self.languages.len() < NO_LANGUAGE as usize => {
                    self.languages.push(l);
                    (self.languages.len() - 1) as u16
                }
                // More languages than any feed set has: the rest compare as unknown.
                None => NO_LANGUAGE,
            },
        };
        let mut bins = [EMPTY; BINS];
        for (b, v) in bins.iter_mut().zip(&sketch.bins) {
            *b = *v;
        }
        let signals: Box<[u32]> = sketch.signals.into_iter().take(MAX_SIGNALS).collect();
        if language != NO_LANGUAGE {
            let l = usize::from(language);
            if self.per_language.len() <= l {
                self.per_language.resize(l + 1, 0);
            }
            self.per_language[l] += 1;
            for s in &signals {
                *self.signal_languages.entry((*s, language)).or_default() += 1;
            }
        }
        let numbers =
            signals.iter().enumerate().filter(|(_, s)| sketch.numbers.contains(s)).fold(0, |m, (i, _)| m | 1 << i);
        self.items.push_back(Item { id, story, time, language, shingles: sketch.shingles, bins, signals, numbers });
    }

    /// Drops the articles older than the window.
    /// Story `from` is now part of story `into`: its articles in the window say so.
    pub fn merge_story(&mut self, from: i64, into: i64) {
        for item in self.items.iter_mut().filter(|i| i.story == from) {
            item.story = into;
        }
    }

    pub fn evict(&mut self, now: i64) {
        while self.items.front().is_some_and(|i| i.time < now - self.params.window) {
            let item = self.items.pop_front().expect("checked");
            self.unpost(&item, self.first, true);
            self.first = self.first.wrapping_add(1);
        }
    }

    /// How many articles are in the index: restore with [`Index::rollback`].
    pub fn mark(&self) -> usize {
        self.items.len()
    }

    /// Removes the articles added since `mark` (their transaction did not commit).
    pub fn rollback(&mut self, mark: usize) {
        while self.items.len() > mark {
            let item = self.items.pop_back().expect("checked");
            let seq = self.first.wrapping_add(self.items.len() as u32);
            self.unpost(&item, seq, false);
        }
    }

    fn unpost(&mut self, item: &Item, seq: u32, front: bool) {
        if item.language != NO_LANGUAGE {
            self.per_language[usize::from(item.language)] -= 1;
            for s in &item.signals {
                if let Some(n) = self.signal_languages.get_mut(&(*s, item.language)) {
                    *n -= 1;
                    if *n == 0 {
                        self.signal_languages.remove(&(*s, item.language));
                    }
                }
            }
        }
        for s in &item.signals {
            if let Some(list) = self.postings.get_mut(s) {
                let end = if front { list.front() } else { list.back() };
                if end == Some(&seq) {
                    if front {
                        list.pop_front();
                    } else {
                        list.pop_back();
                    }
                }
                if list.is_empty() {
                    self.postings.remove(s);
                }
            }
        }
    }

    fn idf(&self, signal: u32) -> f64 {
        let df = self.postings.get(&signal).map_or(0, VecDeque::len);
        ((self.items.len() as f64 + 1.0) / (df as f64 + 1.0)).ln().max(0.0) + 0.1
    }

    /// The index into `languages` of `language`, if the window has seen it.
    fn language_index(&self, language: Option<&str>) -> Option<u16> {
        language.and_then(|l| self.languages.iter().position(|k| k == l)).map(|i| i as u16)
    }

    /// Whether signal `s` of an article in `from` is bound to that language, as far as
    /// the window can tell: at least `BOUND_ARTICLES` of the window's articles in `from`
    /// carry it (besides the article itself, when `in_window`) and none in `into`, of
    /// which the window holds at least `MIN_LANGUAGE_ARTICLES`. "Pilkada" and "Tarawih" are
    /// translated, not kept: an English copy never has them. A rare name, seen in one
    /// language only so far, is not bound.
    fn bound(&self, s: u32, from: Option<u16>, into: u16, in_window: bool) -> bool {
        let count = |l: u16| self.signal_languages.get(&(s, l)).copied().unwrap_or(0);
        from.is_some_and(|from| {
            self.per_language.get(usize::from(into)).is_some_and(|n| *n >= MIN_LANGUAGE_ARTICLES)
                && count(into) == 0
                && count(from).saturating_sub(u32::from(in_window)) >= BOUND_ARTICLES
        })
    }

    /// How much a new article's signals (`a`, in `a_language`) and a window article's in
    /// another language (`b`) agree, over the signals `keep` accepts: the rarity-weighted
    /// share of the smaller set found in the other (copies in two languages drop and add
    /// different words, so the smaller side is the fair measure), and how many they
    /// share. The signals bound to one side's language (`bound`) are left out: they must
    /// not lower the share the names reach.
    fn crossing_similarity(
        &self,
        a: &[u32],
        a_language: Option<u16>,
        b: &[u32],
        b_language: u16,
        keep: impl Fn(u32) -> bool,
    ) -> (f64, usize) {
        let counts = |v: &[u32], other: &[u32], from: Option<u16>, into: Option<u16>, in_window: bool| {
            v.iter()
                .filter(|s| keep(**s))
                .filter(|s| other.contains(s) || into.is_none_or(|into| !self.bound(**s, from, into, in_window)))
                .map(|s| self.idf(*s))
                .sum::<f64>()
        };
        let shared: Vec<u32> = a.iter().filter(|s| keep(**s) && b.contains(s)).copied().collect();
        let smaller =
            counts(a, b, a_language, Some(b_language), false).min(counts(b, a, Some(b_language), a_language, true));
        let sim = if smaller == 0.0 { 0.0 } else { counts(&shared, &[], None, None, false) / smaller };
        (sim, shared.len())
    }

    /// Earlier articles sharing rare signals with `sketch`, most shared weight first.
    /// Loanword signals (`sketch::is_word_signal`) count only towards articles in another
    /// language than `language`: they find translations, and must not change which
    /// same-language articles are compared.
    fn candidates(&self, sketch: &Sketch, language: Option<&str>) -> Vec<(usize, f64)> {
        let own = self.language_index(language);
        let mut scratch = self.scratch.borrow_mut();
        let (scores, touched) = &mut *scratch;
        scores.resize(self.items.len(), 0.0);
        for s in &sketch.signals {
            let Some(list) = self.postings.get(s) else { continue };
            if list.len() > MAX_POSTINGS {
                continue;
            }
            let w = self.idf(*s);
            let word = super::sketch::is_word_signal(*s);
            for seq in list {
                let idx = seq.wrapping_sub(self.first) as usize;
                if word && (own.is_none() || own == Some(self.items[idx].language)) {
                    continue;
                }
                if scores[idx] == 0.0 {
                    touched.push(idx as u32);
                }
                scores[idx] += w;
            }
        }
        let mut ranked: Vec<(usize, f64)> =
            touched.drain(..).map(|idx| (idx as usize, std::mem::take(&mut scores[idx as usize]))).collect();
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0));
        if ranked.len() > MAX_CANDIDATES {
            ranked.select_nth_unstable_by(MAX_CANDIDATES, order);
            ranked.truncate(MAX_CANDIDATES);
        }
        ranked.sort_by(order);
        ranked
    }

    /// The earlier article that `sketch` (an article in `language`, first seen at
    /// `time`, with the text `text`, its boilerplate removed) repeats, if any. `load`
    /// gives the shingles of a stored article, for the exact teaser check.
    pub fn find(
        &self,
        sketch: &Sketch,
        text: &str,
        language: Option<&str>,
        time: i64,
        load: impl FnMut(i64) -> Option<Vec<u64>>,
    ) -> Option<Match> {
        self.find_outside(sketch, text, language, time, None, load)
    }

    /// [`Index::find`], ignoring the articles of story `outside` (an article whose text
    /// changed is compared with every story but its own).
    pub fn find_outside(
        &self,
        sketch: &Sketch,
        text: &str,
        language: Option<&str>,
        time: i64,
        outside: Option<i64>,
        mut load: impl FnMut(i64) -> Option<Vec<u64>>,
    ) -> Option<Match> {
        let p = &self.params;
        let mut best: Option<Match> = None;
        let mut checks = 0;
        // The text's own shingles, computed for the first teaser check (most articles have none).
        let mut own_shingles: Option<Vec<u64>> = None;
        let own = self.language_index(language);
        for (idx, _) in self.candidates(sketch, language) {
            let c = &self.items[idx];
            if outside == Some(c.story) {
                continue;
            }
            if !numbers_agree(&sketch.numbers, c.numbers(&mut [0; MAX_SIGNALS])) {
                continue;
            }
            let same_language = match (language, self.languages.get(usize::from(c.language))) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            let found = if same_language {
                let r = resemblance(&sketch.bins, &c.bins);
                let (short, long) = (sketch.shingles.min(c.shingles), sketch.shingles.max(c.shingles));
                if r >= p.near {
                    Some((Reason::Near, r))
                } else if (short as f64) <= TEASER_RATIO * long as f64 && checks < MAX_CONTAINMENT_CHECKS {
                    checks += 1;
                    load(c.id)
                        .map(|other| {
                            let shingles = own_shingles.get_or_insert_with(|| shingle_hashes(text));
                            let (small, large) = if shingles.len() <= other.len() {
                                (&shingles[..], &other[..])
                            } else {
                                (&other[..], &shingles[..])
                            };
                            (Reason::Near, lead_containment(small, large))
                        })
                        .filter(|(_, c)| *c >= p.containment)
                } else {
                    None
                }
            } else if (time - c.time).abs() <= p.translation_window {
                // Names, numbers, months and acronyms agree; or, with fewer of them in
                // common, the loanwords both copies write alike agree on their own (another
                // story about the same people shares the names, not the words).
                let word = super::sketch::is_word_signal;
                let (names, shared_names) =
                    self.crossing_similarity(&sketch.signals, own, &c.signals, c.language, |s| !word(s));
                let (words, shared_words) =
                    self.crossing_similarity(&sketch.signals, own, &c.signals, c.language, word);
                if names >= p.translation && shared_names >= MIN_SHARED_SIGNALS {
                    Some((Reason::Translation, names))
                } else {
                    (words >= WORDS_AGREE
                        && shared_words >= MIN_SHARED_WORDS
                        && names >= p.translation * NAMES_WITH_WORDS)
                        .then_some((Reason::Translation, (names + words) / 2.0))
                }
            } else {
                None
            };
            if let Some((reason, similarity)) = found {
                let better = best.as_ref().is_none_or(|b| {
                    (reason == Reason::Near && b.reason != Reason::Near)
                        || (reason == b.reason && similarity > b.similarity)
                });
                if better {
                    best = Some(Match { story: c.story, article: c.id, reason, similarity });
                }
            }
        }
        best
    }
}

/// The share of `small`'s shingles found at the start of `large` (within its first
/// three times as many shingles, at least 60): a teaser is the opening of its article,
/// while another story quoting a sentence of it quotes it anywhere.
pub fn lead_containment(small: &[u64], large: &[u64]) -> f64 {
    if small.is_empty() {
        return 0.0;
    }
    let lead_len = (small.len() * 3).max(60).min(large.len());
    let lead: HashSet<u64> = large[..lead_len].iter().copied().collect();
    let small: HashSet<u64> = small.iter().copied().collect();
    small.iter().filter(|s| lead.contains(s)).count() as f64 / small.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::dedup::sketch::sketch;
    use std::collections::HashMap;

    const STORY: &str = "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital \
        untuk mempercepat transformasi digital. Kerjasama itu diformalisasikan melalui Nota Kesepahaman (MoU) \
        antara Kementerian Komunikasi dan Digital dan Kementerian Elektronik India di New Delhi pada hari Sabtu. \
        Menteri Meutya Hafid menekankan bahwa kemitraan strategis tersebut penting bagi masyarakat.";

    fn index() -> Index {
        Index::new(Params::default())
    }

    fn add(ix: &mut Index, id: i64, time: i64, lang: &str, text: &str) {
        ix.insert(id, id, time, Some(lang.into()), sketch("", text).unwrap());
    }

    fn find(ix: &Index, lang: &str, text: &str, stored: &HashMap<i64, String>) -> Option<Match> {
        let s = sketch("", text).unwrap();
        ix.find(&s, text, Some(lang), 1000, |id| stored.get(&id).map(|t| shingle_hashes(t)))
    }

    #[test]
    fn a_copy_with_edits_is_near_and_a_teaser_is_contained() {
        let mut ix = index();
        add(&mut ix, 1, 0, "id", STORY);
        let stored = HashMap::from([(1, STORY.to_string())]);
        let edited = STORY.replace("pada hari Sabtu", "pada Sabtu lalu");
        let m = find(&ix, "id", &edited, &stored).unwrap();
        assert_eq!((m.story, m.reason), (1, Reason::Near));
        let teaser = "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital \
            untuk mempercepat transformasi digital.";
        let m = find(&ix, "id", teaser, &stored).unwrap();
        assert_eq!((m.story, m.reason), (1, Reason::Near));
        assert!(m.similarity >= 0.9, "{m:?}");
    }

    #[test]
    fn unrelated_and_template_stories_are_not_matched() {
        let mut ix = index();
        let day1 = "Nilai tukar rupiah ditutup melemah 45 poin ke level Rp 16.245 per dolar AS pada perdagangan \
            Senin sore, menurut data Bank Indonesia yang dirilis di Jakarta.";
        add(&mut ix, 1, 0, "id", day1);
        add(&mut ix, 2, 0, "id", STORY);
        let day2 = day1.replace("45 poin", "60 poin").replace("16.245", "16.310").replace("Senin", "Selasa");
        assert_eq!(find(&ix, "id", &day2, &HashMap::new()), None);
        let other = "Harga cabai rawit di Pasar Induk Kramat Jati naik dua kali lipat pekan ini menjelang \
            Lebaran, kata pedagang kepada wartawan.";
        assert_eq!(find(&ix, "id", other, &HashMap::new()), None);
    }

    #[test]
    fn translations_share_their_rare_signals() {
        let mut ix = index();
        add(&mut ix, 1, 0, "id", STORY);
        // Unrelated articles, so the window knows what is common.
        for i in 0..20 {
            add(&mut ix, 10 + i, 0, "id", &format!("Berita lain nomor {i} tentang Jakarta dan Indonesia hari ini."));
        }
        let english = "Indonesia and India have formed a strategic partnership in the digital sector. The \
            cooperation was formalised through a Memorandum of Understanding (MoU) between the ministries in \
            New Delhi on Saturday. Minister Meutya Hafid stressed that the partnership matters.";
        let m = find(&ix, "en", english, &HashMap::new()).unwrap();
        assert_eq!((m.story, m.reason), (1, Reason::Translation));
        // Too far apart in time for a translation.
        let s = sketch("", english).unwrap();
        assert_eq!(ix.find(&s, "", Some("en"), 10 * 86_400, |_| None), None);
    }

    /// Capitalised words one language writes and the other translates ("Ronda",
    /// "Pilkada"; "Borough", "Caucus") lower the share of names a translation reaches,
    /// until the window holds enough of both languages to see that the other's articles
    /// never have them.
    #[test]
    fn signals_bound_to_one_language_leave_the_translation_check() {
        // Words of neither the name table nor the lexicon.
        const ID: [&str; 8] = ["Lebaran", "Pemudik", "Mudik", "Satpol", "Ronda", "Tarawih", "Posyandu", "Pilkada"];
        const EN: [&str; 8] =
            ["Homecoming", "Travellers", "Borough", "Constable", "Township", "Parish", "Caucus", "Primaries"];
        let names = "Hafid, Prabowo dan Modi bertemu di Delhi bersama Sitharaman dan Jaishankar";
        let story = format!("Kata {names}. Ikut {}.", ID.join(" dan "));
        let english = format!("Said {}. Also {}.", names.replace(" dan ", " and "), EN.join(" and "));
        let linked = |fillers: usize| {
            let mut ix = index();
            for i in 0..fillers {
                // Each word once, in the first fillers: as rare as the names.
                let (id, en) = (ID.get(i).unwrap_or(&"tenang"), EN.get(i).unwrap_or(&"calm"));
                add(&mut ix, 100 + i as i64, 0, "id", &format!("Kata orang di Surabaya nomor {i}, {id} ramai."));
                add(&mut ix, 200 + i as i64, 0, "en", &format!("People in Surabaya said on day {i}, {en} busy."));
            }
            add(&mut ix, 1, 0, "id", &story);
            find(&ix, "en", &english, &HashMap::new()).filter(|m| m.story == 1)
        };
        assert_eq!(linked(16), None, "too few articles to tell bound words from rare names");
        let m = linked(40).expect("linked once the window knows both languages");
        assert_eq!(m.reason, Reason::Translation);
    }

    #[test]
    fn eviction_and_rollback_keep_postings_consistent() {
        let mut ix = index();
        add(&mut ix, 1, 0, "id", STORY);
        add(&mut ix, 2, 100, "id", "Menteri Meutya Hafid berbicara di Jakarta.");
        let mark = ix.mark();
        add(&mut ix, 3, 200, "id", STORY);
        ix.rollback(mark);
        assert_eq!(ix.len(), 2);
        ix.evict(7 * 86_400 + 50);
        assert_eq!(ix.len(), 1);
        let m = find(&ix, "id", STORY, &HashMap::new());
        assert_eq!(m, None, "the evicted story cannot be matched");
        ix.evict(i64::MAX / 2);
        assert!(ix.is_empty());
        assert!(ix.postings.is_empty());
    }
}
