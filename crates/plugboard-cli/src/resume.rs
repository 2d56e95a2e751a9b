//! Which run a `--resume` continues, and what a resume may change.
//!
//! A run is tied to its workflow's *content*, not to the spelling of its path: the journal keeps
//! a digest of the workflow's connections and steps, and a resume is accepted from any path whose
//! file has the same ones (the outputs, name, description and inputs schema may change). Changed
//! steps are refused unless the user says so, since completed steps are matched by id and a
//! changed step could be skipped or repeated.
//!
//! Inputs: a resume reuses the run's inputs; `--input`/`--inputs-file` may correct one that no
//! journaled step used (a run that failed on a bad input is fixed and resumed). An input an
//! already completed step used cannot change, or the run would mix two sets of inputs.

use std::path::Path;

use anyhow::{Context as _, bail};
use plugboard_runner::workflow::StoreJournal;
use plugboard_runner::{RunId, RunRecord, RunStatus, Session};
use plugboard_workflow::{Journal as _, ValidWorkflow};
use serde_json::{Map, Value};

/// What identifies the workflow of a run: its canonical path (for people) and the digest of what
/// a resume must not change (for the check).
pub struct WorkflowIdentity {
    /// The file's canonical path, or the path as given when it cannot be resolved.
    pub path: String,
    /// SHA-256, in hex, of the workflow's `connections` and `steps` as compact JSON.
    pub digest: String,
}

impl WorkflowIdentity {
    /// The identity of `workflow`, read from `path`.
    pub fn of(path: &Path, workflow: &ValidWorkflow) -> anyhow::Result<Self> {
        Ok(Self {
            path: canonical(path),
            digest: plugboard_runner::workflow::workflow_digest(workflow),
        })
    }
}

/// `path` made absolute with links resolved, so a run started as `x.json` is the run of
/// `/home/ada/x.json` from any directory.
fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// A run to continue, with the inputs it continues with.
pub struct Resume {
    /// The run.
    pub run: RunId,
    /// Its recorded inputs with the corrections given now.
    pub inputs: Map<String, Value>,
    /// The names of the inputs the corrections changed (to record them with the run).
    pub changed: Vec<String>,
    /// How many journal entries the run has: a run with none can go on against anything.
    pub journaled: usize,
}

/// How the workflow `identity` names differs from the one run `record` was started with, or
/// `None` when its steps and connections are the same.
pub fn changed_workflow(record: &RunRecord, identity: &WorkflowIdentity) -> Option<String> {
    let same_content = match &record.workflow_digest {
        Some(digest) => *digest == identity.digest,
        // Recorded before digests: the paths, as well as they can be compared.
        None => canonical(Path::new(&record.workflow)) == identity.path,
    };
    if same_content {
        return None;
    }
    Some(if canonical(Path::new(&record.workflow)) == identity.path {
        "its steps or connections have changed since".to_owned()
    } else {
        format!(
            "it was started from {}, whose steps or connections differ from this file's",
            record.workflow
        )
    })
}

/// Checks that run `id` can be resumed with this workflow and these input corrections.
pub fn prepare(
    session: &Session,
    id: RunId,
    identity: &WorkflowIdentity,
    workflow: &ValidWorkflow,
    corrections: Map<String, Value>,
    accept_changed_steps: bool,
) -> anyhow::Result<Resume> {
    let store = session.store();
    let Some(record) = session.block_on(store.run(id))? else {
        bail!(
            "there is no run {} in this state file (`plugboard runs` lists them)",
            id.0
        );
    };
    if record.status == RunStatus::Completed {
        bail!("run {} already completed; there is nothing to resume", id.0);
    }
    if let Some(which) = changed_workflow(&record, identity)
        && !accept_changed_steps
    {
        bail!(
            "run {} cannot be resumed with {}: {which}. Completed steps are matched by id, so a \
             changed step could be skipped or repeated. Resume with the workflow as it was, or \
             add --accept-changed-steps to go on with these steps anyway",
            id.0,
            identity.path
        );
    }

    let journal = session
        .block_on(store.completed_steps(id))
        .with_context(|| format!("cannot read the journal of run {}", id.0))?;
    let mut inputs = match record.inputs {
        Value::Object(inputs) => inputs,
        _ => Map::new(),
    };
    let mut changed = Vec::new();
    for (name, value) in corrections {
        if inputs.get(&name) == Some(&value) {
            continue;
        }
        if let Some(step) = journaled_step_using(workflow, &journal, &name) {
            bail!(
                "run {} cannot take a new value for input `{name}`: step `{step}` already ran \
                 with the old one, and a resume does not repeat it. Start a new run with the \
                 corrected input instead",
                id.0
            );
        }
        inputs.insert(name.clone(), value);
        changed.push(name);
    }
    Ok(Resume {
        run: id,
        inputs,
        changed,
        journaled: journal.len(),
    })
}

