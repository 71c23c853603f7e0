//! The fingerprint of an article's text that near-duplicate and translation checks
//! compare.
//!
//! * **Shingle sketch**: the text's word 3-grams (boilerplate removed, so inserted "read
//!   also" lines and credits do not count), hashed into 64 bins by one-permutation
//!   MinHash. The share of equal bins between two sketches estimates the Jaccard
//!   similarity of their shingle sets; re-titling does not touch it and an inserted line
//!   or a small edit moves it little. A short text leaves bins empty, and those are left
//!   out of the comparison (borrowing values from neighbouring bins, "densification",
//!   inflated the estimate for short texts: measured on tempo-rss teasers).
//! * **Signals**: the words that survive translation — numbers (with their separators
//!   removed, so `3,5` and `3.5` agree), names (capitalised words inside a sentence),
//!   acronyms, month names (as month numbers). Numbers are also kept apart: two stories
//!   from one template (exchange rates, weather) share their wording but not their
//!   numbers.

use std::collections::HashSet;
use std::ops::ControlFlow;

use xxhash_rust::xxh3::xxh3_64;

pub use crate::model::Sketch;
use crate::text;

/// Bins of the shingle sketch.
pub const BINS: usize = 64;
/// Signals kept per article (title first, then text order).
pub const MAX_SIGNALS: usize = 64;

/// Sketches an article from its title and its text without boilerplate (`kept`).
/// `None` when the text has no words.
pub fn sketch(title: &str, kept: &str) -> Option<Sketch> {
    sketch_folded(title, kept, &text::token_string(title), &text::token_string(kept))
}

/// [`sketch`], given the title's and the text's tokens as [`text::token_string`]
/// writes them (an article being cleaned has them at hand: folding is not repeated).
pub fn sketch_folded(title: &str, kept: &str, title_tokens: &str, kept_tokens: &str) -> Option<Sketch> {
    let hashes = folded_shingle_hashes(kept_tokens);
    if hashes.is_empty() {
        return None;
    }
    let (signals, numbers) = folded_signals(title, kept, [title_tokens, kept_tokens]);
    Some(Sketch { bins: one_permutation_minhash(&hashes), shingles: hashes.len() as u32, signals, numbers })
}

/// The hashes of the text's word 3-grams (its words, when it has fewer than three).
pub fn shingle_hashes(kept: &str) -> Vec<u64> {
    let mut words: Vec<u64> = Vec::new();
    text::for_each_token(kept, |t| words.push(xxh3_64(t.as_bytes())));
    shingles(words)
}

/// [`shingle_hashes`] of a text's tokens joined by spaces.
fn folded_shingle_hashes(tokens: &str) -> Vec<u64> {
    shingles(text::split_tokens(tokens).map(|t| xxh3_64(t.as_bytes())).collect())
}

/// The 3-gram hashes of a text's word hashes.
fn shingles(words: Vec<u64>) -> Vec<u64> {
    if words.len() < 3 {
        return words.into_iter().map(mix).collect();
    }
    words.windows(3).map(|w| mix(w[0] ^ mix(w[1] ^ mix(w[2])))).collect()
}

/// A bin no shingle fell into.
pub const EMPTY: u16 = u16::MAX;

/// One permutation hashing: each shingle goes to one bin by its top bits and the bin
/// keeps the least remaining value (its low 16 bits are stored). Bins stay empty for a
/// short text; comparisons count only bins filled on at least one side.
fn one_permutation_minhash(hashes: &[u64]) -> Vec<u16> {
    let mut mins = [u64::MAX; BINS];
    for &h in hashes {
        let bin = (h >> 58) as usize;
        let value = h & ((1 << 58) - 1);
        if value < mins[bin] {
            mins[bin] = value;
        }
    }
    mins.iter().map(|&m| if m == u64::MAX { EMPTY } else { (mix(m) as u16).min(EMPTY - 1) }).collect()
}

