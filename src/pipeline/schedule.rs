//! When each feed is next due: the regular schedule with jitter, capped exponential
//! backoff after failures, and the server's own hints (Retry-After, Cache-Control
//! max-age, RSS `<ttl>`), which may lengthen a wait but never shorten it.
//!
//! Pure functions of `now` and a random source, so tests can run them on any clock.
//! The schedule types are this stage's own; the configuration builds them.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// When a feed is due.
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron {
        /// As written in the file (5 or 6 fields).
        expr: String,
        schedule: Box<croner::Cron>,
        timezone: Tz,
    },
}

/// How polls are spread and backed off.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default: Schedule,
    /// The shortest interval a feed may have, and the least gap between two cron times.
    pub min_interval: Duration,
    /// Fraction of the interval by which a poll is moved at random (0.1 = ±10 %).
    pub jitter: f64,
    /// Longest wait after repeated failures.
    pub max_backoff: Duration,
}

/// A cron expression that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CronError {
    #[error("cron {expr:?} has {fields} fields; expected 5 (minute hour day month weekday) or 6 (with seconds first)")]
    Fields { expr: String, fields: usize },
    #[error("cron {expr:?}: {reason}")]
    Invalid { expr: String, reason: String },
}

/// A cron expression in Unix numbering: 5 fields (minute hour day-of-month month
/// weekday) or 6 (seconds first); weekdays 0–7 with 0 and 7 both Sunday, or names
/// (`MON`–`SUN`); a day of the month and a weekday both given mean either, as in Vixie
/// cron.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, CronError> {
    let expr = expr.trim();
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(CronError::Fields { expr: expr.to_string(), fields });
    }
    croner::Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| CronError::Invalid { expr: expr.to_string(), reason: e.to_string() })
}

impl Schedule {
    /// A cron schedule in `timezone`.
    pub fn cron(expr: &str, timezone: Tz) -> Result<Schedule, CronError> {
        Ok(Schedule::Cron { expr: expr.trim().to_string(), schedule: Box::new(parse_cron(expr)?), timezone })
    }

    /// The next regular time after `now` (without jitter or backoff).
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let later = |d: chrono::Duration| now.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC);
        match self {
            Schedule::Every(d) => later(chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::MAX)),
            Schedule::Cron { schedule, timezone, .. } => schedule
                .find_next_occurrence(&now.with_timezone(timezone), false)
                .map(|t| t.with_timezone(&Utc))
                // Validation refuses a cron expression that never fires; should one find
                // no time (croner searches a bounded span), it is checked weekly.
                .unwrap_or_else(|_| later(chrono::Duration::days(7))),
        }
    }

    /// The next `n` regular times after `now` (fewer if the schedule has no more).
    pub fn times_after(&self, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        match self {
            Schedule::Every(_) => {
                std::iter::successors(Some(now), |t| Some(self.next_after(*t))).skip(1).take(n).collect()
            }
            Schedule::Cron { schedule, timezone, .. } => {
                schedule.iter_after(now.with_timezone(timezone)).take(n).map(|t| t.with_timezone(&Utc)).collect()
            }
        }
    }

    /// The typical gap between two polls: the interval, or the gap between the
    /// next two cron times. Backoff and jitter scale with it.
    pub fn period(&self, now: DateTime<Utc>) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron { .. } => {
                let a = self.next_after(now);
                let b = self.next_after(a);
                (b - a).to_std().unwrap_or(Duration::from_secs(3600))
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
            Schedule::Cron { expr, timezone, .. } => write!(f, "cron \"{expr}\" ({timezone})"),
        }
    }
}

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