/// Applies a person's word on calls whose outcome is unknown (`--resend`, `--mark-done`); each
/// must be one the journal holds as unknown. Returns what was done, to report.
pub fn settle_unknown_calls(
    journal: &StoreJournal<'_>,
    run: RunId,
    resend: &[String],
    mark_done: &[String],
) -> anyhow::Result<Vec<String>> {
    let pending = journal.pending_intents();
    let mut notes = Vec::new();
    for key in resend.iter().chain(mark_done) {
        if !pending.contains(key) {
            let known = if pending.is_empty() {
                "it has none".to_owned()
            } else {
                format!("they are: {}", pending.join(", "))
            };
            bail!(
                "run {} has no call `{}` whose outcome is unknown; {known}",
                run.0,
                plugboard_workflow::excerpt::excerpt(key)
            );
        }
    }
    for key in resend {
        journal.clear_intent(key)?;
        notes.push(format!("run {}: `{key}` will be sent again", run.0));
    }
    for key in mark_done {
        journal.record(key, &Value::Null)?;
        notes.push(format!(
            "run {}: `{key}` marked done (its output is null)",
            run.0
        ));
    }
    Ok(notes)
}

/// The first step with a journal entry (whole, or some of its items) whose definition reads
/// input `name`.
fn journaled_step_using<'w>(
    workflow: &'w ValidWorkflow,
    journal: &[(String, Value)],
    name: &str,
) -> Option<&'w str> {
    workflow
        .workflow()
        .steps
        .iter()
        .filter(|step| {
            journal.iter().any(|(key, _)| {
                // A call sent but never answered may have used the input too.
                let key = key.strip_prefix("#intent ").unwrap_or(key);
                key.strip_prefix(step.id.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
            })
        })
        .find(|step| serde_json::to_string(step).is_ok_and(|text| mentions_input(&text, name)))
        .map(|step| step.id.as_str())
}

/// Whether expressions in `text` (a step as JSON) can read input `name`: `inputs.name` or
/// `inputs["name"]`/`inputs['name']`, or the whole `inputs` object.
fn mentions_input(text: &str, name: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices("inputs").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(is_ident) || before == Some('.') {
            return false;
        }
        let rest = text[at + "inputs".len()..].trim_start();
        if let Some(field) = rest.strip_prefix('.') {
            let field = field.trim_start();
            return field.starts_with(name) && !field[name.len()..].starts_with(is_ident);
        }
        if let Some(key) = rest.strip_prefix('[') {
            let key = key.trim_start().trim_start_matches('\\');
            return key
                .strip_prefix(['"', '\''])
                .is_some_and(|key| key.starts_with(name))
                || !key.starts_with(['"', '\'']);
        }
        // `inputs` alone (passed whole, or iterated): any input may be read.
        !rest.starts_with(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::mentions_input;

    #[test]
    fn input_references_are_recognised() {
        assert!(mentions_input(r#"{"path":"{{ inputs.file }}"}"#, "file"));
        assert!(mentions_input(r#"{"path":"{{ inputs . file }}"}"#, "file"));
        assert!(mentions_input(r#"{"x":"{{ inputs[\"file\"] }}"}"#, "file"));
        assert!(mentions_input(r#"{"x":"{{ inputs['file'] }}"}"#, "file"));
        assert!(mentions_input(r#"{"x":"{{ inputs | tojson }}"}"#, "file"));
        assert!(!mentions_input(r#"{"x":"{{ inputs.files }}"}"#, "file"));
        assert!(!mentions_input(r#"{"x":"{{ inputs.email }}"}"#, "file"));
        assert!(!mentions_input(
            r#"{"x":"{{ steps.a.output.inputs }}"}"#,
            "file"
        ));
        assert!(!mentions_input(r#"{"id":"read_inputs"}"#, "file"));
    }
}
