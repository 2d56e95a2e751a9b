//! `cargo xtask bench`: the figures issues 5 and 7 ask for, measured against the in-process
//! Constant Contact sandbox with the optimized `plugboard` binary, and printed as a markdown table
//! (speed is not a test: nothing here is asserted except that the runs did their work).
//!
//! - `overhead`: the sandbox's and the runner's limits off: steps per second of a workflow of
//!   `account.get_summary` steps, and the runner's time per step against a bare reqwest loop
//!   sending the same GET from this process (the HTTP path's overhead, as a ratio).
//! - `streaming`: exporting a large account to JSON Lines: wall time, requests against the
//!   minimum (pages of 500), the runner's peak memory.
//! - `bulk-import`: importing contacts from a CSV file through `bulk.import_contacts` in batches
//!   of 40,000: requests against the minimum, wall time, peak memory.
//! - `plugin-load`: loading the release-built Constant Contact plugin and reading its manifest.
//! - `limiter`: one process at Constant Contact's real limits (4/s): the share of the allowed
//!   rate used and the 429s seen.
//! - `shared-limiter`: three processes, three connections of one application key, one state
//!   file: their sum must stay within 4/s.
//! - `temporal`: steps per second and per step on Temporal (PostgreSQL state) with 1 and 3
//!   workers, beside the same workload embedded; it starts PostgreSQL and a Temporal dev server.
//!
//! Each benchmark starts its own sandbox in this process, installs connections straight into
//! fresh state files (tokens minted by the sandbox, so no browser is involved) and runs workflow
//! files it writes under `target/bench/<name>/`. Fast benchmarks run [`Scale::runs`] times, the
//! heavy ones [`Scale::heavy_runs`] times, the limiter ones once; the table gives the median, the
//! minimum and the maximum.

mod in_process;
mod process;
mod streaming;
pub mod table;
mod temporal;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use constant_contact_sandbox::{MAX_IMPORT_BYTES, MAX_IMPORT_CONTACTS, Sandbox, SandboxConfig};
use serde_json::json;

use process::{finish, finish_measured, install, repeat_calls, spawn_run, write_workflow};
use table::{Row, Target};

/// The benchmarks, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bench {
    /// Steps per second with every limit off, and the HTTP path against a bare reqwest loop.
    Overhead,
    /// Exporting a large account: wall time, requests, peak memory.
    Streaming,
    /// Importing contacts from a file: requests, wall time, peak memory.
    BulkImport,
    /// Loading the plugin library and reading its manifest.
    PluginLoad,
    /// One process at 4 requests/second for about a minute.
    Limiter,
    /// Three processes sharing one application key's 4 requests/second.
    SharedLimiter,
    /// Steps per second and per step on Temporal with 1 and 3 workers, beside embedded.
    Temporal,
}

impl Bench {
    /// Every benchmark, in the order a full run takes them (the long limiter runs last).
    pub const ALL: [Bench; 7] = [
        Bench::Overhead,
        Bench::Streaming,
        Bench::BulkImport,
        Bench::PluginLoad,
        Bench::Limiter,
        Bench::SharedLimiter,
        Bench::Temporal,
    ];

    /// The name on the command line, also the directory under `target/bench/`.
    pub fn name(self) -> &'static str {
        match self {
            Bench::Overhead => "overhead",
            Bench::Streaming => "streaming",
            Bench::BulkImport => "bulk-import",
            Bench::PluginLoad => "plugin-load",
            Bench::Limiter => "limiter",
            Bench::SharedLimiter => "shared-limiter",
            Bench::Temporal => "temporal",
        }
    }
}

/// How big and how often: `FULL` for the figures, `QUICK` to check that the benchmarks work.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Runs of the fast benchmarks (overhead, HTTP path, plugin load).
    pub runs: usize,
    /// Runs of the heavy ones (streaming, bulk import).
    pub heavy_runs: usize,
    /// Seconds of traffic at 4/s for the limiter benchmarks (run once each).
    pub limited_seconds: u32,
    /// Steps of the overhead benchmark (also requests of the bare loop).
    pub overhead_steps: u32,
    /// Contacts of the streaming benchmark.
    pub streamed_contacts: usize,
    /// Rows of the bulk-import file.
    pub imported_contacts: usize,
    /// Steps of a run of the Temporal benchmark.
    pub temporal_steps: u32,
}