/// The estimated Jaccard similarity of two texts' shingle sets: of the bins filled on
/// either side, the share holding the same minimum on both.
pub fn resemblance(a: &[u16], b: &[u16]) -> f64 {
    let (mut equal, mut filled) = (0, 0);
    for (x, y) in a.iter().zip(b) {
        if *x == EMPTY && *y == EMPTY {
            continue;
        }
        filled += 1;
        if x == y {
            equal += 1;
        }
    }
    if filled == 0 { 0.0 } else { equal as f64 / filled as f64 }
}

/// Whether two articles' numbers agree: most of the numbers of the one with fewer
/// appear in the other. Without numbers on either side there is nothing to disagree.
pub fn numbers_agree(a: &[u32], b: &[u32]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.is_empty() {
        return true;
    }
    let shared = small.iter().filter(|n| large.contains(n)).count();
    shared * 2 >= small.len()
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser.
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Keys that an Indonesian word and its English counterpart share.
pub mod cognate {
    /// Names spelt differently in the two languages (Indonesian, English), folded.
    const NAMES: &[(&str, &str)] = &[
        ("tiongkok", "china"),
        ("cina", "china"),
        ("jepang", "japan"),
        ("belanda", "netherlands"),
        ("inggris", "britain"),
        ("jerman", "german"),
        ("prancis", "france"),
        ("perancis", "france"),
        ("mesir", "egypt"),
        ("spanyol", "spain"),
        ("italia", "italy"),
        ("swiss", "switzerland"),
        ("swedia", "sweden"),
        ("norwegia", "norway"),
        ("denmark", "denmark"),
        ("finlandia", "finland"),
        ("polandia", "poland"),
        ("belgia", "belgium"),
        ("yunani", "greece"),
        ("turki", "turkey"),
        ("filipina", "philippines"),
        ("singapura", "singapore"),
        ("kamboja", "cambodia"),
        ("brasil", "brazil"),
        ("meksiko", "mexico"),
        ("eropa", "europe"),
        ("afrika", "africa"),
        ("amerika", "america"),
        ("selandia", "zealand"),
        ("arab", "arabia"),
        ("irak", "iraq"),
        ("yordania", "jordan"),
        ("suriah", "syria"),
        ("serikat", "states"),
        ("ukraina", "ukraine"),
        ("rusia", "russia"),
        ("kanada", "canada"),
        ("moskow", "moscow"),
        ("beijing", "beijing"),
        ("tokyo", "tokyo"),
        ("washington", "washington"),
        // Acronyms of the same bodies.
        ("as", "us"),
        ("ue", "eu"),
        ("pbb", "un"),
        ("who", "who"),
        ("kpk", "kpk"),
    ];

    /// English adjectives of places whose stem is not the place's ("Chinese", "China").
    const ADJECTIVES: &[(&str, &str)] = &[
        ("chinese", "china"),
        ("japanese", "japan"),
        ("french", "france"),
        ("dutch", "netherlands"),
        ("british", "britain"),
        ("english", "britain"),
        ("spanish", "spain"),
        ("swedish", "sweden"),
        ("danish", "denmark"),
        ("finnish", "finland"),
        ("polish", "poland"),
        ("turkish", "turkey"),
        ("greek", "greece"),
        ("filipino", "philippines"),
        ("thai", "thailand"),
        ("lebanese", "lebanon"),
        ("arabian", "arabia"),
        ("saudi", "arabia"),
        ("germany", "german"),
    ];

    /// The key of a name or acronym: its English spelling's skeleton, stemmed so that a
    /// place and its people meet ("Rusia", "Russian"; "Irak", "Iraqi"; "Eropa", "European").
    pub fn name_key(folded: &str) -> String {
        let english = NAMES.iter().chain(ADJECTIVES).find(|(id, _)| *id == folded).map_or(folded, |(_, en)| *en);
        name_stem(skeleton(english))
    }

    /// A name's skeleton without an adjective's "-ese", or else without final vowels,
    /// or else without an adjective's "-ian" or "-an", then final vowels; never shorter
    /// than four letters.
    fn name_stem(mut s: String) -> String {
        let strip_vowels = |s: &mut String| {
            let before = s.len();
            while s.len() > 4 && s.ends_with(['a', 'e', 'i', 'o', 'u']) {
                s.pop();
            }
            s.len() < before
        };
        // The skeleton has dropped the final e of "-ese".
        if s.ends_with("es") && s.len() >= 7 {
            s.truncate(s.len() - 2);
        } else if !strip_vowels(&mut s) {
            if let Some(suffix) =
                ["ians", "ian", "ans", "an"].iter().find(|x| s.ends_with(**x) && s.len() >= x.len() + 4)
            {
                s.truncate(s.len() - suffix.len());
                strip_vowels(&mut s);
            }
        }
        s
    }

    /// Endings of a skeleton that loanwords and their English sources share (-si/-tion,
    /// -tas/-ty, -ik/-ic, -isme/-ism, -al, -if/-ive, -ur/-ure, -or, -gi/-gy, -fi/-phy,
    /// -mi/-my, -ri/-ry, -sis, -en/-ent).
    const LOAN_ENDINGS: &[&str] =
        &["si", "tas", "ik", "is", "ism", "al", "if", "ur", "or", "gi", "fi", "mi", "ri", "en"];

    /// The key of an ordinary word, when it may be a loanword or cognate: its skeleton,
    /// if long enough and ending as loanwords do.
    pub fn word_key(folded: &str) -> Option<String> {
        if folded.len() < 6 || !folded.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let key = skeleton(folded);
        (key.len() >= 6 && LOAN_ENDINGS.iter().any(|e| key.ends_with(e))).then_some(key)
    }

    /// Words the two languages write differently ("banjir", "flood"), each to the key
    /// of its English word: `lexicon.tsv`, which says where it comes from.
    /// Looked up for every word of every article, so with the fast hasher the dedup
    /// index uses too: the map is fixed at start, and no input can add to it.
    static LEXICON: std::sync::LazyLock<foldhash::HashMap<&'static str, &'static str>> =
        std::sync::LazyLock::new(|| {
            let lines = include_str!("lexicon.tsv").lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty());
            let pairs: Vec<(&str, Vec<&str>)> = lines
                .filter_map(|l| l.split_once('\t'))
                .map(|(id, en)| (id.trim(), en.split(',').map(str::trim).collect()))
                .collect();
            // An English word's key is the first English word of the first line with it.
            let mut english: foldhash::HashMap<&str, &str> = Default::default();
            for (_, words) in &pairs {
                for w in words {
                    english.entry(*w).or_insert(words[0]);
                }
            }
            let mut map = english.clone();
            for (id, words) in &pairs {
                map.entry(*id).or_insert(english[words[0]]);
            }
            map
        });

    /// The lexicon's key of a folded word ("banjir", "flood", "floods", "banjirnya").
    pub fn lexicon_key(folded: &str) -> Option<&'static str> {
        let stem = |suffix: &str| folded.strip_suffix(suffix).and_then(|w| LEXICON.get(w));
        LEXICON.get(folded).or_else(|| stem("s")).or_else(|| stem("nya")).copied()
    }

    /// The spelling both languages reduce to: ph→f, ch/ck/c→k, qu→ku, x→ks, y→i, z→s,
    /// v→f before a final e, "ti" before a vowel → "si", doubled letters once; then
    /// -sion→-si, -iti→-itas, -ent→-en, a final e dropped. "technology" and "teknologi",
    /// "innovation" and "inovasi", "university" and "universitas" meet.
    pub fn skeleton(word: &str) -> String {
        let mut s = word.to_string();
        for (from, to) in [("ph", "f"), ("ch", "k"), ("ck", "k"), ("qu", "ku"), ("x", "ks")] {
            if s.contains(from) {
                s = s.replace(from, to);
            }
        }
        if s.contains('c') {
            // A soft c (before e, i, y) is an s in Indonesian: "pacific", "pasifik".
            let b = s.as_bytes();
            s = (0..b.len())
                .map(|i| match b[i] {
                    b'c' if b.get(i + 1).is_some_and(|n| b"eiy".contains(n)) => 's',
                    b'c' => 'k',
                    c => char::from(c),
                })
                .collect();
        }
        for (from, to) in [("y", "i"), ("z", "s")] {
            if s.contains(from) {
                s = s.replace(from, to);
            }
        }
        if s.ends_with("ive") {
            s.replace_range(s.len() - 3.., "if");
        }
        let b: Vec<u8> = s.into_bytes();
        let mut out: Vec<u8> = Vec::with_capacity(b.len());
        for i in 0..b.len() {
            let c = if b[i] == b't' && b.get(i + 1) == Some(&b'i') && b.get(i + 2).is_some_and(|n| b"aeiou".contains(n))
            {
                b's'
            } else {
                b[i]
            };
            if out.last() != Some(&c) {
                out.push(c);
            }
        }
        let mut s = String::from_utf8(out).unwrap_or_default();
        for (suffix, to) in [("sion", "si"), ("iti", "itas"), ("ent", "en")] {
            if s.ends_with(suffix) && s.len() > suffix.len() + 2 {
                s.truncate(s.len() - suffix.len());
                s.push_str(to);
                break;
            }
        }
        if s.len() > 4 && s.ends_with('e') {
            s.pop();
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn loanwords_and_their_sources_meet() {
            for (en, id) in [
                ("technology", "teknologi"),
                ("innovation", "inovasi"),
                ("transformation", "transformasi"),
                ("infrastructure", "infrastruktur"),
                ("university", "universitas"),
                ("national", "nasional"),
                ("economy", "ekonomi"),
                ("electronic", "elektronik"),
                ("digital", "digital"),
                ("organization", "organisasi"),
                ("quality", "kualitas"),
                ("creative", "kreatif"),
                ("strategy", "strategi"),
                ("president", "presiden"),
                ("analysis", "analisis"),
                ("pacific", "pasifik"),
                ("financial", "finansial"),
                ("process", "proses"),
                ("success", "sukses"),
                ("cyber", "siber"),
            ] {
                assert_eq!(skeleton(en), skeleton(id), "{en} / {id}");
            }
            assert_eq!(name_key("tiongkok"), name_key("china"));
            assert_eq!(name_key("as"), name_key("us"));
            for (en, id) in [
                ("russian", "rusia"),
                ("russians", "rusia"),
                ("iraqi", "irak"),
                ("italian", "italia"),
                ("european", "eropa"),
                ("german", "jerman"),
                ("germany", "jerman"),
                ("syrian", "suriah"),
                ("iranian", "iran"),
                ("chinese", "tiongkok"),
                ("vietnamese", "vietnam"),
                ("indonesian", "indonesia"),
                ("african", "afrika"),
            ] {
                assert_eq!(name_key(en), name_key(id), "{en} / {id}");
            }
            assert_ne!(skeleton("government"), skeleton("pemerintah"));
            assert_eq!(word_key("dan"), None);
            for (en, id) in
                [("flood", "banjir"), ("floods", "banjir"), ("government", "pemerintahnya"), ("students", "mahasiswa")]
            {
                assert_eq!(lexicon_key(en), lexicon_key(id), "{en} / {id}");
                assert!(lexicon_key(en).is_some(), "{en}");
            }
            assert_eq!(lexicon_key("dan"), None);
        }
    }
}

