//! When each feed is next due: the regular schedule with jitter, capped exponential
//! backoff after failures, and the server's own hints (Retry-After, Cache-Control
//! max-age, RSS `<ttl>`), which may lengthen a wait but never shorten it.
//!
//! Pure functions of `now` and a random source, so tests can run them on any clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Schedule;

/// The longest a server hint may push a poll back.
pub const MAX_HINT: Duration = Duration::from_secs(24 * 3600);

/// A random number in [0, 1).
pub trait Random {
    fn unit(&mut self) -> f64;
}

impl Random for fastrand::Rng {
    fn unit(&mut self) -> f64 {
        self.f64()
    }
}

fn add(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(365))
}

/// Next poll after a success. `jitter` is a fraction (0.1 = ±10 % of an interval; for
/// cron, up to +10 % of the gap, never before the cron time). `hint` is the longest
/// of the server's caching hints.
pub fn after_success(
    schedule: &Schedule,
    now: DateTime<Utc>,
    jitter: f64,
    hint: Option<Duration>,
    rng: &mut impl Random,
) -> DateTime<Utc> {
    let regular = match schedule {
        Schedule::Every(d) => add(now, d.mul_f64(1.0 + jitter * (2.0 * rng.unit() - 1.0))),
        Schedule::Cron { .. } => {
            let at = schedule.next_after(now);
            add(at, schedule.period(now).mul_f64(jitter * rng.unit()))
        }
    };
    match hint {
        Some(h) => regular.max(add(now, h.min(MAX_HINT))),
        None => regular,
    }
}

/// Next poll after the `failures`-th failure in a row (1 for the first): one period,
/// then doubling, up to `max_backoff`, with jitter; never sooner than the server's
/// Retry-After (itself capped at 24 h).
pub fn after_failure(
    schedule: &Schedule,
    now: DateTime<Utc>,
    failures: u32,
    jitter: f64,
    max_backoff: Duration,
    retry_after: Option<Duration>,
    rng: &mut impl Random,
) -> DateTime<Utc> {
    let base = schedule.period(now);
    let factor = 2f64.powi(failures.saturating_sub(1).min(30) as i32);
    let delay = base.mul_f64(factor).min(max_backoff);
    let delay = delay.mul_f64(1.0 + jitter * (2.0 * rng.unit() - 1.0)).min(max_backoff);
    let delay = match retry_after {
        Some(r) => delay.max(r.min(MAX_HINT)),
        None => delay,
    };
    add(now, delay)
}

/// When a feed is first due after the daemon starts. A feed never polled is due now;
/// one whose time passed while the daemon was down is spread over the next minute (or
/// its period, if shorter), so a restart does not fetch every feed at once; a feed
/// waiting out a backoff keeps waiting.
pub fn at_startup(
    schedule: &Schedule,
    next_attempt: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    rng: &mut impl Random,
) -> DateTime<Utc> {
    match next_attempt {
        None => now,
        Some(t) if t > now => t,
        Some(_) => {
            let window = schedule.period(now).min(Duration::from_secs(60));
            add(now, window.mul_f64(rng.unit()))
        }
    }
}

/// Reads Retry-After: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_HINT));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.to_utc();
    Some((at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_HINT))
}