impl Scale {
    /// The sizes the issues' figures are stated for.
    pub const FULL: Self = Self {
        runs: 5,
        heavy_runs: 3,
        limited_seconds: 60,
        overhead_steps: 10_000,
        streamed_contacts: 200_000,
        imported_contacts: 100_000,
        temporal_steps: 500,
    };
    /// A short run that checks the benchmarks work (its figures mean little).
    pub const QUICK: Self = Self {
        runs: 2,
        heavy_runs: 2,
        limited_seconds: 5,
        overhead_steps: 500,
        streamed_contacts: 5_000,
        imported_contacts: 45_000,
        temporal_steps: 100,
    };
}

/// Page size of `contacts.list` (the API's maximum), for the streaming minimum.
const CONTACTS_PAGE: usize = 500;
/// Contacts per call of the bulk-import workflow's `for_each` (the API's per-import maximum).
const IMPORT_BATCH: usize = 40_000;
/// The allowed rate of the limiter benchmarks: Constant Contact's 4 requests/second.
const ALLOWED_PER_SECOND: f64 = 4.0;

/// `cargo xtask bench` from an unoptimized `xtask`: builds the optimized one and runs it with the
/// same arguments, since the sandbox, the bare reqwest loop and the plugin loader run in this
/// process and must be measured optimized too.
pub fn rerun_optimized(root: &Path) -> anyhow::Result<()> {
    eprintln!("building the optimized xtask…");
    let xtask = crate::plugins::build_binary_profile(root, "xtask", "xtask", true)?;
    let status = std::process::Command::new(&xtask)
        .args(std::env::args_os().skip(1))
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {}", xtask.display()))?;
    if !status.success() {
        bail!("the optimized benchmark run failed ({status})");
    }
    Ok(())
}

