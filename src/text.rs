//! Text normalisation shared by documents and queries.
//!
//! Both sides of every comparison go through the same two functions, so a query term
//! and a word in an article meet in one form: Unicode NFKC, lower case, accents
//! removed ("Café" and "CAFE" are both `cafe`), split into runs of letters and digits.
//! The search index stores these tokens too, which keeps index and matcher in step.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Calls `f` with each character of the NFKC form of `s`. Most news text is NFKC
/// already (all ASCII text is), and checking that is far cheaper than normalising.
fn for_each_nfkc(s: &str, f: impl FnMut(char)) {
    if s.is_ascii() || is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        s.chars().for_each(f)
    } else {
        s.nfkc().for_each(f)
    }
}

/// Folds a string: NFKC, lower case, accents (combining marks) removed.
/// Characters that are not letters or digits are kept as they are.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for_each_nfkc(s, |c| push_folded(c, &mut out));
    out
}

/// Calls `f` with every token of `s`, in order. A token is a maximal run of letters
/// and digits after folding; combining marks inside a word do not split it.
pub fn for_each_token(s: &str, mut f: impl FnMut(&str)) {
    let mut token = String::new();
    for_each_nfkc(s, |c| {
        if c.is_alphanumeric() {
            push_folded(c, &mut token);
        } else if is_combining_mark(c) {
            // An accent written as a separate mark: part of the word, folded away.
        } else if !token.is_empty() {
            f(&token);
            token.clear();
        }
    });
    if !token.is_empty() {
        f(&token);
    }
}

/// The tokens of `s` (see [`for_each_token`]).
pub fn tokens(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(s, |t| out.push(t.to_owned()));
    out
}

/// The tokens of `s` joined by single spaces: the form the search index stores.
pub fn token_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for_each_token(s, |t| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    });
    out
}

/// The tokens of a [`token_string`] (or of several joined by spaces), as slices of it.
/// A byte loop: the words are short, and a `memchr` per space cost more than the words.
pub fn split_tokens(joined: &str) -> std::str::SplitAsciiWhitespace<'_> {
    joined.split_ascii_whitespace()
}

fn push_folded(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    for lower in c.to_lowercase() {
        decompose_canonical(lower, |d| {
            if !is_combining_mark(d) {
                out.push(d);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_compatibility_forms() {
        assert_eq!(fold("Café ÉLYSÉE"), "cafe elysee");
        // NFKC: the ligature and full-width letters become plain ones.
        assert_eq!(fold("ﬁnance ＡＢＣ"), "finance abc");
        // A combining accent written separately is removed too.
        assert_eq!(fold("Cafe\u{301}"), "cafe");
    }

    #[test]
    fn tokens_split_on_punctuation_and_keep_digits() {
        assert_eq!(
            tokens("Indonesia–India MoU, signed 26 Jan. (kerja-sama)"),
            ["indonesia", "india", "mou", "signed", "26", "jan", "kerja", "sama"]
        );
        assert_eq!(tokens("Cafe\u{301} au lait"), ["cafe", "au", "lait"]);
        assert_eq!(tokens("  ...  "), Vec::<String>::new());
    }

    #[test]
    fn the_quick_path_gives_the_full_normal_form() {
        for s in ["plain ascii", "café", "Cafe\u{301}", "ﬁnance ＡＢＣ", "Ｋ", "①②", "한국어", "e\u{301}\u{301}", ""]
        {
            let mut quick = String::new();
            for_each_nfkc(s, |c| quick.push(c));
            assert_eq!(quick, s.nfkc().collect::<String>(), "{s:?}");
        }
    }

    #[test]
    fn token_string_joins_with_spaces() {
        assert_eq!(token_string("Hak cipta © ANTARA 2025"), "hak cipta antara 2025");
    }
}
