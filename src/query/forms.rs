//! The word forms a query word matches: the word itself, its English inflections and
//! its Indonesian affixed forms.
//!
//! Forms are generated from the word the user wrote, never by stripping documents: a
//! rule-only Indonesian stemmer strips too eagerly (Snowball turns `digital` into
//! `gital`, `kerja` into `kerj`), while generating `dikerjakan`, `bekerja`,
//! `pekerjaan`, `kerjanya` … from `kerja` can only add forms of that word. A generated
//! form that is not a real word costs nothing: no document contains it.
//!
//! Indonesian: prefixes di-, ter-, ke-, se-, ber-, per-, memper-, diper-, member-,
//! pember- and the nasal meN-/peN- (with their sound changes: `pakai` → `memakai`,
//! `tulis` → `menulis`, `sapu` → `menyapu`, `kirim` → `mengirim`), each with the
//! suffixes -an, -kan, -i, -nya, -lah, -pun and their combinations. English: -s, -es,
//! -ies, -ed, -ied, -ing, with a doubled final consonant where English doubles it.

/// Words shorter than this take no Indonesian affixes (acronyms, short words).
const MIN_INFLECTED_LEN: usize = 4;
/// Words shorter than this take no English inflections either.
const MIN_ENGLISH_LEN: usize = 3;

/// Neighbouring words are also read as one word when both have at least this many
/// characters (`kerja sama` → `kerjasama`, `cyber security` → `cybersecurity`).
pub const MIN_JOINED: usize = 3;

const ID_SUFFIXES: &[&str] = &["", "an", "kan", "i", "nya", "lah", "pun", "annya", "kannya", "inya"];

/// Every form of `word` (folded, one token) that matches it, `word` first.
pub fn word_forms(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    let len = word.chars().count();
    if len < MIN_ENGLISH_LEN || !word.chars().all(|c| c.is_ascii_lowercase()) {
        return out;
    }
    let mut add = |f: String| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    for f in english(word) {
        add(f);
    }
    if len < MIN_INFLECTED_LEN {
        return out;
    }
    for stem in indonesian_prefixed(word) {
        for suffix in ID_SUFFIXES {
            add(format!("{stem}{suffix}"));
        }
    }
    out
}

/// Every prefix that stands for `prefix*`: the prefix itself and the prefix behind
/// each Indonesian prefix (so `kerjasama*` also finds `bekerjasama`, `dikerjasamakan`).
pub fn prefix_forms(prefix: &str) -> Vec<String> {
    let mut out = vec![prefix.to_string()];
    if prefix.chars().count() < MIN_INFLECTED_LEN || !prefix.chars().all(|c| c.is_ascii_lowercase()) {
        return out;
    }
    for stem in indonesian_prefixed(prefix) {
        if !out.contains(&stem) {
            out.push(stem);
        }
    }
    out
}

/// The forms of `word` that carry no Indonesian prefix: the word, its English
/// inflections and the word with each Indonesian suffix. Every form of [`word_forms`]
/// is one of these behind a prefix (or none), so a form written as two words
/// (`bekerja samanya`) splits inside one of them.
pub fn unprefixed_forms(word: &str) -> Vec<String> {
    let len = word.chars().count();
    let mut out = vec![word.to_string()];
    if len < MIN_ENGLISH_LEN || !word.chars().all(|c| c.is_ascii_lowercase()) {
        return out;
    }
    let suffixed = ID_SUFFIXES.iter().filter(|_| len >= MIN_INFLECTED_LEN).map(|s| format!("{word}{s}"));
    for f in english(word).into_iter().chain(suffixed) {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// One way to write a word as two: the first word is one of `lefts`, the second one of
/// `rights` (for a prefix query: begins with one of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub lefts: Vec<String>,
    pub rights: Vec<String>,
}

/// The word written as two words, split inside the word itself at every point that leaves
/// both parts at least [`MIN_JOINED`] characters: the first part with each Indonesian
/// prefix (`bekerja sama`), the second with each suffix or English inflection (`kerja
/// samanya`, `cyber securities`). Affixes are never split (`memb erdigital` is not
/// `digital`). The matcher and the search index both read two-word forms from here.
pub fn splits(word: &str, prefix: bool) -> Vec<Split> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    if chars.len() < 2 * MIN_JOINED {
        return Vec::new();
    }
    let unprefixed = if prefix { Vec::new() } else { unprefixed_forms(word) };
    let mut out = Vec::new();
    for &(at, _) in &chars[MIN_JOINED..=chars.len() - MIN_JOINED] {
        let (left, right) = word.split_at(at);
        let mut rights: Vec<String> = Vec::new();
        if prefix {
            rights.push(right.to_string());
        }
        for rest in unprefixed.iter().filter_map(|f| f.strip_prefix(left)) {
            if rest.chars().count() >= MIN_JOINED && !rights.iter().any(|r| r == rest) {
                rights.push(rest.to_string());
            }
        }
        out.push(Split { lefts: prefix_forms(left), rights });
    }
    out
}

