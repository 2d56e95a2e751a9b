//! Generating the committed JSON Schemas under `schemas/` (invariant 5).
//!
//! Every schema is derived from Rust types, so the files are never edited by hand: `write` renders
//! them, `check` compares the committed files with a fresh rendering and shows a diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use plugboard_core::Manifest;
use plugboard_runner::Registry;

/// The directory, relative to the workspace root.
pub const SCHEMAS_DIR: &str = "schemas";

/// Every generated file: path relative to `schemas/` → contents.
pub fn render() -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("manifest.schema.json"),
        pretty(&schemars::schema_for!(Manifest))?,
    );
    files.insert(
        PathBuf::from("workflow.schema.json"),
        pretty(&plugboard_workflow::schema())?,
    );
    // The same text `GET /v1/openapi.json` serves.
    files.insert(
        PathBuf::from("service.openapi.json"),
        plugboard_service::openapi::document_json().to_owned(),
    );
    let (registry, problems) = Registry::with_builtins();
    if let Some(problem) = problems.first() {
        bail!("built-in connectors do not load: {problem}");
    }
    for connector in registry.iter() {
        let manifest = connector.manifest();
        let dir = PathBuf::from("connectors").join(&manifest.id);
        files.insert(
            dir.join("settings.schema.json"),
            pretty(&manifest.settings_schema)?,
        );
        for method in &manifest.methods {
            let methods = dir.join("methods");
            files.insert(
                methods.join(format!("{}.input.schema.json", method.id)),
                pretty(&method.input_schema)?,
            );
            files.insert(
                methods.join(format!("{}.output.schema.json", method.id)),
                pretty(&method.output_schema)?,
            );
            if let Some(record) = &method.record_schema {
                files.insert(
                    methods.join(format!("{}.record.schema.json", method.id)),
                    pretty(record)?,
                );
            }
        }
    }
    Ok(files)
}

fn pretty(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(value).context("cannot render a schema")?;
    text.push('\n');
    Ok(text)
}

/// Every file currently under `schemas/`, relative to it.
fn committed(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)
            .with_context(|| format!("cannot read {}", current.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_owned();
                files.insert(relative, text);
            }
        }
    }
    Ok(files)
}

/// Writes the schemas and removes stale ones; returns a one-line report.
pub fn write(root: &Path) -> anyhow::Result<String> {
    let dir = root.join(SCHEMAS_DIR);
    let fresh = render()?;
    let old = committed(&dir)?;
    let mut changed = 0;
    for (path, text) in &fresh {
        if old.get(path) != Some(text) {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&target, text)
                .with_context(|| format!("cannot write {}", target.display()))?;
            changed += 1;
        }
    }
    let mut removed = 0;
    for path in old.keys().filter(|p| !fresh.contains_key(*p)) {
        let target = dir.join(path);
        std::fs::remove_file(&target)
            .with_context(|| format!("cannot remove {}", target.display()))?;
        removed += 1;
    }
    Ok(format!(
        "{} schemas in {SCHEMAS_DIR}/: {changed} written, {removed} removed",
        fresh.len()
    ))
}

/// Fails with a readable diff when the committed schemas differ from a fresh rendering.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let fresh = render()?;
    let old = committed(&root.join(SCHEMAS_DIR))?;
    let mut report = String::new();
    for (path, text) in &fresh {
        let shown = Path::new(SCHEMAS_DIR).join(path);
        match old.get(path) {
            None => {
                let _ = writeln!(report, "missing: {}", shown.display());
            }
            Some(committed) if committed != text => {
                let diff = similar::TextDiff::from_lines(committed.as_str(), text.as_str());
                let _ = write!(
                    report,
                    "{}",
                    diff.unified_diff().context_radius(2).header(
                        &format!("{} (committed)", shown.display()),
                        &format!("{} (generated)", shown.display())
                    )
                );
            }
            Some(_) => {}
        }
    }
    for path in old.keys().filter(|p| !fresh.contains_key(*p)) {
        let _ = writeln!(
            report,
            "stale: {} (no longer generated)",
            Path::new(SCHEMAS_DIR).join(path).display()
        );
    }
    if report.is_empty() {
        Ok(())
    } else {
        bail!("the committed schemas are out of date; run `cargo xtask schemas`\n{report}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schemas_are_up_to_date() {
        if let Err(error) = check(&crate::workspace_root()) {
            panic!("{error:#}");
        }
    }

    #[test]
    fn rendering_is_deterministic_and_covers_every_method() {
        let first = render().expect("renders");
        let second = render().expect("renders");
        assert_eq!(first, second);
        let cc = Path::new("connectors/constant-contact");
        assert!(first.contains_key(&cc.join("settings.schema.json")));
        assert!(first.contains_key(&cc.join("methods/contact_lists.list.record.schema.json")));
        assert!(!first.contains_key(&cc.join("methods/account.get_summary.record.schema.json")));
    }

    #[test]
    fn check_reports_a_diff_for_a_changed_file() {
        let dir = std::env::temp_dir().join(format!("plugboard-schemas-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir).expect("writes");
        let settings = dir.join("schemas/connectors/constant-contact/settings.schema.json");
        let text = std::fs::read_to_string(&settings).expect("written");
        std::fs::write(&settings, text.replace("Client ID", "Client Id")).expect("edit");
        std::fs::write(dir.join("schemas/leftover.json"), "{}").expect("extra file");
        let error = check(&dir).expect_err("stale").to_string();
        assert!(
            error.contains("-      \"title\": \"Client Id\",\n+      \"title\": \"Client ID\","),
            "{error}"
        );
        assert!(error.contains("stale: schemas/leftover.json"), "{error}");
        write(&dir).expect("rewrites");
        check(&dir).expect("fresh again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
