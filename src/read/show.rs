//! One article as `kabar show` and `/api/articles/ID` give it: the stored detail, and for
//! a translation the evidence that tied it to its story.

use std::collections::BTreeSet;

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

/// The signals two articles share, by kind, each once and sorted.
fn evidence(a: &ArticleDetail, b: &ArticleDetail) -> TranslationEvidence {
    let keys = |d: &ArticleDetail| {
        let kept = clean::kept_text(&d.text, &d.boilerplate);
        signal_keys(&d.row.title, &kept).into_iter().collect::<BTreeSet<(String, SignalKind)>>()
    };
    let (ka, kb) = (keys(a), keys(b));
    let shared: Vec<&(String, SignalKind)> = ka.intersection(&kb).collect();
    let of_kind = |kinds: &[SignalKind]| -> Vec<String> {
        let set: BTreeSet<String> = shared.iter().filter(|(_, k)| kinds.contains(k)).map(|(s, _)| s.clone()).collect();
        set.into_iter().collect()
    };
    TranslationEvidence {
        of: b.row.id,
        names: of_kind(&[SignalKind::Name, SignalKind::Number]),
        words: of_kind(&[SignalKind::Word]),
    }
}