fn english(w: &str) -> Vec<String> {
    let bytes = w.as_bytes();
    let last = bytes[bytes.len() - 1] as char;
    let before = bytes[bytes.len() - 2] as char;
    let vowel = |c: char| "aeiou".contains(c);
    let mut out = Vec::new();
    // Plural and third person.
    if w.ends_with('s') || w.ends_with('x') || w.ends_with('z') || w.ends_with("ch") || w.ends_with("sh") {
        out.push(format!("{w}es"));
    } else if last == 'y' && !vowel(before) {
        out.push(format!("{}ies", &w[..w.len() - 1]));
    } else {
        out.push(format!("{w}s"));
    }
    // Past and -ing.
    if last == 'e' {
        out.push(format!("{w}d"));
        if let Some(stem) = w.strip_suffix("ie") {
            out.push(format!("{stem}ying"));
        } else if w.ends_with("ee") || w.ends_with("ye") || w.ends_with("oe") {
            out.push(format!("{w}ing"));
        } else {
            out.push(format!("{}ing", &w[..w.len() - 1]));
        }
    } else if last == 'y' && !vowel(before) {
        out.push(format!("{}ied", &w[..w.len() - 1]));
        out.push(format!("{w}ing"));
    } else {
        out.push(format!("{w}ed"));
        out.push(format!("{w}ing"));
        // Short consonant-vowel-consonant words double the consonant: plan → planned.
        let third = bytes.len().checked_sub(3).map(|i| bytes[i] as char);
        if w.len() <= 5 && !vowel(last) && !"wxy".contains(last) && vowel(before) && third.is_some_and(|c| !vowel(c)) {
            out.push(format!("{w}{last}ed"));
            out.push(format!("{w}{last}ing"));
        }
    }
    out
}

/// The word with each Indonesian prefix (the bare word included).
fn indonesian_prefixed(w: &str) -> Vec<String> {
    let mut out = vec![w.to_string()];
    let r_initial = w.starts_with('r');
    for p in ["di", "ke", "se", "pe", "memper", "diper", "member", "pember"] {
        out.push(format!("{p}{w}"));
    }
    out.push(if r_initial { format!("te{w}") } else { format!("ter{w}") });
    if !r_initial {
        out.push(format!("per{w}"));
    }
    // ber- loses its r before r and before some roots (bekerja, beternak).
    out.push(format!("be{w}"));
    if !r_initial {
        out.push(format!("ber{w}"));
    }
    out.extend(nasal(w, "me"));
    out.extend(nasal(w, "pe"));
    out
}