/// Reads Retry-After: seconds, or an HTTP date in any of the three forms HTTP allows
/// (IMF-fixdate, RFC 850, asctime).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_HINT));
    }
    // Servers also send RFC 2822 dates with a numeric zone ("+0000"), which HTTP does not
    // allow but which mean the same.
    let at: DateTime<Utc> = match httpdate::parse_http_date(value) {
        Ok(t) => t.into(),
        Err(_) => DateTime::parse_from_rfc2822(value).ok()?.to_utc(),
    };
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
        let cron = Schedule::cron("*/10 * * * *", chrono_tz::UTC).unwrap();
        let now = t("2025-01-26T10:03:00Z");
        assert_eq!(after_success(&cron, now, 0.1, None, &mut Fixed(0.0)), t("2025-01-26T10:10:00Z"));
        assert_eq!(after_success(&cron, now, 0.1, None, &mut Fixed(0.5)), t("2025-01-26T10:10:30Z"));
    }

    /// Unix cron numbering (0 and 7 are Sunday), names, ranges, day-of-month or weekday,
    /// and the local zone across both DST changes of 2025 in Europe/Berlin (30 March
    /// 02:00 → 03:00, 26 October 03:00 → 02:00). Each row: expression, zone, from
    /// (UTC), the next three times (UTC).
    #[test]
    fn cron_expressions_fire_at_their_unix_times() {
        let table: &[(&str, &str, &str, [&str; 3])] = &[
            // 2025-01-25 is a Saturday.
            (
                "0 6 * * 6",
                "UTC",
                "2025-01-20T00:00:00Z",
                ["2025-01-25T06:00:00Z", "2025-02-01T06:00:00Z", "2025-02-08T06:00:00Z"],
            ),
            (
                "0 6 * * 0",
                "UTC",
                "2025-01-20T00:00:00Z",
                ["2025-01-26T06:00:00Z", "2025-02-02T06:00:00Z", "2025-02-09T06:00:00Z"],
            ),
            (
                "0 6 * * 7",
                "UTC",
                "2025-01-20T00:00:00Z",
                ["2025-01-26T06:00:00Z", "2025-02-02T06:00:00Z", "2025-02-09T06:00:00Z"],
            ),
            (
                "0 6 * * SUN",
                "UTC",
                "2025-01-20T00:00:00Z",
                ["2025-01-26T06:00:00Z", "2025-02-02T06:00:00Z", "2025-02-09T06:00:00Z"],
            ),
            // Monday to Friday: from Friday noon, Monday comes after Friday's 6:00 passed.
            (
                "0 6 * * 1-5",
                "UTC",
                "2025-01-24T12:00:00Z",
                ["2025-01-27T06:00:00Z", "2025-01-28T06:00:00Z", "2025-01-29T06:00:00Z"],
            ),
            (
                "30 8 * * mon-fri",
                "UTC",
                "2025-01-24T12:00:00Z",
                ["2025-01-27T08:30:00Z", "2025-01-28T08:30:00Z", "2025-01-29T08:30:00Z"],
            ),
            (
                "0 0 * * 5,0",
                "UTC",
                "2025-01-20T00:00:00Z",
                ["2025-01-24T00:00:00Z", "2025-01-26T00:00:00Z", "2025-01-31T00:00:00Z"],
            ),
            // Day of month and weekday both given: either (Vixie cron). 1 Feb 2025 is a Saturday.
            (
                "0 0 1 * 1",
                "UTC",
                "2025-01-28T00:00:00Z",
                ["2025-02-01T00:00:00Z", "2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z"],
            ),
            (
                "*/20 * * * *",
                "UTC",
                "2025-01-20T10:05:00Z",
                ["2025-01-20T10:20:00Z", "2025-01-20T10:40:00Z", "2025-01-20T11:00:00Z"],
            ),
            // Six fields: seconds first.
            (
                "30 */15 * * * *",
                "UTC",
                "2025-01-20T10:05:00Z",
                ["2025-01-20T10:15:30Z", "2025-01-20T10:30:30Z", "2025-01-20T10:45:30Z"],
            ),
            (
                "0 9 * * *",
                "Asia/Jakarta",
                "2025-01-20T00:00:00Z",
                ["2025-01-20T02:00:00Z", "2025-01-21T02:00:00Z", "2025-01-22T02:00:00Z"],
            ),
            // Local 06:00 stays 06:00 through spring-forward: 05:00 UTC, then 04:00 UTC.
            (
                "0 6 * * *",
                "Europe/Berlin",
                "2025-03-29T00:00:00Z",
                ["2025-03-29T05:00:00Z", "2025-03-30T04:00:00Z", "2025-03-31T04:00:00Z"],
            ),
            // And back through fall-back.
            (
                "0 6 * * *",
                "Europe/Berlin",
                "2025-10-25T00:00:00Z",
                ["2025-10-25T04:00:00Z", "2025-10-26T05:00:00Z", "2025-10-27T05:00:00Z"],
            ),
            // Hourly across spring-forward: 01:00, then 03:00 local (02:00 does not exist).
            (
                "0 * * * *",
                "Europe/Berlin",
                "2025-03-29T23:30:00Z",
                ["2025-03-30T00:00:00Z", "2025-03-30T01:00:00Z", "2025-03-30T02:00:00Z"],
            ),
            // Weekly on Sunday in Berlin, the Sunday of spring-forward included.
            (
                "0 12 * * 0",
                "Europe/Berlin",
                "2025-03-24T00:00:00Z",
                ["2025-03-30T10:00:00Z", "2025-04-06T10:00:00Z", "2025-04-13T10:00:00Z"],
            ),
        ];
        for (expr, zone, from, want) in table {
            let tz: Tz = zone.parse().unwrap();
            let schedule = Schedule::cron(expr, tz).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let got: Vec<String> =
                schedule.times_after(t(from), 3).iter().map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).collect();
            assert_eq!(got, *want, "{expr} in {zone} from {from}");
            // next_after agrees with the listing.
            assert_eq!(schedule.next_after(t(from)), t(want[0]), "{expr}");
        }
    }

    #[test]
    fn cron_expressions_that_cannot_be_read_say_why() {
        for bad in ["0 6 * *", "0 6 * * * * *", "0 6 * * 8", "61 * * * *", "0 6 * * funday", ""] {
            assert!(parse_cron(bad).is_err(), "{bad:?} accepted");
        }
        let e = parse_cron("0 6 * *").unwrap_err().to_string();
        assert!(e.contains("4 fields") && e.contains("expected 5"), "{e}");
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
        // The two obsolete forms HTTP still requires a recipient to read.
        assert_eq!(parse_retry_after("Sunday, 26-Jan-25 10:05:00 GMT", now), date);
        assert_eq!(parse_retry_after("Sun Jan 26 10:05:00 2025", now), date);
        assert_eq!(parse_retry_after("Sun, 26 Jan 2025 17:05:00 +0700", now), date);
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
