//! The figures of a benchmark run and their markdown table: one row per figure, with the median,
//! minimum and maximum of its runs and the target it is held against (issue 5), if any.

use std::fmt::Write as _;

/// What a figure is held against: a bound on its median.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The median must be at least this.
    AtLeast(f64),
    /// The median must be below this.
    Below(f64),
    /// The median must be at most this.
    AtMost(f64),
    /// The median must be exactly this (e.g. zero 429s).
    Exactly(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn met_by(self, value: f64) -> bool {
        match self {
            Self::AtLeast(bound) => value >= bound,
            Self::Below(bound) => value < bound,
            Self::AtMost(bound) => value <= bound,
            Self::Exactly(bound) => value == bound,
        }
    }

    fn describe(self, decimals: usize) -> String {
        match self {
            Self::AtLeast(bound) => format!("≥ {}", number(bound, decimals)),
            Self::Below(bound) => format!("< {}", number(bound, decimals)),
            Self::AtMost(bound) => format!("≤ {}", number(bound, decimals)),
            Self::Exactly(bound) => format!("= {}", number(bound, decimals)),
        }
    }
}

/// One measured figure over one or more runs.
#[derive(Debug, Clone)]
pub struct Row {
    /// The benchmark, as the issue names it.
    pub bench: String,
    /// What was measured, with its unit and conditions.
    pub figure: String,
    /// One value per run.
    pub samples: Vec<f64>,
    /// Decimals to print.
    pub decimals: usize,
    /// The bound the median is held against.
    pub target: Option<Target>,
    /// A figure to compare with when there is no target (e.g. the fewest requests possible).
    pub reference: Option<String>,
}

impl Row {
    /// A row without a target.
    pub fn new(bench: &str, figure: impl Into<String>, samples: Vec<f64>, decimals: usize) -> Self {
        Self {
            bench: bench.to_owned(),
            figure: figure.into(),
            samples,
            decimals,
            target: None,
            reference: None,
        }
    }

    /// The same row shown beside `reference` (in the target column, never "missed").
    #[must_use]
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// The same row held against `target`.
    #[must_use]
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The median of the runs (the mean of the middle two for an even count); NaN without runs.
    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    /// Whether the median misses the row's target.
    pub fn missed(&self) -> bool {
        self.target.is_some_and(|t| !t.met_by(self.median()))
    }
}

/// The median of `values`; NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Renders rows as a markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Benchmark | Figure | Median | Min | Max | Runs | Target or reference |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let min = row.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = row
            .samples
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let (min, max) = if row.samples.is_empty() {
            ("–".to_owned(), "–".to_owned())
        } else {
            (number(min, row.decimals), number(max, row.decimals))
        };
        let target = match row.target {
            None => row.reference.clone().unwrap_or_default(),
            Some(target) if target.met_by(row.median()) => {
                format!("{}: met", target.describe(row.decimals))
            }
            Some(target) => format!("{}: **missed**", target.describe(row.decimals)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {min} | {max} | {} | {target} |",
            row.bench,
            row.figure,
            number(row.median(), row.decimals),
            row.samples.len(),
        );
    }
    out
}

/// `value` with `decimals` decimals and thousands separators (`12,345.6`).
pub fn number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_sets() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(2_040.4, 0), "2,040");
        assert_eq!(number(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(number(98.76, 1), "98.8");
        assert_eq!(number(-1_500.0, 0), "-1,500");
        assert_eq!(number(0.0, 0), "0");
        assert_eq!(number(f64::NAN, 1), "–");
    }

    #[test]
    fn rows_show_whether_their_target_is_met() {
        let rows = [
            Row::new("overhead", "steps/s", vec![1_900.0, 2_100.0, 2_050.0], 0)
                .target(Target::AtLeast(2_000.0)),
            Row::new("limiter", "429s", vec![1.0], 0).target(Target::Exactly(0.0)),
            Row::new("export", "requests", vec![401.0, 400.0, 400.0], 0).reference("minimum 400"),
        ];
        let table = markdown(&rows);
        assert!(
            table.contains("| overhead | steps/s | 2,050 | 1,900 | 2,100 | 3 | ≥ 2,000: met |"),
            "{table}"
        );
        assert!(
            table.contains("| limiter | 429s | 1 | 1 | 1 | 1 | = 0: **missed** |"),
            "{table}"
        );
        assert!(
            table.contains("| export | requests | 400 | 400 | 401 | 3 | minimum 400 |"),
            "{table}"
        );
        assert!(!rows[0].missed());
        assert!(rows[1].missed());
        assert!(!rows[2].missed());
    }
}
