//! `streaming`: exporting a large account to JSON Lines through the built-in connector and
//! through its plugin: wall time, requests against the minimum (pages of 500), peak memory.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use constant_contact_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use super::process::{finish_measured, install, spawn_run, write_workflow};
use super::table::{self, Row, Target};
use super::{CONTACTS_PAGE, Scale, count_lines, timed_with};

/// Exports every contact of a large account to JSON Lines, `heavy_runs` times on one sandbox.
pub(super) fn streaming(
    root: &Path,
    binary: &Path,
    dir: &Path,
    scale: Scale,
) -> anyhow::Result<Vec<Row>> {
    let contacts = scale.streamed_contacts;
    let seeding = Instant::now();
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )?;
    eprintln!(
        "   sandbox seeded with {contacts} contacts in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let out = dir.join("contacts.jsonl");
    let workflow = write_workflow(
        dir,
        "export",
        &json!({
            "steps": [{
                "id": "export",
                "call": "cc.contacts.list",
                "input": { "status": ["all"], "include": ["list_memberships", "taggings"] },
                "records_to": out.display().to_string(),
            }],
            "outputs": { "contacts": "{{ steps.export.output.count }}" }
        }),
    )?;
    let (wall, requests, peak) =
        measure_export(binary, dir, &sandbox, &workflow, &out, scale, &[])?;
    // The same contacts through a bulk export: a handful of requests, the CSV file streamed.
    let bulk_workflow = write_workflow(
        dir,
        "export-bulk",
        &json!({
            "steps": [
                { "id": "export", "call": "cc.bulk.export_contacts", "input": {} },
                {
                    "id": "finished",
                    "call": "cc.bulk.wait_for_activity",
                    "input": { "activity_id": "{{ steps.export.output.activity_id }}" }
                },
                {
                    "id": "rows",
                    "call": "cc.bulk.download_export",
                    "input": { "file_export_id": "{{ steps.finished.output.activity_id }}" },
                    "records_to": out.display().to_string(),
                }
            ],
            "outputs": { "contacts": "{{ steps.rows.output.count }}" }
        }),
    )?;
    let (bulk_wall, bulk_requests, bulk_peak) =
        measure_export(binary, dir, &sandbox, &bulk_workflow, &out, scale, &[])?;
    // The same bulk export with the connector loaded as a plugin: the CSV file crosses the C
    // ABI in pieces (`body_read`), so the peak should stay the built-in's.
    eprintln!("   building the optimized plugin…");
    let plugins = dir.join("plugins");
    crate::plugins::build_into(root, "constant-contact-plugin", &[], true, &plugins)?;
    let plugins = plugins.display().to_string();
    let (plugin_wall, plugin_requests, plugin_peak) = measure_export(
        binary,
        dir,
        &sandbox,
        &bulk_workflow,
        &out,
        scale,
        &["--plugins", &plugins, "--prefer-plugins"],
    )?;
    sandbox.shutdown();
    let name = "streaming export";
    let bulk = "bulk export (CSV streamed)";
    let minimum = contacts.div_ceil(CONTACTS_PAGE);
    Ok(vec![
        Row::new(
            name,
            format!(
                "s to export {} contacts to JSON Lines, process start included",
                table::number(contacts as f64, 0)
            ),
            wall,
            1,
        ),
        Row::new(name, "API requests made", requests, 0).reference(format!(
            "minimum {} (pages of {CONTACTS_PAGE})",
            table::number(minimum as f64, 0)
        )),
        Row::new(name, "MB peak RSS of the runner (VmHWM)", peak, 1).target(Target::Below(100.0)),
        Row::new(
            bulk,
            format!(
                "s to export the same {} contacts, process start included",
                table::number(contacts as f64, 0)
            ),
            bulk_wall,
            1,
        ),
        Row::new(bulk, "API requests made", bulk_requests, 0)
            .reference("create, status checks, one download"),
        Row::new(bulk, "MB peak RSS of the runner (VmHWM)", bulk_peak, 1)
            .target(Target::Below(100.0)),
        Row::new(
            "bulk export, plugin",
            "s for the same bulk export, the connector loaded from its plugin",
            plugin_wall,
            1,
        ),
        Row::new(
            "bulk export, plugin",
            "API requests made",
            plugin_requests,
            0,
        )
        .reference("create, status checks, one download, as the built-in"),
        Row::new(
            "bulk export, plugin",
            "MB peak RSS of the runner (VmHWM)",
            plugin_peak,
            1,
        )
        .target(Target::Below(100.0)),
    ])
}

/// Runs an export workflow `heavy_runs` times against `sandbox` (with `extra` arguments), each
/// on a new state file, and checks each wrote every contact to `out`: wall seconds, API requests
/// and peak RSS per run.
fn measure_export(
    binary: &Path,
    dir: &Path,
    sandbox: &Sandbox,
    workflow: &Path,
    out: &Path,
    scale: Scale,
    extra: &[&str],
) -> anyhow::Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let contacts = scale.streamed_contacts;
    let (mut wall, mut requests, mut peak) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..scale.heavy_runs {
        let stem = workflow
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("run");
        let state = dir.join(format!("state-{stem}-{round}.db"));
        install(sandbox, &state, &["cc".to_owned()])?;
        let before = sandbox.stats().api_requests;
        let (secs, finished) = timed_with(|| {
            let mut args = vec!["--no-rate-limits"];
            args.extend_from_slice(extra);
            finish_measured(spawn_run(binary, &state, workflow, &args)?)
        })?;
        let made = sandbox.stats().api_requests - before;
        let lines = count_lines(out)?;
        if lines != contacts {
            bail!("the export has {lines} lines, the sandbox {contacts} contacts");
        }
        wall.push(secs);
        requests.push(made as f64);
        peak.push(finished.peak_mb);
    }
    Ok((wall, requests, peak))
}