/// Runs the benchmarks, prints progress on stderr and the figures as a markdown table on stdout.
/// A failed benchmark does not stop the others; the run fails at the end if any did.
pub fn run(root: &Path, benches: &[Bench], scale: Scale) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this xtask is not optimized; in-process figures are not comparable");
    }
    let load_before = load_average();
    eprintln!("building the optimized plugboard binary…");
    let binary = crate::plugins::build_binary_profile(root, "plugboard-cli", "plugboard", true)?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    let started = Instant::now();
    for &bench in benches {
        let dir = root.join("target/bench").join(bench.name());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        eprintln!("== {}", bench.name());
        let bench_started = Instant::now();
        let result = match bench {
            Bench::Overhead => overhead(&binary, &dir, scale),
            Bench::Streaming => streaming::streaming(root, &binary, &dir, scale),
            Bench::BulkImport => bulk_import(&binary, &dir, scale),
            Bench::PluginLoad => plugin_load(root, &dir, scale),
            Bench::Limiter => limiter(&binary, &dir, 1, scale),
            Bench::SharedLimiter => limiter(&binary, &dir, 3, scale),
            Bench::Temporal => temporal::temporal(root, &binary, &dir, scale),
        };
        match result {
            Ok(new) => {
                for row in &new {
                    eprintln!(
                        "   {}: {} (runs: {})",
                        row.figure,
                        table::number(row.median(), row.decimals),
                        row.samples.len()
                    );
                }
                rows.extend(new);
            }
            Err(error) => {
                eprintln!("   FAILED: {error:#}");
                failed.push(bench.name());
            }
        }
        eprintln!("   ({:.0} s)", bench_started.elapsed().as_secs_f64());
    }
    println!();
    println!("{}", machine(load_before, started.elapsed().as_secs_f64()));
    println!();
    println!("{}", table::markdown(&rows));
    let missed: Vec<String> = rows
        .iter()
        .filter(|row| row.missed())
        .map(|row| format!("{}: {}", row.bench, row.figure))
        .collect();
    if !missed.is_empty() {
        println!("Targets missed:\n- {}", missed.join("\n- "));
    }
    if !failed.is_empty() {
        bail!("benchmarks failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Runner steps per second with every limit off, and the HTTP path against a bare reqwest loop.
///
/// Each round uses a fresh state file and measures, in this order: the bare loop (N requests),
/// a one-step run (the fixed cost: process start, opening the store, validation), N steps at
/// concurrency 1 and N steps at concurrency 4. The runner's time per step is
/// `(T(N) - T(1)) / (N - 1)`: the fixed cost excluded, as the bare loop has none.
fn overhead(binary: &Path, dir: &Path, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts: 20,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )?;
    let steps = scale.overhead_steps.max(2);
    let method = "account.get_summary";
    let one = write_workflow(dir, "overhead-one", &repeat_calls("cc", method, 1, 1))?;
    let serial = write_workflow(dir, "overhead-1", &repeat_calls("cc", method, steps, 1))?;
    let parallel = write_workflow(dir, "overhead-4", &repeat_calls("cc", method, steps, 4))?;
    let no_limits = ["--no-rate-limits"];
    let (mut bare_us, mut start_ms, mut per_step_us, mut ratio) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut serial_rate, mut parallel_rate) = (Vec::new(), Vec::new());
    for round in 0..scale.runs {
        let state = dir.join(format!("state-{round}.db"));
        install(&sandbox, &state, &["cc".to_owned()])?;
        let token = sandbox.mint_tokens().access_token;
        let bare = in_process::bare_reqwest_loop(&sandbox.api_base_url(), &token, steps)?;
        let fixed = timed(|| finish(spawn_run(binary, &state, &one, &no_limits)?))?;
        let (serial_secs, finished) =
            timed_with(|| finish(spawn_run(binary, &state, &serial, &no_limits)?))?;
        expect_calls(&finished.outputs()?, steps)?;
        let (parallel_secs, finished) =
            timed_with(|| finish(spawn_run(binary, &state, &parallel, &no_limits)?))?;
        expect_calls(&finished.outputs()?, steps)?;
        let step = (serial_secs - fixed) * 1e6 / f64::from(steps - 1);
        bare_us.push(bare);
        start_ms.push(fixed * 1e3);
        per_step_us.push(step);
        ratio.push(step / bare);
        serial_rate.push(f64::from(steps) / serial_secs);
        parallel_rate.push(f64::from(steps) / parallel_secs);
    }
    let stats = sandbox.stats();
    if stats.throttled_429 + stats.quota_429 + stats.unauthorized_401 > 0 {
        bail!("the unlimited sandbox refused requests: {stats:?}");
    }
    sandbox.shutdown();
    let shown = table::number(f64::from(steps), 0);
    let overhead = "runner overhead";
    let http = "HTTP path";
    Ok(vec![
        Row::new(
            overhead,
            format!("steps/s, {shown} `{method}` steps, concurrency 1, process start included"),
            serial_rate,
            0,
        )
        .target(Target::AtLeast(2_000.0)),
        Row::new(
            overhead,
            format!("steps/s, {shown} `{method}` steps, concurrency 4, process start included"),
            parallel_rate,
            0,
        )
        .target(Target::AtLeast(2_000.0)),
        Row::new(
            overhead,
            "ms for a one-step run (process start, store, validation, 1 request)",
            start_ms,
            1,
        ),
        Row::new(
            http,
            format!("µs per request, bare reqwest loop, {shown} sequential GETs"),
            bare_us,
            0,
        ),
        Row::new(
            http,
            "µs per step, runner at concurrency 1, one-step run subtracted",
            per_step_us,
            0,
        ),
        Row::new(
            http,
            "ratio runner step ÷ bare request (per round)",
            ratio,
            2,
        ),
    ])
}

