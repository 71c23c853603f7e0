//! Word precision, recall and F1 of an extracted text against a gold text, shared by the
//! harness's `extract` mode and the extraction test over the same pages.
//!
//! Words are runs of letters and digits, lower-cased; precision is the share of
//! extracted words (as a multiset) that are in the gold text, recall the share of gold
//! words extracted.

use std::collections::HashMap;

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// (precision, recall, F1) of `got` against `gold`, by words.
pub fn word_scores(got: &str, gold: &str) -> (f64, f64, f64) {
    let (got, gold) = (words(got), words(gold));
    let mut bag: HashMap<&str, usize> = HashMap::new();
    for w in &gold {
        *bag.entry(w).or_default() += 1;
    }
    let mut hits = 0usize;
    for w in &got {
        if let Some(n) = bag.get_mut(w.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            hits += 1;
        }
    }
    let precision = if got.is_empty() { f64::from(u8::from(gold.is_empty())) } else { hits as f64 / got.len() as f64 };
    let recall = if gold.is_empty() { 1.0 } else { hits as f64 / gold.len() as f64 };
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    (precision, recall, f1)
}
