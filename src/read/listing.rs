//! Listings the command line and the HTTP API both give: feeds and topics as stored,
//! merged with the configuration, and the time filters they take.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::Config;
use crate::model::{FeedStatus, TopicCount};
use crate::store::{Reader, StoreError};

/// Every feed: stored ones (marked when no longer configured) and configured ones not
/// polled yet, by name.
pub fn feeds(reader: &Reader, config: &Config) -> Result<Vec<FeedStatus>, StoreError> {
    Ok(feed_rows(config, reader.feeds()?))
}

/// Every topic with its counts and re-evaluation progress, by name.
pub fn topics(reader: &Reader, config: &Config, now: i64) -> Result<Vec<TopicCount>, StoreError> {
    let mut rows = topic_rows(config, reader.topic_counts(now)?);
    let progress: HashMap<_, _> = reader.topic_progress()?;
    for row in &mut rows {
        row.reindex = progress.get(&row.name).copied();
    }
    Ok(rows)
}

/// A `--topic` or `--feed` filter that names nothing kabar knows.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("{message}")]
    Unknown { parameter: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a topic or feed filter that names nothing configured or stored: it would
/// match nothing, and an empty answer would hide the typo.
pub fn check_filters(
    reader: &Reader,
    config: &Config,
    topic: Option<&str>,
    feed: Option<&str>,
) -> Result<(), FilterError> {
    if let Some(t) = topic
        && !config.topics.iter().any(|c| c.name == t)
        && !reader.has_topic(t)?
    {
        let known: Vec<&str> = config.topics.iter().map(|c| c.name.as_str()).collect();
        let message = format!("unknown topic {t:?} (configured: {})", known.join(", "));
        return Err(FilterError::Unknown { parameter: "topic", message });
    }
    if let Some(f) = feed
        && !config.feeds.iter().any(|c| c.name == f)
        && !reader.has_feed(f)?
    {
        let message = format!("unknown feed {f:?}: no feed of that name is configured or stored");
        return Err(FilterError::Unknown { parameter: "feed", message });
    }
    Ok(())
}

/// Listing rows for `kabar feeds`: stored feeds, marked when no longer configured,
/// plus configured feeds not polled yet.
fn feed_rows(config: &Config, mut stored: Vec<FeedStatus>) -> Vec<FeedStatus> {
    for f in &mut stored {
        f.configured = config.feeds.iter().any(|c| c.name == f.name);
    }
    for c in &config.feeds {
        if !stored.iter().any(|f| f.name == c.name) {
            stored.push(FeedStatus {
                name: c.name.clone(),
                url: c.url.to_string(),
                title: None,
                status: None,
                http_status: None,
                last_fetch: None,
                last_success: None,
                next_due: None,
                failures: 0,
                last_error_kind: None,
                last_error: None,
                warning: None,
                articles: 0,
                configured: true,
            });
        }
    }
    stored.sort_by(|a, b| a.name.cmp(&b.name));
    stored
}

fn topic_rows(config: &Config, mut counted: Vec<TopicCount>) -> Vec<TopicCount> {
    for t in &mut counted {
        t.configured = config.topics.iter().any(|c| c.name == t.name);
    }
    for c in &config.topics {
        if !counted.iter().any(|t| t.name == c.name) {
            counted.push(TopicCount {
                name: c.name.clone(),
                last_24h: 0,
                last_7d: 0,
                all: 0,
                configured: true,
                reindex: None,
            });
        }
    }
    counted.sort_by(|a, b| a.name.cmp(&b.name));
    counted
}

/// `--since`/`--until`: a date, an RFC 3339 time, or an age before now. A date given
/// to `--until` means the end of that day.
pub fn parse_when(s: &str, now: DateTime<Utc>, end_of_day: bool) -> Result<i64, WhenError> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = if end_of_day { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    if let Ok(age) = humantime::parse_duration(s) {
        let age = chrono::Duration::from_std(age).ok();
        let Some(then) = age.and_then(|a| now.checked_sub_signed(a)) else {
            return Err(WhenError::TooFarBack(s.to_string()));
        };
        return Ok(then.timestamp());
    }
    Err(WhenError::NotATime(s.to_string()))
}

/// A `--since`/`--until` value that is no time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WhenError {
    #[error("{0:?} reaches back past any date kabar can store")]
    TooFarBack(String),
    #[error("{0:?} is not a date (2025-01-26), an RFC 3339 time, or an age (7d, 12h)")]
    NotATime(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_takes_dates_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2025-01-26T12:00:00Z").unwrap().to_utc();
        let day = parse_when("2025-01-20", now, false).unwrap();
        assert_eq!(day, DateTime::parse_from_rfc3339("2025-01-20T00:00:00Z").unwrap().timestamp());
        assert_eq!(parse_when("2025-01-20", now, true).unwrap(), day + 86_400);
        assert_eq!(parse_when("7d", now, false).unwrap(), now.timestamp() - 7 * 86_400);
        assert_eq!(parse_when("12h", now, false).unwrap(), now.timestamp() - 12 * 3600);
        assert_eq!(
            parse_when("2025-01-26T10:00:00+07:00", now, false).unwrap(),
            DateTime::parse_from_rfc3339("2025-01-26T03:00:00Z").unwrap().timestamp()
        );
        assert!(parse_when("last tuesday", now, false).is_err());
        // Ages past any storable date are errors (they panicked before).
        for age in ["99999999d", "18446744073709551615s", "300000000y"] {
            let e = parse_when(age, now, false).expect_err(age);
            assert!(!e.to_string().is_empty());
        }
    }
}