/// Imports contacts from a CSV file onto a new list in batches of 40,000, each run on a fresh
/// sandbox (so every run creates the same contacts).
fn bulk_import(binary: &Path, dir: &Path, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let rows = scale.imported_contacts;
    let file = dir.join("contacts.csv");
    let contact_bytes = write_contacts_csv(&file, rows)?;
    // The body's envelope with one list id (a 36-character UUID), without contacts.
    let envelope = json!({ "import_data": [], "list_ids": ["0".repeat(36)] })
        .to_string()
        .len();
    let by_count = rows.div_ceil(MAX_IMPORT_CONTACTS);
    let by_size = contact_bytes.div_ceil(MAX_IMPORT_BYTES - 1 - envelope);
    let minimum = by_count.max(by_size);
    let workflow = write_workflow(
        dir,
        "import",
        &json!({
            "steps": [
                {
                    "id": "list",
                    "call": "cc.contact_lists.create",
                    "input": { "name": "bench import" }
                },
                { "id": "rows", "read": { "path": file.display().to_string(), "format": "csv" } },
                {
                    "id": "import",
                    "for_each": "{{ steps.rows.records }}",
                    "batch": IMPORT_BATCH,
                    "call": "cc.bulk.import_contacts",
                    "input": {
                        "contacts": "{{ batch }}",
                        "list_ids": ["{{ steps.list.output.list_id }}"]
                    }
                }
            ],
            "outputs": {
                "rows": "{{ steps.import.output.records }}",
                "calls": "{{ steps.import.output.calls }}",
                "failed": "{{ steps.import.output.failed }}"
            }
        }),
    )?;
    let (mut wall, mut requests, mut peak) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..scale.heavy_runs {
        let seeded = 20;
        let sandbox = Sandbox::spawn(
            SandboxConfig {
                contacts: seeded,
                ..SandboxConfig::default()
            }
            .unlimited(),
        )?;
        let state = dir.join(format!("state-{round}.db"));
        install(&sandbox, &state, &["cc".to_owned()])?;
        let before = sandbox.stats().api_requests;
        let (secs, finished) = timed_with(|| {
            finish_measured(spawn_run(binary, &state, &workflow, &["--no-rate-limits"])?)
        })?;
        // Every request but the list's creation is an import.
        let imports = sandbox.stats().api_requests - before - 1;
        let outputs = finished.outputs()?;
        if outputs["rows"] != json!(rows) || outputs["failed"] != json!(0) {
            bail!("the import run's outputs are {outputs}, expected {rows} rows, none failed");
        }
        let created = sandbox.contact_count() - seeded;
        if created != rows {
            bail!("the sandbox holds {created} new contacts after importing {rows}");
        }
        sandbox.shutdown();
        wall.push(secs);
        requests.push(imports as f64);
        peak.push(finished.peak_mb);
    }
    let name = "bulk import";
    Ok(vec![
        Row::new(
            name,
            format!(
                "s to import {} contacts from CSV in batches of {}, not waiting for the \
                 activities, process start included",
                table::number(rows as f64, 0),
                table::number(IMPORT_BATCH as f64, 0)
            ),
            wall,
            1,
        ),
        Row::new(
            name,
            format!(
                "import requests made ({} MB of contacts as JSON)",
                table::number(contact_bytes as f64 / 1e6, 1)
            ),
            requests,
            0,
        )
        .reference(format!(
            "minimum {by_count} at 40,000 per import; {minimum} with bodies under 4 MiB"
        )),
        Row::new(name, "MB peak RSS of the runner (VmHWM)", peak, 1),
    ])
}

/// Loads copies of the release-built plugin library in this process, timing load + manifest.
fn plugin_load(root: &Path, dir: &Path, scale: Scale) -> anyhow::Result<Vec<Row>> {
    eprintln!("   building the optimized plugin…");
    let library = crate::plugins::build_into(root, "constant-contact-plugin", &[], true, dir)?;
    let size_mb = std::fs::metadata(&library)
        .with_context(|| format!("cannot read {}", library.display()))?
        .len() as f64
        / 1e6;
    let copies = dir.join("copies");
    std::fs::create_dir_all(&copies)
        .with_context(|| format!("cannot create {}", copies.display()))?;
    let times = in_process::plugin_loads(&library, &copies, scale.runs)?;
    Ok(vec![Row::new(
        "plugin load",
        format!(
            "ms to load the Constant Contact plugin ({size_mb:.1} MB, page-cached) and read its \
             manifest"
        ),
        times,
        2,
    )])
}