/// Reads `max-age` from Cache-Control (`no-store`, `no-cache` give no hint).
pub fn parse_max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case("max-age") {
            v.trim().trim_matches('"').parse::<u64>().ok().map(Duration::from_secs)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cron;

    /// A "random" source that always answers the same.
    struct Fixed(f64);
    impl Random for Fixed {
        fn unit(&mut self) -> f64 {
            self.0
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const NOW: &str = "2025-01-26T10:00:00Z";
    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn success_waits_the_interval_with_bounded_jitter() {
        let every = Schedule::Every(10 * MIN);
        let now = t(NOW);
        assert_eq!(after_success(&every, now, 0.1, None, &mut Fixed(0.5)), t("2025-01-26T10:10:00Z"));
        assert_eq!(after_success(&every, now, 0.1, None, &mut Fixed(0.0)), t("2025-01-26T10:09:00Z"));
        assert!(after_success(&every, now, 0.1, None, &mut Fixed(0.999)) <= t("2025-01-26T10:11:00Z"));
        // A ttl of one hour lengthens the wait; a short one never shortens it.
        assert_eq!(after_success(&every, now, 0.0, Some(60 * MIN), &mut Fixed(0.5)), t("2025-01-26T11:00:00Z"));
        assert_eq!(after_success(&every, now, 0.0, Some(MIN), &mut Fixed(0.5)), t("2025-01-26T10:10:00Z"));
        // Even a huge hint is capped at a day.
        assert_eq!(
            after_success(&every, now, 0.0, Some(Duration::from_secs(999_999_999)), &mut Fixed(0.5)),
            t("2025-01-27T10:00:00Z")
        );
    }

    #[test]
    fn cron_jitter_only_delays() {
        let cron = Schedule::Cron {
            expr: "*/10 * * * *".into(),
            schedule: Box::new(parse_cron("*/10 * * * *").unwrap()),
            timezone: chrono_tz::UTC,
        };
        let now = t("2025-01-26T10:03:00Z");
        assert_eq!(after_success(&cron, now, 0.1, None, &mut Fixed(0.0)), t("2025-01-26T10:10:00Z"));
        assert_eq!(after_success(&cron, now, 0.1, None, &mut Fixed(0.5)), t("2025-01-26T10:10:30Z"));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap() {
        let every = Schedule::Every(10 * MIN);
        let now = t(NOW);
        let cap = Duration::from_secs(12 * 3600);
        let waits: Vec<i64> = (1..=9)
            .map(|n| (after_failure(&every, now, n, 0.0, cap, None, &mut Fixed(0.5)) - now).num_minutes())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 720, 720]);
        // A thousand failures later the feed is still polled, at the cap.
        let much_later = after_failure(&every, now, 1000, 0.1, cap, None, &mut Fixed(0.999));
        assert!(much_later <= now + chrono::Duration::hours(12));
        assert!(much_later > now + chrono::Duration::hours(10));
    }

    #[test]
    fn retry_after_is_honoured_and_clamped() {
        let every = Schedule::Every(MIN);
        let now = t(NOW);
        let cap = Duration::from_secs(12 * 3600);
        let r = parse_retry_after("120", now);
        assert_eq!(r, Some(Duration::from_secs(120)));
        assert_eq!(after_failure(&every, now, 1, 0.0, cap, r, &mut Fixed(0.5)), t("2025-01-26T10:02:00Z"));
        let date = parse_retry_after("Sun, 26 Jan 2025 10:05:00 GMT", now);
        assert_eq!(date, Some(Duration::from_secs(300)));
        let huge = parse_retry_after("999999999", now);
        assert_eq!(huge, Some(MAX_HINT));
        assert_eq!(after_failure(&every, now, 1, 0.0, cap, huge, &mut Fixed(0.5)), t("2025-01-27T10:00:00Z"));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn startup_spreads_overdue_feeds_and_keeps_backoffs() {
        let every = Schedule::Every(30 * MIN);
        let now = t(NOW);
        assert_eq!(at_startup(&every, None, now, &mut Fixed(0.5)), now);
        assert_eq!(
            at_startup(&every, Some(t("2025-01-26T09:00:00Z")), now, &mut Fixed(0.5)),
            t("2025-01-26T10:00:30Z")
        );
        let backoff = t("2025-01-26T14:00:00Z");
        assert_eq!(at_startup(&every, Some(backoff), now, &mut Fixed(0.5)), backoff);
    }

    #[test]
    fn max_age() {
        assert_eq!(parse_max_age("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(parse_max_age("no-cache"), None);
    }
}
