//! Times as users read them: absolute in their zone, and relative ("11 days ago").

use jiff::{tz::TimeZone, Timestamp};

/// `Mon, 22 Aug 2022 11:34:59 CEST` in the given zone.
pub fn format_time(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a, %d %b %Y %H:%M:%S %Z")
        .to_string()
}

/// `Mon, 22 Aug 2022 11:34:59 CEST • 15 days ago`.
pub fn format_time_with_age(t: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    format!("{} • {}", format_time(t, tz), ago(t, now))
}

/// `15 days ago`, or `in 3 minutes` for a time in the future.
pub fn ago(t: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second() - t.as_second();
    if secs >= 0 {
        format!("{} ago", humanize_seconds(secs))
    } else {
        format!("in {}", humanize_seconds(-secs))
    }
}

/// A length of time in words: `59 seconds`, `about a minute`, `9 minutes`, `14 hours`, `one day`.
pub fn humanize_seconds(secs: i64) -> String {
    const MIN: i64 = 60;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    let rounded = |unit: i64| (secs + unit / 2) / unit;
    match secs {
        s if s < 1 => "0 seconds".to_string(),
        1 => "one second".to_string(),
        s if s < MIN => format!("{s} seconds"),
        s if s < 2 * MIN => "about a minute".to_string(),
        s if s < HOUR - MIN / 2 => format!("{} minutes", rounded(MIN)),
        s if s < 2 * HOUR - HOUR / 2 => "about an hour".to_string(),
        s if s < DAY - HOUR / 2 => format!("{} hours", rounded(HOUR)),
        s if s < 2 * DAY - DAY / 4 => "one day".to_string(),
        s if s < 30 * DAY => format!("{} days", rounded(DAY)),
        s if s < 45 * DAY => "about a month".to_string(),
        s if s < 365 * DAY => format!("{} months", rounded(30 * DAY)),
        s if s < 2 * 365 * DAY => "about a year".to_string(),
        _ => format!("{} years", rounded(365 * DAY)),
    }
}

/// Milliseconds since the epoch, as the store keeps times.
pub fn to_millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch rather than panic.
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_tutorials() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let t: Timestamp = "2022-08-22T09:34:59Z".parse().unwrap();
        assert_eq!(format_time(t, &tz), "Mon, 22 Aug 2022 11:34:59 CEST");
    }

    #[test]
    fn humanizes_env_log_durations() {
        assert_eq!(humanize_seconds(59), "59 seconds");
        assert_eq!(humanize_seconds(60), "about a minute");
        assert_eq!(humanize_seconds(9 * 60), "9 minutes");
        assert_eq!(humanize_seconds(49 * 60), "49 minutes");
        assert_eq!(humanize_seconds(13 * 3600 + 50 * 60), "14 hours");
        assert_eq!(humanize_seconds(31 * 3600 + 27 * 60), "one day");
        assert_eq!(humanize_seconds(15 * 86400), "15 days");
    }
}
