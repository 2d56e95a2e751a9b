//! How a run reports progress: JSON events (`--json`), a progress line on a terminal, or plain
//! log lines otherwise.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use plugboard_workflow::{Event, Observer, SkipReason};

/// The run's observer, chosen once from the output mode.
pub enum Reporter {
    /// One JSON object per event on standard output.
    Json(Mutex<std::io::Stdout>),
    /// A spinner with the current step and counts, on a terminal's standard error.
    Terminal(ProgressBar),
    /// One line per event on standard error (pipes, CI logs).
    Plain,
}

impl Reporter {
    /// JSON when asked for, a spinner when standard error is a terminal, plain lines otherwise.
    pub fn new(json: bool) -> Self {
        if json {
            return Self::Json(Mutex::new(std::io::stdout()));
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            return Self::Terminal(bar);
        }
        Self::Plain
    }

    /// Writes a line that is not an event (e.g. the run id), in the reporter's format.
    pub fn note(&self, message: &str) {
        match self {
            Self::Json(stdout) => {
                let line = serde_json::json!({ "event": "note", "message": message });
                let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(out, "{line}");
            }
            Self::Terminal(bar) => bar.println(message),
            Self::Plain => eprintln!("{message}"),
        }
    }

    /// Removes the spinner before the final output is printed.
    pub fn finish(&self) {
        if let Self::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Reporter {
    fn event(&self, event: &Event) {
        match self {
            Self::Json(stdout) => {
                if let Ok(line) = serde_json::to_string(event) {
                    let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = writeln!(out, "{line}");
                }
            }
            Self::Terminal(bar) => match event {
                Event::StepStarted { step, .. } => bar.set_message(format!("{step}…")),
                Event::RecordsProgress { step, count } => {
                    bar.set_message(format!("{step}: {count} records"));
                }
                Event::ItemFinished { step, item, .. } => {
                    bar.set_message(format!("{step}: {} calls", item + 1));
                }
                other => bar.println(describe(other)),
            },
            Self::Plain => match event {
                // A line per successful item would drown the log of a long loop: show every
                // thousandth, and every failure.
                Event::ItemFinished { ok: true, item, .. } if (item + 1) % 1000 != 0 => {}
                _ => eprintln!("{}", describe(event)),
            },
        }
    }
}

/// One human-readable line for an event.
fn describe(event: &Event) -> String {
    match event {
        Event::StepStarted { step, calls } => match calls {
            Some(n) => format!("▸ {step}: {n} calls"),
            None => format!("▸ {step}"),
        },
        Event::StepSkipped { step, reason } => match reason {
            SkipReason::Condition => format!("· {step}: skipped (condition is false)"),
            SkipReason::Completed => format!("· {step}: done in an earlier attempt"),
        },
        Event::StepFinished { step, elapsed_ms } => format!("✓ {step} ({elapsed_ms} ms)"),
        Event::StepFailed {
            step,
            item,
            error,
            continued,
        } => {
            let at = item.map(|i| format!(" item {i}")).unwrap_or_default();
            let then = if *continued { " (continuing)" } else { "" };
            format!("✗ {step}{at}: {error}{then}")
        }
        Event::Retrying {
            step,
            item,
            attempt,
            delay_ms,
            error,
        } => {
            let at = item.map(|i| format!(" item {i}")).unwrap_or_default();
            format!("↻ {step}{at}: attempt {attempt} in {delay_ms} ms after: {error}")
        }
        Event::ItemFinished {
            step,
            item,
            ok: true,
            ..
        } => format!("  {step}: {} calls done", item + 1),
        Event::ItemFinished {
            step,
            item,
            ok: false,
            error,
        } => match error {
            Some(error) => format!("  {step}[{item}] failed (continuing): {error}"),
            None => format!("  {step}[{item}] failed"),
        },
        Event::RecordsProgress { step, count } => format!("  {step}: {count} records"),
    }
}