/// Whether a signal is a loanword's key rather than a name, number, month or acronym.
pub fn is_word_signal(s: u32) -> bool {
    s & 1 == 1
}

fn signal_hash(s: &str) -> u32 {
    xxh3_64(s.as_bytes()) as u32
}

/// The signals of an article: numbers, names, acronyms, months. A capitalised word
/// opening a sentence counts as a name only when the article also capitalises it
/// inside a sentence ("Indonesia and India …" then "… between Indonesia and …"). A
/// title written in title case gives no names (every word is capitalised there).
pub fn signals(title: &str, kept: &str) -> (Vec<u32>, Vec<u32>) {
    folded_signals(title, kept, [&text::token_string(title), &text::token_string(kept)])
}

/// [`signals`], given the title's and the text's tokens (see [`sketch_folded`]).
/// Stops at [`MAX_SIGNALS`]: a long text's later words are not keyed at all.
fn folded_signals(title: &str, kept: &str, tokens: [&str; 2]) -> (Vec<u32>, Vec<u32>) {
    let mut out = Signals::default();
    each_signal_key(title, kept, tokens, |kind, key, _| {
        match kind {
            SignalKind::Number => out.push(key, true),
            SignalKind::Name => out.push(key, false),
            SignalKind::Word => out.push_word(key),
        }
        if out.signals.len() < MAX_SIGNALS { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
    });
    (out.signals, out.numbers)
}

/// A signal as a key, with the word of the text it came from ("russian" for the key
/// "rusi"; a month as "m3").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalKey {
    pub key: String,
    pub kind: SignalKind,
    pub word: String,
}

