//! What the documentation shows is what a user gets: every workflow in the docs and in `examples/`
//! passes `plugboard validate` through the real binary, every other JSON block in the docs is JSON,
//! and `plugboard describe CONNECTOR METHOD` shows the inputs a user needs to write a step.
//!
//! The rule for Markdown: a block fenced as ` ```json ` must be valid JSON, and when it is a
//! workflow (an object with `steps`) it must validate. An illustrative fragment that is not JSON
//! (with `…` or `...` for elided parts) is fenced with another language (`text`, `jsonc`), so no
//! `json` block is skipped silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plugboard_tests::{plugboard_binary, temp_dir, workspace_root};
use serde_json::Value;

/// Settings that install a connection of a connector other than Constant Contact (whose
/// connections `validate --sandbox` does not look up), so workflows naming one validate. The
/// values only need to be accepted by `connect`: validation sends no request.
const CONNECTION_SETTINGS: &[(&str, &[&str])] =
    &[("http", &["base_url=https://api.example.com/v1"])];

/// A fenced code block of a Markdown file.
#[derive(Debug, PartialEq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string's first word (`json`, `rust`, `sh`), empty when none.
    language: String,
    /// The lines between the fences, without the fence's indentation.
    text: String,
}

/// A fence that is open: where it started and how it must close.
struct OpenFence<'a> {
    line: usize,
    indent: usize,
    marker: char,
    length: usize,
    language: String,
    lines: Vec<&'a str>,
}

/// The fenced code blocks of `markdown` (CommonMark fences of ``` or ~~~, possibly indented as in
/// list items). A fence inside another fence is content, not a block.
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<OpenFence<'_>> = None;
    for (index, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let length = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match &mut open {
            None => {
                if let Some(marker) = marker
                    && length >= 3
                {
                    let language = trimmed[length..]
                        .trim()
                        .split(|c: char| c == ',' || c == '{' || c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    open = Some(OpenFence {
                        line: index + 1,
                        indent,
                        marker,
                        length,
                        language,
                        lines: Vec::new(),
                    });
                }
            }
            Some(fence) => {
                let closes = marker == Some(fence.marker)
                    && length >= fence.length
                    && trimmed[length..].trim().is_empty();
                if closes {
                    blocks.push(Block {
                        line: fence.line,
                        language: std::mem::take(&mut fence.language),
                        text: fence.lines.join("\n"),
                    });
                    open = None;
                } else {
                    fence.lines.push(&line[indent.min(fence.indent)..]);
                }
            }
        }
    }
    blocks
}

/// The Markdown files users read: the top-level README, everything in `docs/`, the examples'
/// README. Paths are relative to the workspace root.
fn markdown_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            path.strip_prefix(&root)
                .expect("inside the workspace")
                .to_path_buf()
        })
        .collect();
    docs.sort();
    files.extend(docs);
    files.push(PathBuf::from("examples/README.md"));
    files
}

/// `examples/*.json`, relative to the workspace root.
fn example_workflows() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("examples"))
        .expect("examples/ is readable")
        .map(|entry| entry.expect("an examples/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            path.strip_prefix(&root)
                .expect("inside the workspace")
                .to_path_buf()
        })
        .collect();
    files.sort();
    files
}