/// `processes` processes, each on its own connection of the same application key, share 4/s.
fn limiter(binary: &Path, dir: &Path, processes: u32, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: 20,
        ..SandboxConfig::default()
    })?;
    let state = dir.join("state.db");
    let connections: Vec<String> = (1..=processes).map(|n| format!("cc{n}")).collect();
    install(&sandbox, &state, &connections)?;
    // 4/s for the whole duration, split between the processes, plus the first request.
    let total = 4 * scale.limited_seconds + 1;
    let per_process = total.div_ceil(processes);
    let mut children = Vec::new();
    let started = Instant::now();
    for connection in &connections {
        let workflow = write_workflow(
            dir,
            connection,
            &repeat_calls(connection, "account.get_summary", per_process, 4),
        )?;
        children.push(spawn_run(binary, &state, &workflow, &[])?);
    }
    for child in children {
        finish(child)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = sandbox.stats();
    sandbox.shutdown();
    let requests = u64::from(per_process * processes);
    if stats.api_served != requests {
        bail!(
            "the sandbox served {} API requests, the runs made {requests}",
            stats.api_served
        );
    }
    // Intervals between the first and the last request over the whole time, process starts
    // included (which only lowers the figure).
    let rate = requests.saturating_sub(1) as f64 / elapsed;
    let (name, who) = if processes == 1 {
        ("limiter", "1 process".to_owned())
    } else {
        (
            "shared limiter",
            format!("{processes} processes, one client_id"),
        )
    };
    Ok(vec![
        Row::new(
            name,
            format!("% of 4 req/s used, {requests} requests in {elapsed:.1} s, {who}"),
            vec![rate / ALLOWED_PER_SECOND * 100.0],
            1,
        )
        .target(Target::AtLeast(98.0)),
        Row::new(
            name,
            format!("429 answers (throttled + quota), {who}"),
            vec![(stats.throttled_429 + stats.quota_429) as f64],
            0,
        )
        .target(Target::Exactly(0.0)),
        Row::new(
            name,
            format!("most requests the sandbox admitted in one rolling second, {who}"),
            vec![stats.peak_per_second as f64],
            0,
        )
        .target(Target::AtMost(ALLOWED_PER_SECOND)),
    ])
}

/// Writes `rows` contacts as CSV (the columns of a typical export) and returns how many bytes
/// their JSON objects take in import bodies, commas between them included.
fn write_contacts_csv(path: &Path, rows: usize) -> anyhow::Result<usize> {
    use std::io::Write as _;
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let columns = [
        "email",
        "first_name",
        "last_name",
        "company_name",
        "job_title",
    ];
    let titles = ["Engineer", "Manager", "Director", "Analyst", "Consultant"];
    writeln!(out, "{}", columns.join(","))?;
    let mut json_bytes = 0;
    for n in 0..rows {
        let values = [
            format!("contact{n:06}@bench-import.example"),
            format!("First{n}"),
            format!("Last{n}"),
            format!("Company {}", n % 997),
            titles[n % titles.len()].to_owned(),
        ];
        writeln!(out, "{}", values.join(","))?;
        let object: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(values)
            .map(|(column, value)| ((*column).to_owned(), json!(value)))
            .collect();
        json_bytes += serde_json::to_string(&object)?.len() + usize::from(n > 0);
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(json_bytes)
}

/// Checks a repeat-calls run's `calls` output.
fn expect_calls(outputs: &serde_json::Value, steps: u32) -> anyhow::Result<()> {
    if outputs["calls"] != json!(steps) {
        bail!("the run's outputs are {outputs}, expected {steps} calls");
    }
    Ok(())
}

fn count_lines(path: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.iter().filter(|&&b| b == b'\n').count())
}

/// Seconds `work` took.
fn timed<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    timed_with(work).map(|(secs, _)| secs)
}

/// Seconds `work` took, and its result.
fn timed_with<T>(work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(f64, T)> {
    let started = Instant::now();
    let value = work()?;
    Ok((started.elapsed().as_secs_f64(), value))
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

/// What the run ran on, as a markdown list: date, CPUs, model, memory, kernel, load.
fn machine(load_before: String, seconds: f64) -> String {
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown", |(_, model)| model.trim());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("unknown".to_owned(), |kb| {
            format!("{:.1} GiB", kb / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "- date: {date}; whole run {seconds:.0} s\n\
         - machine: {cpus} CPUs ({model}), {memory} RAM, Linux {kernel}\n\
         - load average (1, 5, 15 min): {load_before} before, {} after",
        load_average()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contacts_file_has_a_header_and_counts_its_json_like_an_import_body() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("contacts.csv");
        let bytes = write_contacts_csv(&path, 3).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0],
            "email,first_name,last_name,company_name,job_title"
        );
        assert_eq!(
            lines[2],
            "contact000001@bench-import.example,First1,Last1,Company 1,Manager"
        );
        // The contacts as the `import_data` array of a body, without its brackets.
        let header: Vec<&str> = lines[0].split(',').collect();
        let objects: Vec<serde_json::Map<String, serde_json::Value>> = lines[1..]
            .iter()
            .map(|line| {
                header
                    .iter()
                    .zip(line.split(','))
                    .map(|(name, value)| ((*name).to_owned(), json!(value)))
                    .collect()
            })
            .collect();
        let array = serde_json::to_string(&objects).expect("encodes");
        assert_eq!(bytes, array.len() - 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
