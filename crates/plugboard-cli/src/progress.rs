//! How a run reports progress: JSON events (`--json`), a progress line on a terminal, or plain
//! log lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use plugboard_workflow::{Event, Observer, SkipReason};

/// The run's observer, chosen once from the output mode.
pub enum Reporter {
    /// One JSON object per event on standard output.
    Json(Mutex<std::io::Stdout>),
    /// A spinner with the current step and counts, on a terminal's standard error.
    Terminal(ProgressBar, Mutex<Loops>),
    /// One line per event on standard error (pipes, CI logs), and a progress line for loops.
    Plain(Mutex<Loops>),
}

/// How often a long loop's progress line is printed in plain output, at the least.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// The `for_each` loops running now, by step id.
#[derive(Default)]
pub struct Loops(HashMap<String, Loop>);

/// One `for_each`'s counts, for its progress line.
struct Loop {
    total: Option<u64>,
    done: u64,
    failed: u64,
    started: Instant,
    last_line: Instant,
    last_tenth: u64,
}

impl Loop {
    fn new(total: Option<u64>) -> Self {
        let now = Instant::now();
        Self {
            total,
            done: 0,
            failed: 0,
            started: now,
            last_line: now,
            last_tenth: 0,
        }
    }

    /// Counts a finished call; true when plain output should print a line now: every tenth
    /// of the loop, at least every [`PLAIN_PROGRESS_EVERY`], and at its end.
    fn count(&mut self, calls: u64, ok: bool) -> bool {
        self.done += calls;
        if !ok {
            self.failed += calls;
        }
        let tenth = self.total.map_or(0, |total| self.done * 10 / total.max(1));
        let due = tenth > self.last_tenth
            || self.last_line.elapsed() >= PLAIN_PROGRESS_EVERY
            || Some(self.done) == self.total;
        if due {
            self.last_tenth = tenth;
            self.last_line = Instant::now();
        }
        due
    }

    /// `12/40 calls, 1 failed, 3.9/s`.
    fn summary(&self) -> String {
        let calls = match self.total {
            Some(total) => format!("{}/{total} calls", self.done),
            None => plural(self.done, "call"),
        };
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            format!(", {:.1}/s", self.done as f64 / seconds)
        } else {
            String::new()
        };
        format!("{calls}, {} failed{rate}", self.failed)
    }
}

impl Loops {
    fn start(&mut self, step: &str, calls: Option<u64>) {
        self.0.insert(step.to_owned(), Loop::new(calls));
    }

    /// Counts a call of `step`'s loop; its progress line when one is due.
    fn item(&mut self, step: &str, of: Option<u64>, calls: u64, ok: bool) -> (bool, String) {
        let entry = self
            .0
            .entry(step.to_owned())
            .or_insert_with(|| Loop::new(None));
        entry.total = entry.total.or(of);
        let due = entry.count(calls, ok);
        (due, format!("  {step}: {}", entry.summary()))
    }

    /// The loop's final counts, when `step` was a loop that made calls.
    fn finish(&mut self, step: &str) -> Option<String> {
        self.0
            .remove(step)
            .filter(|entry| entry.done > 0)
            .map(|entry| entry.summary())
    }
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
            return Self::Terminal(bar, Mutex::default());
        }
        Self::Plain(Mutex::default())
    }

    /// Writes a line that is not an event (e.g. the run id), in the reporter's format.
    pub fn note(&self, message: &str) {
        match self {
            Self::Json(stdout) => {
                let line = serde_json::json!({ "event": "note", "message": message });
                let mut out = stdout.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(out, "{line}");
            }
            Self::Terminal(bar, _) => bar.println(message),
            Self::Plain(_) => eprintln!("{message}"),
        }
    }

    /// Removes the spinner before the final output is printed.
    pub fn finish(&self) {
        if let Self::Terminal(bar, _) = self {
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
            Self::Terminal(bar, loops) => {
                let mut loops = loops.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Event::StepStarted { step, calls } => {
                        loops.start(step, *calls);
                        bar.set_message(format!("{step}…"));
                    }
                    Event::RecordsProgress { step, count } => {
                        bar.set_message(format!("{step}: {}", plural(*count, "record")));
                    }
                    Event::ItemFinished {
                        step,
                        of,
                        ok,
                        error: Some(_),
                        ..
                    } => {
                        let (_, line) = loops.item(step, *of, 1, *ok);
                        bar.set_message(line.trim_start().to_owned());
                        bar.println(describe(event));
                    }
                    Event::ItemFinished { step, of, ok, .. } => {
                        let (_, line) = loops.item(step, *of, 1, *ok);
                        bar.set_message(line.trim_start().to_owned());
                    }
                    Event::ItemsFinished { step, count, of } => {
                        let (_, line) = loops.item(step, *of, *count, true);
                        bar.set_message(line.trim_start().to_owned());
                    }
                    Event::StepFinished { step, .. } => {
                        bar.println(finished_line(event, loops.finish(step)));
                    }
                    other => bar.println(describe(other)),
                }
            }
            Self::Plain(loops) => {
                let mut loops = loops.lock().unwrap_or_else(|e| e.into_inner());
                match event {
                    Event::StepStarted { step, calls } => {
                        loops.start(step, *calls);
                        eprintln!("{}", describe(event));
                    }
                    // A loop's calls show as one progress line every tenth of the loop or two
                    // seconds, not a line each; failures always get theirs.
                    Event::ItemFinished { step, of, ok, .. } => {
                        let (due, line) = loops.item(step, *of, 1, *ok);
                        if !ok {
                            eprintln!("{}", describe(event));
                        }
                        if due {
                            eprintln!("{line}");
                        }
                    }
                    Event::ItemsFinished { step, count, of } => {
                        let (due, line) = loops.item(step, *of, *count, true);
                        if due {
                            eprintln!("{line}");
                        }
                    }
                    Event::StepFinished { step, .. } => {
                        eprintln!("{}", finished_line(event, loops.finish(step)));
                    }
                    _ => eprintln!("{}", describe(event)),
                }
            }
        }
    }
}

/// `✓ step (1234 ms)`, with a loop's final counts.
fn finished_line(event: &Event, counts: Option<String>) -> String {
    match (event, counts) {
        (Event::StepFinished { step, elapsed_ms }, Some(counts)) => {
            format!("✓ {step} ({counts}; {elapsed_ms} ms)")
        }
        _ => describe(event),
    }
}

/// `1 record`, `2 records`.
fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// One human-readable line for an event.
fn describe(event: &Event) -> String {
    match event {
        Event::StepStarted { step, calls } => match calls {
            Some(n) => format!("▸ {step}: {}", plural(*n, "call")),
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
        } => format!("  {step}: {} done", plural(item + 1, "call")),
        Event::ItemFinished {
            step,
            item,
            ok: false,
            error,
            ..
        } => match error {
            Some(error) => format!("  {step}[{item}] failed (continuing): {error}"),
            None => format!("  {step}[{item}] failed"),
        },
        Event::ItemsFinished { step, count, .. } => {
            format!("  {step}: {} more done", plural(*count, "call"))
        }
        Event::RecordsProgress { step, count } => format!("  {step}: {}", plural(*count, "record")),
    }
}