/// meN- and peN- before `w`, with the sound changes (and the unchanged forms that
/// loanwords keep: `memproduksi`, `mentransfer`, `mengkaji`).
fn nasal(w: &str, base: &str) -> Vec<String> {
    let mut chars = w.chars();
    let first = chars.next().expect("non-empty");
    let rest = chars.as_str();
    let mut out = match first {
        'a' | 'e' | 'i' | 'o' | 'u' => vec![format!("{base}ng{w}")],
        'b' | 'f' | 'v' => vec![format!("{base}m{w}")],
        'p' => vec![format!("{base}m{rest}"), format!("{base}m{w}")],
        'd' | 'c' | 'j' | 'z' => vec![format!("{base}n{w}")],
        't' => vec![format!("{base}n{rest}"), format!("{base}n{w}")],
        's' => vec![format!("{base}ny{rest}"), format!("{base}n{w}")],
        'k' => vec![format!("{base}ng{rest}"), format!("{base}ng{w}")],
        'g' | 'h' | 'q' | 'x' => vec![format!("{base}ng{w}")],
        _ => vec![format!("{base}{w}")],
    };
    // One-syllable roots take menge-/penge-: bom → mengebom.
    if w.chars().filter(|c| "aeiou".contains(*c)).count() == 1 {
        out.push(format!("{base}nge{w}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(word: &str, forms: &[&str]) {
        let all = word_forms(word);
        for f in forms {
            assert!(all.iter().any(|a| a == f), "{word}: {f} missing from {} forms", all.len());
        }
    }

    #[test]
    fn english_inflections() {
        has("agreement", &["agreements"]);
        has("sign", &["signs", "signed", "signing"]);
        has("plan", &["plans", "planned", "planning"]);
        has("agree", &["agrees", "agreed", "agreeing"]);
        has("partnership", &["partnerships"]);
        has("economy", &["economies"]);
        has("tax", &["taxes"]);
    }

    #[test]
    fn indonesian_affixes() {
        has("kerja", &["bekerja", "pekerja", "pekerjaan", "dikerjakan", "mengerjakan", "kerjanya", "sekerja"]);
        has("kerjasama", &["bekerjasama", "kerjasamanya", "dikerjasamakan"]);
        has("pakai", &["memakai", "pemakaian", "dipakai"]);
        has("tulis", &["menulis", "penulis", "tertulis", "tulisan"]);
        has("sapu", &["menyapu", "penyapu"]);
        has("kirim", &["mengirim", "pengiriman", "dikirimkan"]);
        has("produksi", &["memproduksi"]);
        has("daya", &["memberdayakan", "pemberdayaan"]);
        has("bangun", &["membangun", "pembangunan"]);
        has("ajar", &["mengajar", "pengajaran"]);
        has("rapat", &["terapat"]);
    }

    #[test]
    fn short_words_and_acronyms_stay_as_written() {
        assert!(word_forms("mou").iter().all(|f| f.starts_with("mou")));
        assert_eq!(word_forms("ai"), ["ai"]);
        assert_eq!(word_forms("2025"), ["2025"]);
        assert!(!word_forms("digital").contains(&"gital".to_string()));
    }

    #[test]
    fn every_form_is_an_unprefixed_form_behind_a_prefix() {
        for word in ["kerja", "digital", "economy", "plan", "sapu", "mou", "café"] {
            let bare = unprefixed_forms(word);
            let prefixed: Vec<String> = indonesian_prefixed(word);
            for f in word_forms(word) {
                let found = bare.contains(&f)
                    || prefixed.iter().any(|p| {
                        f.strip_prefix(p.as_str())
                            .is_some_and(|rest| bare.iter().any(|b| b.strip_prefix(word) == Some(rest)))
                    });
                assert!(found, "{word}: {f}");
            }
            assert!(bare.iter().all(|b| word_forms(word).contains(b)), "{word}: {bare:?}");
        }
    }

    #[test]
    fn words_split_inside_the_word_only() {
        let s = splits("kerjasama", false);
        let at = |l: &str, r: &str| s.iter().any(|x| x.lefts.iter().any(|a| a == l) && x.rights.iter().any(|b| b == r));
        assert!(at("kerja", "sama") && at("bekerja", "sama") && at("kerja", "samanya") && at("dikerja", "samakan"));
        assert!(!at("be", "kerjasama") && !at("kerjasamak", "an"), "{s:?}");
        assert_eq!(splits("digital", true)[0], Split { lefts: vec!["dig".into()], rights: vec!["ital".into()] });
        assert!(splits("mou", false).is_empty());
    }

    #[test]
    fn prefixes_get_indonesian_prefixes_only() {
        let p = prefix_forms("kerjasama");
        assert!(p.contains(&"bekerjasama".to_string()) && p.contains(&"dikerjasama".to_string()));
        assert!(!p.iter().any(|f| f.ends_with("kan")));
        assert_eq!(prefix_forms("ai"), ["ai"]);
    }
}
