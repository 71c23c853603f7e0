//! Re-evaluating new and changed topics over the stored archive.
//!
//! When a topic is added or its query changes, new articles are flagged by the new
//! query at once, and the articles stored before are evaluated again here, in batches,
//! in the background of the daemon (or at the end of `kabar fetch`). Each batch is one
//! write transaction that replaces the topic's matches for a range of article ids and
//! records how far it got, so a restart resumes where it stopped and `kabar topics`
//! shows the progress.

use crate::config::Database;
use crate::config::TopicConfig;
use crate::model::Reindex;
use crate::pipeline::classify::{Topics, classify_doc};
use crate::pipeline::clean;
use crate::query::Doc;
use crate::store::{Reader, StoreError, Writer};

/// Articles evaluated per write transaction.
const BATCH: usize = 500;

/// Re-evaluates each pending topic over the stored articles it has not seen yet.
/// Why a re-evaluation stopped (it resumes from its last batch at the next start).
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("re-evaluating a topic: {0}")]
    Batch(#[from] tokio::task::JoinError),
}

/// `progress` is told (topic, progress) after each batch.
pub async fn run(
    writer: &Writer,
    database: &Database,
    topics: &[TopicConfig],
    pending: Vec<(String, Reindex)>,
    mut progress: impl FnMut(&str, Reindex),
) -> Result<(), ReindexError> {
    for (name, mut state) in pending {
        let Some(topic) = topics.iter().find(|t| t.name == name) else { continue };
        let one = std::sync::Arc::new(Topics::new([(topic.name.as_str(), &topic.query)]));
        let started = std::time::Instant::now();
        loop {
            let (after, upto, matcher, db) = (state.done, state.upto, one.clone(), database.clone());
            let (last, matches) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
                let reader = Reader::open(&db)?;
                let rows = reader.scan_range(after, upto, BATCH)?;
                let last = rows.last().map(|r| r.id);
                let matches = rows
                    .iter()
                    .filter_map(|row| {
                        let kept = clean::kept_text(&row.text, &row.boilerplate);
                        let doc = Doc::new(&row.title, &kept, row.language.as_deref(), &row.feed);
                        classify_doc(&doc, &matcher).pop().map(|m| (row.id, m))
                    })
                    .collect::<Vec<_>>();
                Ok((last, matches))
            })
            .await??;
            let to = last.unwrap_or(state.upto);
            let finished = last.is_none() || to >= state.upto;
            writer.replace_topic_matches(name.clone(), state.done + 1, to, matches, finished).await?;
            state.done = to;
            progress(&name, state);
            if finished {
                tracing::info!(topic = %name, seconds = started.elapsed().as_secs(), "topic re-evaluated over the archive");
                break;
            }
        }
    }
    Ok(())
}
