//! RFC 3339 timestamps as instants.
//!
//! The API writes times in UTC (`2024-05-01T10:00:44.108Z`), but documents offsets too
//! (`2016-03-03T10:53:04-05:00`), and users pass either as cursors. Comparing the text orders
//! them wrongly (`…T12:00:00+02:00` is earlier than `…T10:30:00Z`), and so does a different
//! number of fractional digits (`…:44Z` sorts after `…:44.108Z`), so the poll trigger compares
//! parsed instants. The connector owns no clock (invariant 1), so this is only arithmetic on
//! times the API or the user gave.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};

/// An instant, normalised to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Parses an RFC 3339 date-time or a plain `YYYY-MM-DD` date (midnight UTC, which the API
    /// accepts as a filter). `None` for anything else, including a date-time without an offset,
    /// whose instant is unknown.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        // RFC 3339, or ISO 8601's offset without a colon (`+0100`).
        if let Ok(at) = DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        {
            return Some(Self(at.with_timezone(&Utc)));
        }
        let midnight = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)?
            .and_hms_opt(0, 0, 0)?;
        Some(Self(midnight.and_utc()))
    }

    /// This instant plus `millis` milliseconds.
    pub(crate) fn plus_millis(self, millis: i64) -> Self {
        Self(
            self.0
                .checked_add_signed(TimeDelta::milliseconds(millis))
                .unwrap_or(self.0),
        )
    }
}

/// Writes the instant in UTC the way the API does (`2024-05-01T10:00:44.108Z`), with micro- or
/// nanoseconds only when milliseconds would lose precision.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = if self.0.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
            SecondsFormat::Millis
        } else {
            SecondsFormat::AutoSi
        };
        f.write_str(&self.0.to_rfc3339_opts(precision, true))
    }
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
        assert_eq!(at("1970-01-01T00:00:00Z").0.timestamp(), 0);
        assert_eq!(at("2024-02-29"), at("2024-02-29T00:00:00Z"));
        assert_eq!(at("2024-02-29").0.timestamp(), 1_709_164_800);
        assert_eq!(at("1969-12-31T23:59:59.5Z").0.timestamp(), -1);
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
            "2024-05-01T10:00:44.123400Z"
        );
        for text in ["1999-03-01T00:00:00.000Z", "2100-02-28T13:14:15.016Z"] {
            assert_eq!(at(text).to_string(), text);
        }
    }
}
