//! Dates as feeds write them (see [`parse_date`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Reads the many ways feeds write dates: RFC 3339 and RFC 2822 with their common
/// mistakes, W3C-DTF at every precision (a year, a month, minutes without seconds),
/// ISO 8601's basic form (`20030610T040000Z`), English and Indonesian day and month
/// names ("Sen, 3 Mei 2025 10:00 WIB"), zone names (see [`zone_offset`]), and dates
/// without a zone, which are taken to be in `timezone`.
pub fn parse_date(raw: &str, timezone: Tz) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 100 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.to_utc());
    }
    if let Some(t) = w3c_partial(s, timezone) {
        return Some(t);
    }
    let normal = normalise_date(s);
    const ZONED: &[&str] = &[
        "%d %b %Y %H:%M:%S %z",
        "%d %b %Y %H:%M %z",
        "%b %d %Y %H:%M:%S %z",
        "%b %d %Y %H:%M %z",
        // asctime with a zone: "Sun Jan 4 16:29:06 PST 2004".
        "%b %d %H:%M:%S %z %Y",
        // A 12-hour clock: "January 1, 2004 7:48:21 PM GMT".
        "%b %d %Y %I:%M:%S %p %z",
        "%b %d %Y %I:%M %p %z",
        "%d %b %Y %I:%M:%S %p %z",
        "%d %b %Y %I:%M %p %z",
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ];
    for f in ZONED {
        if let Ok(t) = DateTime::parse_from_str(&normal, f) {
            return Some(t.to_utc());
        }
    }
    const LOCAL: &[&str] = &[
        "%d %b %Y %H:%M:%S",
        "%d %b %Y %H:%M",
        "%b %d %Y %H:%M:%S",
        "%b %d %Y %H:%M",
        // asctime: "Thu Jan 1 19:48:21 2004".
        "%b %d %H:%M:%S %Y",
        "%b %d %Y %I:%M:%S %p",
        "%b %d %Y %I:%M %p",
        "%d %b %Y %I:%M:%S %p",
        "%d %b %Y %I:%M %p",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ];
    let local = LOCAL.iter().find_map(|f| NaiveDateTime::parse_from_str(&normal, f).ok()).or_else(|| {
        ["%d %b %Y", "%b %d %Y", "%Y-%m-%d", "%Y/%m/%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(&normal, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    timezone.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

/// Rewrites a date into the shapes `parse_date` tries: day names dropped, month
/// names as English abbreviations, zone names as offsets, words like "pukul" gone.
fn normalise_date(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for word in s.split(|c: char| c.is_whitespace() || c == ',') {
        let w = word.trim_end_matches('.');
        if w.is_empty() {
            continue;
        }
        let lower = w.to_lowercase();
        if let Some(month) = month(&lower) {
            out.push(month.to_string());
        } else if is_day_name(&lower) || matches!(lower.as_str(), "pukul" | "jam" | "at" | "um") {
            continue;
        } else if let Some(offset) = zone_offset(w) {
            out.push(offset.to_string());
        } else if let Some(offset) = offset_after_name(w) {
            out.push(offset);
        } else if is_dotted_time(w) {
            // "19.30", the Indonesian way of writing 19:30.
            out.push(w.replace('.', ":"));
        } else {
            out.push(w.to_string());
        }
    }
    out.join(" ")
}

fn is_dotted_time(w: &str) -> bool {
    let parts: Vec<&str> = w.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

fn month(w: &str) -> Option<&'static str> {
    const MONTHS: &[(&str, &[&str])] = &[
        ("Jan", &["jan", "januari", "january"]),
        ("Feb", &["feb", "februari", "pebruari", "february", "peb"]),
        ("Mar", &["mar", "maret", "march"]),
        ("Apr", &["apr", "april"]),
        ("May", &["mei", "may"]),
        ("Jun", &["jun", "juni", "june"]),
        ("Jul", &["jul", "juli", "july"]),
        ("Aug", &["agu", "agt", "ags", "agustus", "aug", "august"]),
        ("Sep", &["sep", "sept", "september"]),
        ("Oct", &["okt", "oktober", "oct", "october"]),
        ("Nov", &["nov", "nop", "november", "nopember"]),
        ("Dec", &["des", "desember", "dec", "december"]),
    ];
    MONTHS.iter().find(|(_, names)| names.contains(&w)).map(|(en, _)| *en)
}

fn is_day_name(w: &str) -> bool {
    const DAYS: &[&str] = &[
        "senin",
        "sen",
        "selasa",
        "sel",
        "rabu",
        "rab",
        "kamis",
        "kam",
        "jumat",
        "jum'at",
        "jum",
        "sabtu",
        "sab",
        "minggu",
        "min",
        "ahad",
        "mon",
        "monday",
        "tue",
        "tues",
        "tuesday",
        "wed",
        "wednesday",
        "thu",
        "thur",
        "thurs",
        "thursday",
        "fri",
        "friday",
        "sat",
        "saturday",
        "sun",
        "sunday",
    ];
    DAYS.contains(&w)
}

/// W3C-DTF forms RFC 3339 does not take: a year (`2003`), a month (`2003-06`), a time
/// without seconds (`2003-06-10T04:00Z`, `…T04:00+01:00`), a time with a space before
/// the zone, and the basic form (`20030610T040000Z`, `20030610T0400+0100`). A date
/// without a zone is taken to be in `timezone`; a year or month means its first day.
fn w3c_partial(s: &str, timezone: Tz) -> Option<DateTime<Utc>> {
    let local = |d: NaiveDate| timezone.from_local_datetime(&d.and_hms_opt(0, 0, 0)?).earliest().map(|t| t.to_utc());
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    if digits(s, 4) {
        return local(NaiveDate::from_ymd_opt(s.parse().ok()?, 1, 1)?);
    }
    if let Some((y, m)) = s.split_once('-')
        && digits(y, 4)
        && digits(m, 2)
    {
        return local(NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?);
    }
    // The basic form: digits only in the date and the time.
    let basic = s.len() >= 15 && s.as_bytes()[8] == b'T' && digits(&s[..8], 8);
    let extended = if basic {
        let (date, rest) = s.split_at(8);
        let time = &rest[1..];
        let clock_len = time.find(|c: char| !c.is_ascii_digit()).unwrap_or(time.len());
        let (clock, zone) = time.split_at(clock_len);
        let clock = match clock.len() {
            6 => format!("{}:{}:{}", &clock[..2], &clock[2..4], &clock[4..]),
            4 => format!("{}:{}:00", &clock[..2], &clock[2..]),
            _ => return None,
        };
        let zone = match zone.len() {
            5 if zone.starts_with(['+', '-']) => format!("{}:{}", &zone[..3], &zone[3..]),
            _ => zone.to_string(),
        };
        format!("{}-{}-{}T{clock}{zone}", &date[..4], &date[4..6], &date[6..])
    } else {
        s.to_string()
    };
    // Minutes without seconds: add them, then RFC 3339 reads it.
    let t = extended.find('T')?;
    let (date, time) = extended.split_at(t + 1);
    let clock_len = time.find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.')).unwrap_or(time.len());
    let (clock, zone) = time.split_at(clock_len);
    let clock = if clock.len() == 5 { format!("{clock}:00") } else { clock.to_string() };
    let zone = zone.trim();
    let zone = match zone {
        "" => return local_time(&format!("{date}{clock}"), timezone),
        z if z.len() == 5 && z.starts_with(['+', '-']) && z[1..].bytes().all(|b| b.is_ascii_digit()) => {
            format!("{}:{}", &z[..3], &z[3..])
        }
        z => zone_offset(z).map(|o| format!("{}:{}", &o[..3], &o[3..])).unwrap_or_else(|| z.to_string()),
    };
    DateTime::parse_from_rfc3339(&format!("{date}{clock}{zone}")).ok().map(|t| t.to_utc())
}

fn local_time(s: &str, timezone: Tz) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    timezone.from_local_datetime(&t).earliest().map(|t| t.to_utc())
}

/// An offset written after UTC or GMT: `GMT+2`, `UTC+05:30`, `GMT-0800` → `+0200` ….
fn offset_after_name(w: &str) -> Option<String> {
    let rest = w.strip_prefix("GMT").or_else(|| w.strip_prefix("UTC"))?;
    let sign = rest.chars().next().filter(|c| *c == '+' || *c == '-')?;
    let digits: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
    if rest[1..].chars().any(|c| !c.is_ascii_digit() && c != ':') {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<u32>().ok()?, 0),
        3 | 4 => (digits[..digits.len() - 2].parse().ok()?, digits[digits.len() - 2..].parse().ok()?),
        _ => return None,
    };
    (h <= 14 && m < 60).then(|| format!("{sign}{h:02}{m:02}"))
}

/// The offset of a zone name. RFC 822's names (UT, GMT, the North American zones),
/// Indonesia's (WIB, WITA, WIT), and the abbreviations news sites publish for zones
/// whose abbreviation no other common zone uses: Europe's (WET, CET, EET and their
/// summer times, BST as British Summer Time, MSK), Asia's (IST as India's, PKT, ICT,
/// SGT, MYT, PHT, HKT, JST, KST), Australia's and New Zealand's, Hawaii's and
/// Alaska's. Ambiguous ones (AST, SST) are left out: such a date falls back to the
/// feed's zone.
fn zone_offset(w: &str) -> Option<&'static str> {
    Some(match w {
        "WIB" => "+0700",
        "WITA" => "+0800",
        "WIT" => "+0900",
        "GMT" | "UTC" | "UT" | "Z" | "WET" => "+0000",
        "EST" => "-0500",
        "EDT" => "-0400",
        "CST" => "-0600",
        "CDT" => "-0500",
        "MST" => "-0700",
        "MDT" => "-0600",
        "PST" => "-0800",
        "PDT" => "-0700",
        "AKST" => "-0900",
        "AKDT" => "-0800",
        "HST" => "-1000",
        "WEST" | "BST" | "CET" | "MET" => "+0100",
        "CEST" | "MEST" | "EET" => "+0200",
        "EEST" | "MSK" => "+0300",
        "PKT" => "+0500",
        "IST" => "+0530",
        "ICT" => "+0700",
        "SGT" | "MYT" | "PHT" | "HKT" | "AWST" => "+0800",
        "JST" | "KST" => "+0900",
        "ACST" => "+0930",
        "AEST" => "+1000",
        "ACDT" => "+1030",
        "AEDT" => "+1100",
        "NZST" => "+1200",
        "NZDT" => "+1300",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<String> {
        parse_date(s, chrono_tz::Asia::Jakarta).map(|t| t.to_rfc3339())
    }

    #[test]
    fn dates_in_english_indonesian_and_without_zone() {
        let cases = [
            ("Fri, 27 Jun 2025 11:48:17 +0700", "2025-06-27T04:48:17+00:00"),
            ("2025-06-27T11:48:17+07:00", "2025-06-27T04:48:17+00:00"),
            ("Sen, 3 Mei 2025 10:00:00 +0700", "2025-05-03T03:00:00+00:00"),
            ("Jumat, 27 Juni 2025 11:48 WIB", "2025-06-27T04:48:00+00:00"),
            ("Minggu, 26 Januari 2025 pukul 19.30 WIB", "2025-01-26T12:30:00+00:00"),
            ("Thurs, 13 Jul 2011 07:38:00 GMT", "2011-07-13T07:38:00+00:00"),
            ("Wed, 02 Oct 2002 08:00:00 EST", "2002-10-02T13:00:00+00:00"),
            // No zone: taken as the feed's zone (Asia/Jakarta here).
            ("2025-06-27 11:48:17", "2025-06-27T04:48:17+00:00"),
            ("2025-06-27T11:48:17", "2025-06-27T04:48:17+00:00"),
            ("27 Agustus 2025", "2025-08-26T17:00:00+00:00"),
            ("2025-06-27", "2025-06-26T17:00:00+00:00"),
        ];
        for (raw, want) in cases {
            assert_eq!(d(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(d(""), None);
        assert_eq!(d("kemarin sore"), None);
        assert_eq!(d("32 Jan 2025"), None);
    }

    #[test]
    fn w3cdtf_at_every_precision_the_basic_form_and_zone_names() {
        let cases = [
            ("2003-06-10T04:00Z", "2003-06-10T04:00:00+00:00"),
            ("2003-06-10T04:00+01:00", "2003-06-10T03:00:00+00:00"),
            ("2003-06-10T04:00:00.5-05:00", "2003-06-10T09:00:00.500+00:00"),
            ("20030610T040000Z", "2003-06-10T04:00:00+00:00"),
            ("20030610T0400+0100", "2003-06-10T03:00:00+00:00"),
            // A year or a month: its first day, in the feed's zone.
            ("2003", "2002-12-31T17:00:00+00:00"),
            ("2003-06", "2003-05-31T17:00:00+00:00"),
            ("Tue, 10 Jun 2003 04:00:00 CEST", "2003-06-10T02:00:00+00:00"),
            ("Tue, 10 Jun 2003 04:00:00 BST", "2003-06-10T03:00:00+00:00"),
            ("Tue, 10 Jun 2003 04:00:00 AEST", "2003-06-09T18:00:00+00:00"),
            ("2003-06-10 04:00:00 CEST", "2003-06-10T02:00:00+00:00"),
            ("Thu Jan 01 19:48:21 2004", "2004-01-01T12:48:21+00:00"),
            ("Sun Jan  4 16:29:06 PST 2004", "2004-01-05T00:29:06+00:00"),
            ("Thursday, January 1, 2004 7:48:21 PM GMT", "2004-01-01T19:48:21+00:00"),
            ("Wed, 02 Oct 2002 13:00:00 GMT+2", "2002-10-02T11:00:00+00:00"),
            ("Wed, 02 Oct 2002 13:00:00 UTC-05:30", "2002-10-02T18:30:00+00:00"),
        ];
        for (raw, want) in cases {
            assert_eq!(d(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["20031310T040000Z", "2003-13", "12345", "2003-06-10T25:00Z"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }
}
