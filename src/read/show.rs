//! One article as `kabar show` and `/api/articles/ID` give it: the stored detail, and for
//! a translation the evidence that tied it to its story.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{ArticleDetail, TranslationEvidence};
use crate::pipeline::clean;
use crate::pipeline::dedup::sketch::{SignalKind, signal_keys};
use crate::store::{Reader, StoreError};

/// Article `id`, or `None` when there is none.
pub fn article(reader: &Reader, id: i64) -> Result<Option<ArticleDetail>, StoreError> {
    let Some(mut detail) = reader.detail(id)? else { return Ok(None) };
    if detail.row.duplicate_reason.as_deref() == Some("translation")
        && let Some(of) = detail.row.duplicate_of
        && let Some(first) = reader.detail(of)?
    {
        detail.translation_evidence = Some(evidence(&detail, &first));
    }
    Ok(Some(detail))
}

/// The signals two articles share, by kind, each once and sorted: the word as `a`
/// writes it, and as `b` writes it where that differs ("russian = rusia").
fn evidence(a: &ArticleDetail, b: &ArticleDetail) -> TranslationEvidence {
    let keys = |d: &ArticleDetail| {
        let kept = clean::kept_text(&d.text, &d.boilerplate);
        let mut by_key: BTreeMap<(String, SignalKind), String> = BTreeMap::new();
        for k in signal_keys(&d.row.title, &kept) {
            by_key.entry((k.key, k.kind)).or_insert(k.word);
        }
        by_key
    };
    let (ka, kb) = (keys(a), keys(b));
    let of_kind = |kinds: &[SignalKind]| -> Vec<String> {
        let set: BTreeSet<String> = ka
            .iter()
            .filter(|((_, kind), _)| kinds.contains(kind))
            .filter_map(|(key, word)| {
                let other = kb.get(key)?;
                Some(if other == word { word.clone() } else { format!("{word} = {other}") })
            })
            .collect();
        set.into_iter().collect()
    };
    TranslationEvidence {
        of: b.row.id,
        names: of_kind(&[SignalKind::Name, SignalKind::Number]),
        words: of_kind(&[SignalKind::Word]),
    }
}