/// `plugboard` run from the workspace root (relative paths in workflows are relative to it), with
/// no plugin directories from the environment.
fn plugboard(args: &[&str]) -> Output {
    Command::new(plugboard_binary())
        .current_dir(workspace_root())
        .args(args)
        .env_remove("PLUGBOARD_PLUGIN_PATH")
        .output()
        .expect("plugboard runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Validates workflows against one state file, installing the connections they name first.
struct Validator {
    dir: plugboard_tests::TestDir,
    state: String,
    installed: Vec<String>,
}

impl Validator {
    fn new(name: &str) -> Self {
        let dir = temp_dir(name);
        let state = dir.join("state.db").to_string_lossy().into_owned();
        Self {
            dir,
            state,
            installed: Vec::new(),
        }
    }

    /// Problems with `workflow` (`where_` names it in messages), or `None` when it validates.
    fn check(&mut self, workflow_file: &Path, workflow: &Value, where_: &str) -> Option<String> {
        if let Some(problem) = self.install_connections(workflow, where_) {
            return Some(problem);
        }
        let file = workflow_file.to_string_lossy().into_owned();
        let output = plugboard(&["--state", &self.state, "validate", &file, "--sandbox"]);
        (!output.status.success()).then(|| {
            format!(
                "{where_}: `plugboard validate --sandbox` fails:\n{}",
                text(&output)
            )
        })
    }

    fn install_connections(&mut self, workflow: &Value, where_: &str) -> Option<String> {
        let connections = workflow.get("connections").and_then(Value::as_object)?;
        for connection in connections.values() {
            let connector = connection.get("connector").and_then(Value::as_str)?;
            let name = connection.get("connection").and_then(Value::as_str)?;
            if connector == "constant-contact" || self.installed.iter().any(|n| n == name) {
                continue;
            }
            let Some((_, settings)) = CONNECTION_SETTINGS.iter().find(|(c, _)| *c == connector)
            else {
                return Some(format!(
                    "{where_}: names a `{connector}` connection; add settings that install one \
                     to CONNECTION_SETTINGS in this test"
                ));
            };
            let mut args = vec!["--state", &self.state, "connect", connector, "--name", name];
            for setting in *settings {
                args.extend(["--set", setting]);
            }
            let output = plugboard(&args);
            if !output.status.success() {
                return Some(format!(
                    "{where_}: cannot install the `{name}` connection:\n{}",
                    text(&output)
                ));
            }
            self.installed.push(name.to_owned());
        }
        None
    }
}

/// A relative `$schema` must name a file that exists, seen from the directory of the file that
/// shows the workflow (a user saving the block beside it gets a working `$schema`).
fn schema_problem(workflow: &Value, base_dir: &Path, where_: &str) -> Option<String> {
    let schema = workflow.get("$schema").and_then(Value::as_str)?;
    if schema.contains("://") {
        return None;
    }
    let path = workspace_root().join(base_dir).join(schema);
    (!path.is_file()).then(|| {
        format!(
            "{where_}: `$schema` `{schema}` names no file (from `{}`)",
            base_dir.display()
        )
    })
}

/// Validation messages point into the temporary file (`FILE:LINE:COL: ...`); point them into the
/// Markdown instead, where the fix belongs.
fn in_markdown(message: &str, temp_file: &Path, markdown: &Path, fence_line: usize) -> String {
    let prefix = format!("{}:", temp_file.display());
    message
        .lines()
        .map(|line| match line.strip_prefix(&prefix) {
            Some(rest) => match rest.split_once(':') {
                Some((number, after)) if number.parse::<usize>().is_ok() => format!(
                    "{}:{}:{after}",
                    markdown.display(),
                    fence_line + number.parse::<usize>().unwrap_or(0)
                ),
                _ => format!("{}:{rest}", markdown.display()),
            },
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn fenced_blocks_are_found_with_their_lines_and_languages() {
    let markdown = "# Title\n\
        ```json\n{\"a\": 1}\n```\n\
        - item\n\n  ```rust\n  let x = 1;\n  ```\n\
        ````md\n```json\nnot a block\n```\n````\n\
        ~~~json\n[1]\n~~~\n";
    let blocks = fenced_blocks(markdown);
    let summary: Vec<(usize, &str, &str)> = blocks
        .iter()
        .map(|b| (b.line, b.language.as_str(), b.text.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (2, "json", "{\"a\": 1}"),
            (7, "rust", "let x = 1;"),
            (10, "md", "```json\nnot a block\n```"),
            (15, "json", "[1]"),
        ]
    );
}

#[test]
fn every_json_block_in_the_docs_parses_and_every_workflow_in_them_validates() {
    let mut validator = Validator::new("docs-examples-markdown");
    let mut problems = Vec::new();
    let mut workflows = 0;
    for markdown in markdown_files() {
        let source = std::fs::read_to_string(workspace_root().join(&markdown))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", markdown.display()));
        let base_dir = markdown.parent().unwrap_or(Path::new("")).to_path_buf();
        for block in fenced_blocks(&source)
            .into_iter()
            .filter(|b| b.language == "json")
        {
            let where_ = format!("{}:{} (```json block)", markdown.display(), block.line);
            let value: Value = match serde_json::from_str(&block.text) {
                Ok(value) => value,
                Err(e) => {
                    let hint = if block.text.contains('…') || block.text.contains("...") {
                        "; a fragment with elided parts is fenced as ```text or ```jsonc, not ```json"
                    } else {
                        ""
                    };
                    problems.push(format!("{where_}: not JSON: {e}{hint}"));
                    continue;
                }
            };
            if value.get("steps").is_none() {
                continue;
            }
            workflows += 1;
            problems.extend(schema_problem(&value, &base_dir, &where_));
            let file_name = format!(
                "{}-line-{}.json",
                markdown.to_string_lossy().replace(['/', '\\', '.'], "_"),
                block.line
            );
            let temp_file = validator.dir.join(file_name);
            std::fs::write(&temp_file, &block.text).expect("can write the block");
            if let Some(problem) = validator.check(&temp_file, &value, &where_) {
                // Block line 1 is the line after the fence.
                problems.push(in_markdown(&problem, &temp_file, &markdown, block.line));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "documented JSON that does not work:\n\n{}",
        problems.join("\n\n")
    );
    assert!(
        workflows > 0,
        "no workflow found in the docs' ```json blocks: is the fence parser broken?"
    );
}

#[test]
fn every_example_workflow_validates() {
    let mut validator = Validator::new("docs-examples-files");
    let mut problems = Vec::new();
    let examples = example_workflows();
    assert!(!examples.is_empty(), "examples/ has workflows");
    for example in examples {
        let where_ = example.display().to_string();
        let source = std::fs::read_to_string(workspace_root().join(&example))
            .unwrap_or_else(|e| panic!("cannot read {where_}: {e}"));
        let value: Value = match serde_json::from_str(&source) {
            Ok(value) => value,
            Err(e) => {
                problems.push(format!("{where_}: not JSON: {e}"));
                continue;
            }
        };
        let base_dir = example.parent().unwrap_or(Path::new("")).to_path_buf();
        problems.extend(schema_problem(&value, &base_dir, &where_));
        problems.extend(validator.check(&example, &value, &where_));
    }
    assert!(
        problems.is_empty(),
        "example workflows that do not validate:\n\n{}",
        problems.join("\n\n")
    );
}

/// The line of the input (or output) field `name` at `depth` (0: top level) of a method's page.
fn field_line<'a>(page: &'a str, name: &str, depth: usize) -> &'a str {
    let prefix = format!("{}{name} ", "  ".repeat(depth + 1));
    page.lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for field `{name}` at depth {depth}:\n{page}"))
}

#[test]
fn describe_one_method_shows_typed_fields_required_markers_enums_and_limits() {
    let output = plugboard(&["describe", "constant-contact", "contacts.create"]);
    let page = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", text(&output));

    assert!(
        page.starts_with("contacts.create  Create Contact\n"),
        "{page}"
    );
    for fact in [
        "Kind        action",
        "Output      one value",
        "Idempotent  no",
    ] {
        assert!(page.contains(fact), "`{fact}` missing:\n{page}");
    }
    let inputs = page
        .split("\nInputs")
        .nth(1)
        .and_then(|rest| rest.split("\nOutputs").next())
        .unwrap_or_else(|| panic!("no Inputs section before Outputs:\n{page}"));

    let source = field_line(inputs, "create_source", 0);
    assert!(source.contains("string, required"), "{source}");
    assert!(
        source.contains(r#"one of: "Contact", "Account""#),
        "the enum's values: {source}"
    );
    let first_name = field_line(inputs, "first_name", 0);
    assert!(first_name.contains("string, optional"), "{first_name}");
    let month = field_line(inputs, "birthday_month", 0);
    assert!(month.contains("integer, optional, 1 to 12"), "{month}");
    let custom_fields = field_line(inputs, "custom_fields", 0);
    assert!(
        custom_fields.contains("array of object, optional, at most 25 items"),
        "{custom_fields}"
    );

    // `$ref`s are resolved into their definitions' fields, nested under the field.
    let address = field_line(inputs, "address", 1);
    assert!(address.contains("string, required"), "{address}");
    let consent = field_line(inputs, "permission_to_send", 1);
    assert!(
        consent.contains("optional") && consent.contains(r#""explicit""#),
        "an optional enum behind anyOf [$ref, null]: {consent}"
    );

    let outputs = page
        .split("\nOutputs")
        .nth(1)
        .unwrap_or_else(|| panic!("no Outputs section:\n{page}"));
    let contact_id = field_line(outputs, "contact_id", 0);
    assert!(contact_id.contains("string"), "{contact_id}");
}

#[test]
fn describe_a_streaming_method_shows_its_records_and_its_result() {
    let output = plugboard(&["describe", "constant-contact", "contacts.poll_updated"]);
    let page = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", text(&output));
    assert!(page.contains("Kind        poll trigger"), "{page}");
    assert!(page.contains("steps.<id>.records"), "{page}");
    let result = page
        .split("the stream ends")
        .nth(1)
        .unwrap_or_else(|| panic!("no section for the call's result:\n{page}"));
    assert!(
        field_line(result, "next_cursor", 0).contains("string"),
        "{page}"
    );
}

#[test]
fn describe_an_unknown_method_fails_and_says_what_there_is() {
    let output = plugboard(&["describe", "constant-contact", "no.such"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(output.stdout.is_empty(), "{}", text(&output));
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        error.contains("error: connector `constant-contact` has no method `no.such`"),
        "{error}"
    );
    assert!(
        error.contains("contacts.create") && error.contains("bulk.import_contacts"),
        "nothing is close, so every method is listed: {error}"
    );

    let output = plugboard(&["describe", "constant-contact", "contacts.creat"]);
    assert!(!output.status.success(), "{}", text(&output));
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        error.contains("did you mean `contacts.create`"),
        "a typo gets the close match first: {error}"
    );
    assert!(
        !error.contains("bulk.import_contacts"),
        "and not the whole list: {error}"
    );
}

#[test]
fn describe_one_method_as_json_is_its_descriptor() {
    let output = plugboard(&["describe", "constant-contact", "contacts.create", "--json"]);
    assert!(output.status.success(), "{}", text(&output));
    let printed: Value = serde_json::from_slice(&output.stdout).expect("the output is JSON");
    assert_eq!(printed["id"], "contacts.create");
    assert!(
        printed["input_schema"]["properties"]["create_source"].is_object(),
        "{printed:#}"
    );
    let descriptor: plugboard_core::MethodDescriptor =
        serde_json::from_value(printed).expect("the output is a method descriptor");
    let builtin = plugboard_core::DefinedConnector::new::<constant_contact::ConstantContact>();
    let manifest = plugboard_core::Connector::manifest(&builtin);
    assert_eq!(Some(&descriptor), manifest.method("contacts.create"));
}

#[test]
fn describe_a_connector_lists_each_inputs_type() {
    let output = plugboard(&["describe", "constant-contact"]);
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{}", text(&output));
    let create = listing
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("contacts.create "))
        .find(|line| line.trim_start().starts_with("input:"))
        .unwrap_or_else(|| panic!("no input line for contacts.create:\n{listing}"));
    assert!(
        create.contains(
            "create_source (string, required), email_address (object), sms_channel (object)"
        ),
        "{create}"
    );
    assert!(create.contains("first_name (string),"), "{create}");
    assert!(
        listing.contains("plugboard describe constant-contact "),
        "the listing says how to see one method in full:\n{listing}"
    );
}