/// What a signal stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SignalKind {
    Number,
    /// A name, month or acronym.
    Name,
    /// A loanword or cognate.
    Word,
}

/// The signals of an article as keys, in the order [`signals`] takes them: numbers
/// ("#35"), months ("m1"), acronyms and names, then loanwords, all as their skeletons
/// (`cognate`). What `kabar show` lists as a translation's evidence.
pub fn signal_keys(title: &str, kept: &str) -> Vec<SignalKey> {
    folded_signal_keys(title, kept, [&text::token_string(title), &text::token_string(kept)])
}

fn folded_signal_keys(title: &str, kept: &str, tokens: [&str; 2]) -> Vec<SignalKey> {
    let mut out = Vec::new();
    each_signal_key(title, kept, tokens, |kind, key, word| {
        out.push(SignalKey { key: key.to_string(), kind, word: word.to_string() });
        ControlFlow::Continue(())
    });
    out
}

/// Calls `f` with each signal's kind, key and word, in [`signal_keys`]' order, until
/// `f` breaks.
fn each_signal_key(
    title: &str,
    kept: &str,
    tokens: [&str; 2],
    mut f: impl FnMut(SignalKind, &str, &str) -> ControlFlow<()>,
) {
    let title_case = {
        let words: Vec<&str> = title.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).collect();
        let capitalised = words.iter().filter(|w| w.chars().next().is_some_and(char::is_uppercase)).count();
        words.len() >= 3 && capitalised * 10 >= words.len() * 6
    };
    let mut words = Vec::new();
    scan(title, !title_case, &mut words);
    scan(kept, true, &mut words);
    let inside: HashSet<&str> =
        words.iter().filter(|w| w.kind == Kind::Capitalised && w.inside).map(|w| w.folded.as_str()).collect();
    for w in &words {
        let flow = match w.kind {
            Kind::Number => f(SignalKind::Number, &w.folded, &w.folded),
            Kind::Month | Kind::Acronym => f(SignalKind::Name, &cognate::name_key(&w.folded), &w.folded),
            Kind::Capitalised if w.inside || inside.contains(w.folded.as_str()) => {
                f(SignalKind::Name, &cognate::name_key(&w.folded), &w.folded)
            }
            Kind::Capitalised => ControlFlow::Continue(()),
        };
        if flow.is_break() {
            return;
        }
    }
    // Then the words both languages write alike (loanwords and cognates), in the room
    // the names and numbers leave.
    for t in tokens.iter().flat_map(|part| text::split_tokens(part)) {
        let flow = if let Some(key) = cognate::word_key(t) {
            f(SignalKind::Word, &key, t)
        } else if let Some(key) = cognate::lexicon_key(t) {
            f(SignalKind::Word, &format!("={key}"), t)
        } else {
            ControlFlow::Continue(())
        };
        if flow.is_break() {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Month,
    Acronym,
    Capitalised,
}

/// A word that may be a signal, as found in the text.
struct Word {
    folded: String,
    kind: Kind,
    /// Inside a sentence (not its first word), in a part of the text where names count.
    inside: bool,
}

#[derive(Default)]
struct Signals {
    signals: Vec<u32>,
    numbers: Vec<u32>,
}

impl Signals {
    fn push(&mut self, word: &str, is_number: bool) {
        self.push_hash(signal_hash(word) & !1, is_number);
    }

    /// A loanword's key: its hash marked odd, so a comparison can tell names and numbers
    /// (even) from words ([`is_word_signal`]).
    fn push_word(&mut self, key: &str) {
        self.push_hash(signal_hash(key) | 1, false);
    }

    fn push_hash(&mut self, h: u32, is_number: bool) {
        if self.signals.len() < MAX_SIGNALS && !self.signals.contains(&h) {
            self.signals.push(h);
            if is_number {
                self.numbers.push(h);
            }
        }
    }
}

/// Finds the numbers, months, acronyms and capitalised words of `s`, in order.
fn scan(s: &str, names: bool, out: &mut Vec<Word>) {
    let mut chars = s.char_indices().peekable();
    let mut sentence_start = true;
    while let Some(&(start, c)) = chars.peek() {
        if c.is_ascii_digit() {
            // A number: digits, with '.' or ',' between digits as separators.
            let mut digits = String::new();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_ascii_digit() {
                    digits.push(c);
                } else if !(matches!(c, '.' | ',') && s[i + 1..].starts_with(|n: char| n.is_ascii_digit())) {
                    break;
                }
                chars.next();
            }
            let trimmed = digits.trim_start_matches('0');
            let folded = format!("#{}", if trimmed.is_empty() { "0" } else { trimmed });
            out.push(Word { folded, kind: Kind::Number, inside: false });
            sentence_start = false;
            continue;
        }
        if c.is_alphabetic() {
            // Letters only: "Rp3.5" is the word "Rp" and the number 3.5.
            let mut end = s.len();
            while let Some(&(i, c)) = chars.peek() {
                if !(c.is_alphabetic() || is_mark(c)) {
                    end = i;
                    break;
                }
                chars.next();
            }
            if let Some(w) = classify(&s[start..end], names && !sentence_start) {
                out.push(w);
            }
            sentence_start = false;
            continue;
        }
        if matches!(c, '.' | '!' | '?' | '\n' | '“' | '"' | ':' | '•') {
            sentence_start = true;
        }
        chars.next();
    }
}

