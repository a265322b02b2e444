//! RFC 3339 formatting of timestamps (milliseconds since the Unix epoch, UTC), as the ledger
//! records them and the gates report them.

use jiff::SignedDuration;
use jiff::civil::DateTime;

/// Formats `ms` (milliseconds since 1970-01-01T00:00:00Z) as RFC 3339 in UTC, to the second
/// (sub-second precision is truncated toward the past), e.g. `2023-11-14T22:13:20Z`.
///
/// Instants before the epoch are formatted too (`-1` is `1969-12-31T23:59:59Z`), so a
/// corrupt or hand-edited timestamp still prints as something recognizable instead of failing;
/// one beyond the years -9999..=9999 prints as the nearest end of that range.
pub fn format_rfc3339(ms: i64) -> String {
    // UTC has no offset, so the civil date-time of the epoch plus the seconds is the instant's:
    // jiff's civil range reaches 9999-12-31T23:59:59, which its Timestamp (kept a day inside
    // so that any offset fits) does not.
    let secs = ms.div_euclid(1000);
    let epoch = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);
    let civil = epoch.checked_add(SignedDuration::from_secs(secs)).unwrap_or(if secs < 0 { DateTime::MIN } else { DateTime::MAX });
    format!("{civil:.0}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inverse (Hinnant's `days_from_civil`), written independently to check against.
    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let (month, day) = (i64::from(month), i64::from(day));
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month_from_march = if month > 2 { month - 3 } else { month + 9 };
        let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    #[test]
    fn known_instants_format_as_rfc3339_utc() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(1_795_428_000_000), "2026-11-23T10:00:00Z");
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(1_767_323_045_999), "2026-01-02T03:04:05Z", "milliseconds are truncated");
        assert_eq!(format_rfc3339(4_107_587_696_000), "2100-03-01T12:34:56Z");
        assert_eq!(format_rfc3339(253_402_300_799_000), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn milliseconds_are_truncated_toward_the_past() {
        assert_eq!(format_rfc3339(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(-86_400_000), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        // A corrupt row must still print; only that it does not overflow matters here.
        assert!(format_rfc3339(i64::MAX).ends_with('Z'));
        assert!(format_rfc3339(i64::MIN).ends_with('Z'));
    }

    /// The (year, month, day) a formatted instant names.
    fn civil_of(formatted: &str) -> (i64, u32, u32) {
        let date = formatted.split_once('T').map_or(formatted, |(date, _)| date);
        let mut fields = date.split('-');
        let year = fields.next().and_then(|y| y.parse().ok()).unwrap_or_else(|| panic!("{formatted}"));
        let month = fields.next().and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("{formatted}"));
        let day = fields.next().and_then(|d| d.parse().ok()).unwrap_or_else(|| panic!("{formatted}"));
        (year, month, day)
    }

    #[test]
    fn format_rfc3339_walks_the_calendar_day_by_day() {
        // Every day from 1600-03-01 to 2500-01-01 is a valid date, the day after the previous
        // one, and inverts to the same day number.
        let start = days_from_civil(1600, 3, 1);
        let end = days_from_civil(2500, 1, 1);
        let mut previous = (1600, 2, 29);
        for days in start..=end {
            let (year, month, day) = civil_of(&format_rfc3339(days * 86_400_000));
            assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
            let expected = if day > 1 {
                (year, month, day - 1)
            } else if month > 1 {
                (year, month - 1, month_length(year, month - 1))
            } else {
                (year - 1, 12, 31)
            };
            assert_eq!(previous, expected, "the day before {year}-{month}-{day}");
            assert!(day <= month_length(year, month), "{year}-{month}-{day}");
            previous = (year, month, day);
        }
        assert_eq!(civil_of(&format_rfc3339(0)), (1970, 1, 1));
    }

    fn month_length(year: i64, month: u32) -> u32 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}
