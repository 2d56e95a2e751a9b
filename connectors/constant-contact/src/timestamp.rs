//! RFC 3339 timestamps as instants, without a date library.
//!
//! The API writes times in UTC (`2024-05-01T10:00:44.108Z`), but documents offsets too
//! (`2016-03-03T10:53:04-05:00`), and users pass either as cursors. Comparing the text orders
//! them wrongly (`…T12:00:00+02:00` is earlier than `…T10:30:00Z`), and so does a different
//! number of fractional digits (`…:44Z` sorts after `…:44.108Z`), so the poll trigger compares
//! parsed instants. The connector owns no clock (invariant 1), so this is only arithmetic on
//! times the API or the user gave.

use std::fmt;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_MILLI: u32 = 1_000_000;

/// An instant, normalised to UTC: seconds since the Unix epoch and nanoseconds within the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp {
    secs: i64,
    nanos: u32,
}

impl Timestamp {
    /// Parses an RFC 3339 date-time (`YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`, `t`/`z`/space
    /// accepted too) or a plain `YYYY-MM-DD` date (midnight UTC, which the API accepts as a
    /// filter). `None` for anything else, including a date-time without an offset, whose instant
    /// is unknown.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, rest) = text.split_at_checked(10)?;
        let days = parse_date(date)?;
        if rest.is_empty() {
            return Some(Self {
                secs: days * 86_400,
                nanos: 0,
            });
        }
        let rest = rest
            .strip_prefix(['T', 't', ' '])
            .filter(|r| r.len() >= 9)?;
        let (clock, zone) = rest.split_at_checked(8)?;
        let clock = clock.as_bytes();
        if clock[2] != b':' || clock[5] != b':' {
            return None;
        }
        let hour = two_digits(&clock[0..2])?;
        let minute = two_digits(&clock[3..5])?;
        let second = two_digits(&clock[6..8])?;
        // 60 is a leap second; it counts as the first second of the next minute.
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let (nanos, zone) = match zone.strip_prefix('.') {
            Some(fraction) => {
                let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                let (fraction, zone) = fraction.split_at(digits);
                // Beyond nanoseconds the digits cannot change the order we need; drop them.
                let kept: String = fraction
                    .chars()
                    .chain("000000000".chars())
                    .take(9)
                    .collect();
                (kept.parse::<u32>().ok()?, zone)
            }
            None => (0, zone),
        };
        let offset_secs = parse_offset(zone)?;
        let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
        Some(Self { secs, nanos })
    }

    /// This instant plus `millis` milliseconds.
    pub(crate) fn plus_millis(self, millis: i64) -> Self {
        let total = i128::from(self.secs) * i128::from(NANOS_PER_SEC)
            + i128::from(self.nanos)
            + i128::from(millis) * i128::from(NANOS_PER_MILLI);
        let per_sec = i128::from(NANOS_PER_SEC);
        Self {
            secs: i64::try_from(total.div_euclid(per_sec)).unwrap_or(i64::MAX),
            nanos: u32::try_from(total.rem_euclid(per_sec)).unwrap_or(0),
        }
    }
}

/// Writes the instant in UTC the way the API does (`2024-05-01T10:00:44.108Z`), with more
/// fractional digits only when milliseconds would lose precision.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.secs.div_euclid(86_400));
        let of_day = self.secs.rem_euclid(86_400);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
            of_day / 3_600,
            of_day % 3_600 / 60,
            of_day % 60
        )?;
        if self.nanos.is_multiple_of(NANOS_PER_MILLI) {
            write!(f, "{:03}Z", self.nanos / NANOS_PER_MILLI)
        } else {
            let digits = format!("{:09}", self.nanos);
            write!(f, "{}Z", digits.trim_end_matches('0'))
        }
    }
}

/// Two ASCII digits as a number.
fn two_digits(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` as days since the Unix epoch, checking the day exists.
fn parse_date(date: &str) -> Option<i64> {
    let bytes = date.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = two_digits(&bytes[0..2])? * 100 + two_digits(&bytes[2..4])?;
    let month = two_digits(&bytes[5..7])?;
    let day = two_digits(&bytes[8..10])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// `Z` or `±hh:mm` (also `±hhmm`) as seconds east of UTC.
fn parse_offset(zone: &str) -> Option<i64> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = zone[1..].replacen(':', "", 1);
    let digits = digits.as_bytes();
    if digits.len() != 4 {
        return None;
    }
    let hours = two_digits(&digits[0..2])?;
    let minutes = two_digits(&digits[2..4])?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60))
}

/// (year, month, day) → days since the epoch (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Days since the epoch → (year, month, day) (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap_or_else(|| panic!("`{text}` parses"))
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        assert_eq!(at("2024-05-01T12:00:00+02:00"), at("2024-05-01T10:00:00Z"));
        assert_eq!(
            at("2016-03-03T10:53:04-05:00"),
            at("2016-03-03T15:53:04.000Z")
        );
        assert_eq!(at("2024-05-01T00:30:00+0100"), at("2024-04-30T23:30:00z"));
        assert!(at("2024-05-01T12:00:00+02:00") < at("2024-05-01T10:30:00Z"));
    }

    #[test]
    fn fractions_compare_by_value_not_by_length() {
        assert!(at("2024-05-01T10:00:44.108Z") > at("2024-05-01T10:00:44Z"));
        assert!(at("2024-05-01T10:00:45Z") > at("2024-05-01T10:00:44.999Z"));
        assert_eq!(at("2024-05-01T10:00:44.1Z"), at("2024-05-01T10:00:44.100Z"));
        assert_eq!(
            at("2024-05-01T10:00:44.123456789123Z"),
            at("2024-05-01T10:00:44.123456789Z")
        );
    }

    #[test]
    fn dates_and_epoch_arithmetic_are_right() {
        assert_eq!(at("1970-01-01T00:00:00Z"), Timestamp { secs: 0, nanos: 0 });
        assert_eq!(at("2024-02-29"), at("2024-02-29T00:00:00Z"));
        assert_eq!(at("2024-02-29").secs, 1_709_164_800);
        assert_eq!(at("1969-12-31T23:59:59.5Z").secs, -1);
    }

    #[test]
    fn malformed_or_ambiguous_text_is_refused() {
        for text in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2023-02-29",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00.Z",
            "2024-05-01T10:00Z",
            "2024-05-01T10:00:00+2:00",
            "2024-05-01T10:00:00Zjunk",
            "２０２４-05-01",
        ] {
            assert_eq!(Timestamp::parse(text), None, "{text}");
        }
    }

    #[test]
    fn formatting_is_utc_with_milliseconds() {
        assert_eq!(
            at("2024-05-01T12:00:00+02:00").to_string(),
            "2024-05-01T10:00:00.000Z"
        );
        assert_eq!(
            at("2024-12-31T23:59:59.999Z").plus_millis(1).to_string(),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(
            at("2024-05-01T10:00:44.1234Z").to_string(),
            "2024-05-01T10:00:44.1234Z"
        );
        for text in ["1999-03-01T00:00:00.000Z", "2100-02-28T13:14:15.016Z"] {
            assert_eq!(at(text).to_string(), text);
        }
    }
}
