//! Delivering alerts: each new story a topic with `notify` flags is queued in the
//! `alerts` table (by the writer, in the poll's transaction) once per channel, and
//! delivered from here — POSTed as JSON to the webhook, or given as JSON on standard
//! input to the command. A failed delivery is retried with exponential backoff (1 s,
//! 2 s, 4 s … up to an hour); an alert is marked delivered only after the receiver
//! accepted it, so a crash or a stop during delivery loses nothing (the receiver may
//! then see an alert twice, never zero times).
//!
//! Besides `fetch`, this is the only code that makes outbound connections;
//! its destinations come from the configuration, not from feeds.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use crate::config::Database;
use crate::config::Notify;
use crate::model::{ArticleRow, DueAlert, TopicMatch};
use crate::poll::Context;
use crate::store::{Reader, StoreError};

/// How often the outbox is looked at.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries per round.
const BATCH: usize = 20;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BACKOFF_SECS: i64 = 3600;

/// What a receiver gets: the topic, the article (as `kabar search --format json`
/// prints it) and why it matched.
#[derive(Debug, Serialize)]
pub struct Payload<'a> {
    /// The outbox row: the same for every retry of this alert, so a receiver that got it
    /// twice (delivery is at least once) can tell.
    pub alert_id: i64,
    pub topic: &'a str,
    pub article: &'a ArticleRow,
    pub evidence: Vec<crate::model::Evidence>,
}

/// An alert due, with its article and the topic's evidence (`None` when the article
/// is gone).
type Due = (DueAlert, Option<(ArticleRow, Option<TopicMatch>)>);

/// Why a round of deliveries stopped early (the alerts stay queued for the next).
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode the alert: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("reading due alerts: {0}")]
    Read(#[from] tokio::task::JoinError),
}

/// Delivers due alerts until `stop` turns true.
/// How long a worker of a fleet holds the alerts it claimed: past it (the worker died
/// mid-round), they are due again for any worker.
const CLAIM_FOR: i64 = 120;

pub async fn run(ctx: Arc<Context>, database: Database, mut stop: watch::Receiver<bool>) {
    let client =
        match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).user_agent(crate::config::DEFAULT_USER_AGENT).build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook client; alerts stay queued");
                return;
            }
        };
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = deliver_due(&ctx, &database, &client, &mut stop).await {
            tracing::warn!(error = %format!("{e:#}"), "alert delivery round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn deliver_due(
    ctx: &Context,
    database: &Database,
    client: &reqwest::Client,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RoundError> {
    let db = database.clone();
    let now = Utc::now().timestamp();
    // On a database a fleet shares, the due alerts are claimed first (each by one
    // worker, for the time a round may take), so an alert goes out once.
    let claimed = match ctx.writer.shared() {
        true => Some(ctx.writer.claim_alerts(now, BATCH, CLAIM_FOR).await?),
        false => None,
    };
    let due = tokio::task::spawn_blocking(move || -> Result<Vec<Due>, StoreError> {
        if !db.exists() {
            return Ok(Vec::new());
        }
        let reader = Reader::open(&db)?;
        let mut out = Vec::new();
        let alerts = match claimed {
            Some(alerts) => alerts,
            None => reader.due_alerts(now, BATCH)?,
        };
        for alert in alerts {
            let row = reader.rows(&[alert.article_id], true)?.pop();
            let evidence = reader
                .detail(alert.article_id)?
                .and_then(|d| d.topic_matches.into_iter().find(|m| m.topic == alert.topic));
            out.push((alert, row.map(|r| (r, evidence))));
        }
        Ok(out)
    })
    .await??;
    let notify = ctx.settings().notify.clone();
    for (alert, found) in due {
        if *stop.borrow() {
            break;
        }
        let result = match (&found, notify.get(&alert.topic)) {
            (None, _) => Err(Failed::ArticleGone),
            (_, None) => Err(Failed::NoNotify),
            (Some((row, evidence)), Some(n)) => {
                let payload = Payload {
                    alert_id: alert.id,
                    topic: &alert.topic,
                    article: row,
                    evidence: evidence.as_ref().map(|m| m.evidence.clone()).unwrap_or_default(),
                };
                let body = serde_json::to_vec(&payload)?;
                deliver(client, n, &alert.channel, body).await
            }
        };
        let error = result.err().map(|e| e.to_string());
        let backoff = 1i64 << alert.attempts.min(12);
        let next = Utc::now().timestamp() + backoff.min(MAX_BACKOFF_SECS);
        match &error {
            None => {
                tracing::info!(topic = %alert.topic, channel = %alert.channel, article = alert.article_id, "alert delivered")
            }
            Some(e) => tracing::warn!(topic = %alert.topic, channel = %alert.channel, error = %e,
                attempts = alert.attempts + 1, "alert delivery failed; retrying later"),
        }
        ctx.writer.alert_attempt(alert.id, error, next).await?;
    }
    Ok(())
}

/// Why one delivery attempt failed (stored on the alert, and logged).
#[derive(Debug, thiserror::Error)]
enum Failed {
    #[error("the article is gone")]
    ArticleGone,
    #[error("the topic no longer has notify")]
    NoNotify,
    #[error("the topic has no {0} now")]
    ChannelGone(&'static str),
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    #[error("webhook: {0}")]
    Webhook(#[from] reqwest::Error),
    #[error("webhook answered HTTP {0}")]
    WebhookStatus(reqwest::StatusCode),
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program}: {source}")]
    Command { program: String, source: std::io::Error },
    #[error("{program} exited with {status}")]
    Exit { program: String, status: std::process::ExitStatus },
    #[error("{program} did not finish within {}s", COMMAND_TIMEOUT.as_secs())]
    Timeout { program: String },
}

async fn deliver(client: &reqwest::Client, notify: &Notify, channel: &str, body: Vec<u8>) -> Result<(), Failed> {
    match channel {
        "webhook" => {
            let url = notify.webhook.clone().ok_or(Failed::ChannelGone("webhook"))?;
            let response =
                client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await?;
            if response.status().is_success() { Ok(()) } else { Err(Failed::WebhookStatus(response.status())) }
        }
        "command" => {
            let argv = notify.command.clone().ok_or(Failed::ChannelGone("command"))?;
            let program = || argv[0].clone();
            let mut child = tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|source| Failed::Spawn { program: program(), source })?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(&body).await.map_err(|source| Failed::Command { program: program(), source })?;
            }
            match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
                Ok(Ok(status)) if status.success() => Ok(()),
                Ok(Ok(status)) => Err(Failed::Exit { program: program(), status }),
                Ok(Err(source)) => Err(Failed::Command { program: program(), source }),
                Err(_) => Err(Failed::Timeout { program: program() }),
            }
        }
        other => Err(Failed::UnknownChannel(other.to_string())),
    }
}