fn classify(word: &str, inside: bool) -> Option<Word> {
    let upper = word.chars().filter(|c| c.is_uppercase()).count();
    if !word.chars().next().is_some_and(char::is_uppercase) && upper < 2 {
        return None;
    }
    let folded = text::fold(word);
    if let Some(m) = month_number(&folded) {
        return Some(Word { folded: format!("m{m}"), kind: Kind::Month, inside });
    }
    if upper >= 2 && word.chars().count() >= 2 {
        // An acronym: MoU, AI, IoT, ASEAN.
        return Some(Word { folded, kind: Kind::Acronym, inside });
    }
    (word.chars().count() >= 3 && !is_day(&folded) && !is_title_word(&folded)).then_some(Word {
        folded,
        kind: Kind::Capitalised,
        inside,
    })
}

/// Capitalised words of titles and institutions ("Minister", "Kementerian", "Day"):
/// they are translated, not kept, so they cannot tie two languages' copies together,
/// and they tie unrelated stories of one language together.
fn is_title_word(w: &str) -> bool {
    const WORDS: &[&str] = &[
        // English
        "president",
        "vice",
        "minister",
        "ministry",
        "prime",
        "governor",
        "head",
        "chief",
        "chairman",
        "director",
        "general",
        "secretary",
        "deputy",
        "agency",
        "board",
        "council",
        "committee",
        "commission",
        "department",
        "office",
        "national",
        "regional",
        "central",
        "state",
        "republic",
        "kingdom",
        "city",
        "regency",
        "province",
        "district",
        "village",
        "day",
        "memorandum",
        "understanding",
        "agreement",
        "joint",
        "working",
        "group",
        "affairs",
        "development",
        "affairs",
        "house",
        "representatives",
        "parliament",
        "court",
        "supreme",
        "police",
        "military",
        "army",
        "navy",
        "forces",
        "university",
        "institute",
        "association",
        "company",
        "corporation",
        "holding",
        "bank",
        "meeting",
        "conference",
        "summit",
        "forum",
        "east",
        "west",
        "north",
        "south",
        "new",
        "read",
        "also",
        "related",
        "news",
        "reporting",
        "editing",
        "editor",
        "translator",
        "copyright",
        // Indonesian
        "presiden",
        "wakil",
        "menteri",
        "kementerian",
        "gubernur",
        "kepala",
        "ketua",
        "direktur",
        "jenderal",
        "sekretaris",
        "badan",
        "dewan",
        "komisi",
        "dinas",
        "kantor",
        "nasional",
        "daerah",
        "pusat",
        "negara",
        "republik",
        "kerajaan",
        "kota",
        "kabupaten",
        "provinsi",
        "kecamatan",
        "kelurahan",
        "desa",
        "hari",
        "nota",
        "kesepahaman",
        "perjanjian",
        "bersama",
        "kelompok",
        "kerja",
        "perwakilan",
        "rakyat",
        "majelis",
        "mahkamah",
        "agung",
        "pengadilan",
        "kepolisian",
        "polisi",
        "tentara",
        "angkatan",
        "universitas",
        "institut",
        "asosiasi",
        "perusahaan",
        "perseroan",
        "rapat",
        "konferensi",
        "pertemuan",
        "timur",
        "barat",
        "utara",
        "selatan",
        "tengah",
        "baca",
        "juga",
        "berita",
        "terkait",
        "pewarta",
        "penerjemah",
        "hak",
        "cipta",
    ];
    WORDS.contains(&w)
}

fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

fn month_number(w: &str) -> Option<u8> {
    const MONTHS: [&[&str]; 12] = [
        &["january", "januari", "jan"],
        &["february", "februari", "pebruari", "feb"],
        &["march", "maret", "mar"],
        &["april", "apr"],
        &["may", "mei"],
        &["june", "juni", "jun"],
        &["july", "juli", "jul"],
        &["august", "agustus", "aug", "agu"],
        &["september", "sept", "sep"],
        &["october", "oktober", "oct", "okt"],
        &["november", "nopember", "nov"],
        &["december", "desember", "dec", "des"],
    ];
    MONTHS.iter().position(|names| names.contains(&w)).map(|i| i as u8 + 1)
}

fn is_day(w: &str) -> bool {
    matches!(
        w,
        "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
            | "senin"
            | "selasa"
            | "rabu"
            | "kamis"
            | "jumat"
            | "sabtu"
            | "minggu"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "Kerjasama antara kedua negara tersebut diformalisasikan melalui penandatanganan \
        Nota Kesepahaman (MoU) antara Kementerian Komunikasi dan Informatika Indonesia dan India di New Delhi \
        pada hari Sabtu. Menteri Meutya Hafid menyebut nilai investasi Rp 3,5 triliun pada 26 Januari 2025.";
    const EN: &str = "The cooperation between the two countries was formalised through the signing of a \
        Memorandum of Understanding (MoU) between Indonesia and India in New Delhi on Saturday. \
        Minister Meutya Hafid put the investment at Rp3.5 trillion on January 26, 2025.";

    /// How many of `words` (names as folded, numbers as "#N", months as "mN") are among
    /// the signals.
    fn names(hashes: &[u32], words: &[&str]) -> usize {
        let key = |w: &str| {
            if w.starts_with('#') || w.starts_with('m') && w.len() <= 3 { w.to_string() } else { cognate::name_key(w) }
        };
        words.iter().filter(|w| hashes.contains(&(signal_hash(&key(w)) & !1))).count()
    }

    #[test]
    fn signals_survive_translation() {
        let (id, id_numbers) = signals("", ID);
        let (en, en_numbers) = signals("", EN);
        let shared = ["mou", "indonesia", "india", "delhi", "meutya", "hafid", "#35", "#26", "#2025", "m1"];
        assert_eq!(names(&id, &shared), shared.len(), "Indonesian");
        assert_eq!(names(&en, &shared), shared.len(), "English");
        // Sentence-initial words and days are not names.
        assert_eq!(names(&id, &["kerjasama", "sabtu"]), 0);
        assert_eq!(names(&en, &["the", "saturday"]), 0);
        assert!(numbers_agree(&id_numbers, &en_numbers));
    }

    #[test]
    fn the_scan_reads_numbers_names_and_marks_to_the_last_character() {
        let text = "Pak Joko bertemu PM Anwar di Kuala Lumpur pada 12 Januari 2025, senilai Rp3.500,75 miliar. \
                    Menurut Anwar: 007 kali. Ke Cafe\u{301}";
        let words: Vec<(SignalKind, String)> = signal_keys("", text)
            .into_iter()
            .filter(|k| k.kind != SignalKind::Word)
            .map(|k| (k.kind, k.word))
            .collect();
        let expected = [
            "Name joko",
            "Name pm",
            "Name anwar",
            "Name kuala",
            "Name lumpur",
            "Number #12",
            "Name m1",
            "Number #2025",
            "Number #350075",
            "Name anwar",
            "Number #7",
            "Name cafe",
        ];
        assert_eq!(words.iter().map(|(k, w)| format!("{k:?} {w}")).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn title_case_titles_give_no_names() {
        let (s, _) = signals("Indonesia Dan India Memperkuat Kerja Sama Digital", "");
        assert!(s.iter().all(|h| is_word_signal(*h)), "{s:?}");
        let (s, _) = signals("Indonesia dan India memperkuat kerja sama digital", "");
        assert_eq!(names(&s, &["india"]), 1);
    }

    #[test]
    fn template_stories_disagree_on_numbers() {
        let (_, a) = signals("", "The rupiah closed at 16,245 per dollar on Monday, down 0.2 percent.");
        let (_, b) = signals("", "The rupiah closed at 16,310 per dollar on Tuesday, down 0.4 percent.");
        assert!(!numbers_agree(&a, &b));
        assert!(numbers_agree(&a, &a));
        assert!(numbers_agree(&[], &b));
    }

    #[test]
    fn resemblance_survives_inserted_lines_and_small_edits() {
        let base = "Pemerintah Indonesia dan India telah membentuk kerja sama strategis di sektor digital untuk \
            mempercepat transformasi digital yang berkelanjutan dan mendorong inovasi yang bermanfaat bagi \
            masyarakat mereka. Kerjasama antara kedua negara tersebut diformalisasikan melalui penandatanganan \
            Nota Kesepahaman antara kedua kementerian di New Delhi pada hari Sabtu. Kelompok Kerja Bersama \
            akan berkumpul secara teratur untuk memastikan kerjasama tetap berjalan lancar dan mencapai tujuannya.";
        let edited = base.replace("pada hari Sabtu", "pada Sabtu (25/1)").replace("mereka", "kedua negara");
        let other = "Harga cabai rawit di pasar induk naik dua kali lipat pekan ini menjelang Lebaran, \
            menurut pedagang yang ditemui pada Senin pagi di Jakarta Timur.";
        let a = sketch("t", base).unwrap();
        let b = sketch("another title", &edited).unwrap();
        let c = sketch("t", other).unwrap();
        assert!(resemblance(&a.bins, &b.bins) > 0.6, "{}", resemblance(&a.bins, &b.bins));
        assert!(resemblance(&a.bins, &c.bins) < 0.1, "{}", resemblance(&a.bins, &c.bins));
        assert_eq!(resemblance(&a.bins, &a.bins), 1.0);
    }
}
