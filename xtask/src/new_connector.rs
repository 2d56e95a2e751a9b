//! `cargo xtask new-connector <name>`: scaffolding a connector that builds, tests and loads as it is.
//!
//! The templates live in `xtask/templates/connector/` as ordinary files, so they can be read and
//! reviewed like code; they are rendered by plain `{{placeholder}}` replacement (no template
//! engine: four names are all there is to substitute), and an unknown placeholder is an error.
//!
//! A scaffolded connector must also become a built-in of `plugboard` and of `xtask` (that is what
//! makes `cargo xtask schemas` generate its schemas). Cargo cannot discover dependencies, so the
//! scaffold edits the few places that name the built-ins, each at a fixed spot:
//! the root `[workspace.dependencies]`, the `[dependencies]` of `crates/plugboard-cli` and `xtask`,
//! and the `builtins.rs` file of each of those two crates, which holds nothing but the
//! `use <crate> as _;` lines that link the connectors. Every edit is computed before anything is
//! written, so a failure leaves the tree as it was.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The root manifest, relative to the workspace root.
const ROOT_MANIFEST: &str = "Cargo.toml";
/// The programs that link every built-in connector: (manifest, built-ins list).
const BUILTIN_HOSTS: [(&str, &str); 2] = [
    (
        "crates/plugboard-cli/Cargo.toml",
        "crates/plugboard-cli/src/builtins.rs",
    ),
    ("xtask/Cargo.toml", "xtask/src/builtins.rs"),
];

/// Every template: path of the rendered file inside `connectors/<name>/`, and the template text.
const TEMPLATES: [(&str, &str); 11] = [
    (
        "Cargo.toml",
        include_str!("../templates/connector/Cargo.toml.tmpl"),
    ),
    (
        "README.md",
        include_str!("../templates/connector/README.md.tmpl"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/connector/src/lib.rs.tmpl"),
    ),
    (
        "src/methods.rs",
        include_str!("../templates/connector/src/methods.rs.tmpl"),
    ),
    (
        "src/api.rs",
        include_str!("../templates/connector/src/api.rs.tmpl"),
    ),
    (
        "tests/replay.rs",
        include_str!("../templates/connector/tests/replay.rs.tmpl"),
    ),
    (
        "tests/live.rs",
        include_str!("../templates/connector/tests/live.rs.tmpl"),
    ),
    (
        "tests/plugin.rs",
        include_str!("../templates/connector/tests/plugin.rs.tmpl"),
    ),
    (
        "tests/cassettes/items.json",
        include_str!("../templates/connector/tests/cassettes/items.json.tmpl"),
    ),
    (
        "plugin/Cargo.toml",
        include_str!("../templates/connector/plugin/Cargo.toml.tmpl"),
    ),
    (
        "plugin/src/lib.rs",
        include_str!("../templates/connector/plugin/src/lib.rs.tmpl"),
    ),
];

/// Identifiers the templates import or define next to the connector type; a connector whose type
/// name would be one of them gets a `Connector` suffix instead of a name clash.
const TAKEN_TYPE_NAMES: [&str; 27] = [
    "ApiKeyAuth",
    "ApiKeyPlacement",
    "AuthSpec",
    "ConnectorDefinition",
    "LimitScope",
    "MethodSet",
    "RateLimit",
    "ResetRule",
    "Window",
    "JsonSchema",
    "Deserialize",
    "Settings",
    "Level",
    "Connector",
    "DefinedConnector",
    "Map",
    "Value",
    "Self",
    "ConnectorError",
    "Harness",
    "ReplayHost",
    "Cassette",
    "CassetteServer",
    "Endpoints",
    "LiveConnection",
    "LiveSetup",
    "RecordingHost",
];

/// Names a crate cannot have: Rust keywords (the crate is named in `use` lines) and the standard
/// crates.
const RESERVED_CRATE_NAMES: [&str; 58] = [
    "as",
    "break",
    "const",
    "continue",
    "crate",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "async",
    "await",
    "dyn",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen",
    "union",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "main",
];

/// The spellings of a connector's name the templates need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Kebab-case: the connector id, the package and the directory, e.g. `acme-crm`.
    pub name: String,
    /// The Rust crate name, e.g. `acme_crm`.
    pub crate_name: String,
    /// The connector type, e.g. `AcmeCrm`.
    pub type_name: String,
    /// The display name, e.g. `Acme Crm`.
    pub title: String,
}

impl Names {
    /// Checks that `name` is a usable connector name (see [`validate_name`]) and spells it.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        validate_name(name)?;
        let words: Vec<String> = name.split('-').map(capitalized).collect();
        let mut type_name = words.concat();
        if TAKEN_TYPE_NAMES.contains(&type_name.as_str()) {
            type_name.push_str("Connector");
        }
        Ok(Self {
            name: name.to_owned(),
            crate_name: name.replace('-', "_"),
            type_name,
            title: words.join(" "),
        })
    }

    /// Replaces `{{name}}`, `{{crate}}`, `{{Type}}` and `{{title}}`; any other `{{word}}` is an
    /// error, so a typo in a template cannot ship.
    pub fn render(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let word_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let word = &after[..word_len];
            if word.is_empty() || !after[word_len..].starts_with("}}") {
                // Not a placeholder (e.g. `{{` in a format string): keep it as it is.
                out.push_str("{{");
                rest = after;
                continue;
            }
            out.push_str(match word {
                "name" => &self.name,
                "crate" => &self.crate_name,
                "Type" => &self.type_name,
                "title" => &self.title,
                other => bail!("unknown template placeholder `{{{{{other}}}}}`"),
            });
            rest = &after[word_len + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Checks the form of a connector name: kebab-case ASCII (`a-z`, `0-9`, single `-` between
/// words), starting with a letter, at most 64 characters, not a Rust keyword or standard crate,
/// not ending in `-plugin` (that suffix names plugin packages) and not starting with `plugboard`
/// (the framework's own crates).
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let kebab = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !kebab {
        bail!(
            "`{name}` is not a valid connector name: use kebab-case (lower-case letters, digits and \
             single hyphens, starting with a letter, at most 64 characters), e.g. `acme-crm`"
        );
    }
    if name.ends_with("-plugin") {
        bail!("`{name}` ends in `-plugin`, which names a connector's plugin package");
    }
    if name.starts_with("plugboard") {
        bail!("`{name}` starts with `plugboard`, which names the framework's own crates");
    }
    if RESERVED_CRATE_NAMES.contains(&name.replace('-', "_").as_str()) {
        bail!("`{name}` is a Rust keyword or a standard crate's name");
    }
    Ok(())
}

/// What a scaffold writes: new files, and new contents of existing files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The connector's directory, `connectors/<name>`.
    pub dir: PathBuf,
    /// Files to create (absolute path, contents).
    pub created: Vec<(PathBuf, String)>,
    /// Existing files to rewrite (absolute path, new contents).
    pub edited: Vec<(PathBuf, String)>,
}

/// Computes everything a scaffold of `name` under `root` would write, without writing.
///
/// Fails when the name is invalid, already names a connector directory or a package of the
/// workspace's lock file, or when one of the built-in lists cannot be found.
pub fn plan(root: &Path, name: &str) -> anyhow::Result<Plan> {
    let names = Names::new(name)?;
    let dir = root.join("connectors").join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let lock = root.join("Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        for package in [name.to_owned(), format!("{name}-plugin")] {
            if text.contains(&format!("\nname = \"{package}\"\n")) {
                bail!(
                    "a package named `{package}` is already in {}; choose another name",
                    lock.display()
                );
            }
        }
    }

    let created = TEMPLATES
        .iter()
        .map(|(path, template)| Ok((dir.join(path), names.render(template)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut edited = Vec::new();
    let root_manifest = root.join(ROOT_MANIFEST);
    let root_text = read(&root_manifest)?;
    let connector_crates = connector_packages(&root_text);
    edited.push((
        root_manifest.clone(),
        insert_in_section(
            &root_text,
            "[workspace.dependencies]",
            &format!("{name} = {{ path = \"connectors/{name}\" }}"),
            |line| {
                connector_crates
                    .iter()
                    .any(|c| line.split('=').next().is_some_and(|k| k.trim() == c))
            },
        )
        .with_context(|| format!("cannot add `{name}` to {}", root_manifest.display()))?,
    ));
    for (manifest, builtins) in BUILTIN_HOSTS {
        let manifest = root.join(manifest);
        edited.push((
            manifest.clone(),
            insert_in_section(
                &read(&manifest)?,
                "[dependencies]",
                &format!("{name}.workspace = true"),
                |line| {
                    line.split_once(".workspace")
                        .is_some_and(|(package, _)| connector_crates.iter().any(|c| c == package))
                },
            )
            .with_context(|| format!("cannot add `{name}` to {}", manifest.display()))?,
        ));
        let builtins = root.join(builtins);
        let text = read(&builtins)?;
        let line = format!("use {} as _;", names.crate_name);
        if text.lines().any(|l| l.trim() == line) {
            bail!(
                "{} already links `{}`",
                builtins.display(),
                names.crate_name
            );
        }
        edited.push((builtins, with_use_line(&text, &line)));
    }
    Ok(Plan {
        dir,
        created,
        edited,
    })
}

/// `text` with `line` (`use <crate> as _;`) among its `use` lines in the order rustfmt keeps
/// them (sorted), so the edited file passes `cargo fmt --check` as it is.
fn with_use_line(text: &str, line: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let uses: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("use "))
        .collect();
    let at = uses
        .iter()
        .find(|&&i| lines[i] > line)
        .copied()
        .or_else(|| uses.last().map(|last| last + 1))
        .unwrap_or(lines.len());
    lines.insert(at, line);
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Scaffolds `connectors/<name>/` under `root` and registers it as a built-in; returns what it
/// wrote. Nothing is written when any step of the [`plan`] fails.
pub fn scaffold(root: &Path, name: &str) -> anyhow::Result<Plan> {
    let plan = plan(root, name)?;
    for (path, text) in plan.created.iter().chain(&plan.edited) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    format(&plan)?;
    Ok(plan)
}

/// Formats the new Rust files with rustfmt: the templates are formatted for a short name, and a
/// longer one can push a line past the width, which `cargo fmt --check` in CI would refuse.
fn format(plan: &Plan) -> anyhow::Result<()> {
    let files: Vec<&PathBuf> = plan
        .created
        .iter()
        .map(|(path, _)| path)
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&files)
        .status()
        .context("cannot run rustfmt; the files are written but not formatted")?;
    if !status.success() {
        bail!("rustfmt failed on the new connector's files (see above)");
    }
    Ok(())
}

/// Runs `cargo xtask schemas` in a fresh process: the running xtask was built before the new
/// connector existed, so only a rebuilt one links it and renders its schemas.
pub fn generate_schemas(root: &Path) -> anyhow::Result<()> {
    // Without the variables cargo set for this xtask: ring's build script watches some of them,
    // and seeing them change would rebuild the TLS stack (see `plugins::cargo_command`).
    let status = crate::plugins::cargo_command(root)
        .args(["run", "--quiet", "--package", "xtask", "--", "schemas"])
        .status()
        .context("cannot run `cargo xtask schemas`")?;
    if !status.success() {
        bail!("`cargo xtask schemas` failed (see above); fix the connector and run it again");
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The connector crates among the root manifest's `[workspace.dependencies]`: the keys whose path
/// points into `connectors/`.
fn connector_packages(root_manifest: &str) -> Vec<String> {
    root_manifest
        .lines()
        .filter(|line| line.contains("path = \"") && line.contains("connectors/"))
        .filter_map(|line| line.split('=').next())
        .map(|key| key.trim().to_owned())
        .collect()
}

/// Inserts `line` into the TOML table `header`: after the table's last line that `anchor` accepts
/// (so new connectors sit beside the existing ones), else right after the header. Refuses to add a
/// key the table already has.
fn insert_in_section(
    text: &str,
    header: &str,
    line: &str,
    anchor: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == header)
        .with_context(|| format!("no `{header}` table"))?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let key = line.split(['=', '.']).next().map(str::trim).unwrap_or(line);
    if lines[start + 1..end].iter().any(|l| {
        l.split(['=', '.'])
            .next()
            .is_some_and(|existing| existing.trim() == key)
    }) {
        bail!("`{header}` already has `{key}`");
    }
    let at = (start + 1..end)
        .rev()
        .find(|&i| anchor(lines[i]))
        .unwrap_or(start)
        + 1;
    let mut out: Vec<&str> = Vec::with_capacity(lines.len() + 1);
    out.extend(&lines[..at]);
    out.push(line);
    out.extend(&lines[at..]);
    let mut joined = out.join("\n");
    joined.push('\n');
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builtin_goes_among_the_use_lines_in_rustfmt_order() {
        let text = "//! Built-ins.\n\nuse constant_contact as _;\nuse http_api as _;\n";
        assert_eq!(
            with_use_line(text, "use demo_api as _;"),
            "//! Built-ins.\n\nuse constant_contact as _;\nuse demo_api as _;\nuse http_api as _;\n"
        );
        assert_eq!(
            with_use_line(text, "use zeta as _;"),
            "//! Built-ins.\n\nuse constant_contact as _;\nuse http_api as _;\nuse zeta as _;\n"
        );
        assert_eq!(with_use_line("", "use a as _;"), "use a as _;\n");
    }

    #[test]
    fn names_are_spelled_for_each_use() {
        let names = Names::new("acme-crm2").expect("valid");
        assert_eq!(names.crate_name, "acme_crm2");
        assert_eq!(names.type_name, "AcmeCrm2");
        assert_eq!(names.title, "Acme Crm2");
        assert_eq!(
            Names::new("rate-limit").expect("valid").type_name,
            "RateLimitConnector",
            "a type name the templates already use gets a suffix"
        );
    }

    #[test]
    fn invalid_names_are_refused_with_the_reason() {
        for bad in [
            "",
            "Acme",
            "acme_crm",
            "-acme",
            "acme-",
            "acme--crm",
            "1acme",
            "acme crm",
            "type",
            "core",
            "acme-plugin",
            "plugboard-x",
        ] {
            assert!(validate_name(bad).is_err(), "`{bad}` was accepted");
        }
        assert!(validate_name(&"a".repeat(65)).is_err());
        validate_name("hubspot").expect("valid");
        validate_name("google-sheets-v4").expect("valid");
    }

    #[test]
    fn every_template_renders_without_a_leftover_placeholder() {
        let names = Names::new("acme-crm").expect("valid");
        for (path, template) in TEMPLATES {
            let text = names.render(template).expect("renders");
            assert!(
                !text.contains("{{name}}") && !text.contains("{{Type}}"),
                "{path}"
            );
        }
        let template = |path: &str| {
            TEMPLATES
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, t)| *t)
                .expect("a template")
        };
        let lib = names.render(template("src/lib.rs")).expect("renders");
        assert!(lib.contains("pub struct AcmeCrm;"));
        assert!(lib.contains("const ID: &'static str = \"acme-crm\";"));
        let plugin = names
            .render(template("plugin/src/lib.rs"))
            .expect("renders");
        assert!(plugin.contains("export_connector!(acme_crm::AcmeCrm)"));
    }

    #[test]
    fn rendering_rejects_unknown_placeholders_and_keeps_other_braces() {
        let names = Names::new("acme").expect("valid");
        assert_eq!(
            names
                .render("format!(\"{{}}\") {{ x }} {{name}}")
                .expect("renders"),
            "format!(\"{{}}\") {{ x }} acme"
        );
        let error = names.render("{{nmae}}").expect_err("typo");
        assert!(error.to_string().contains("`{{nmae}}`"), "{error}");
    }

    #[test]
    fn lines_go_after_the_last_connector_of_the_table() {
        let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nanyhow.workspace = true\n\
                        alpha.workspace = true\nserde.workspace = true\n\n[lints]\nworkspace = true\n";
        let edited = insert_in_section(manifest, "[dependencies]", "beta.workspace = true", |l| {
            l.starts_with("alpha.")
        })
        .expect("inserted");
        assert_eq!(
            edited,
            "[package]\nname = \"x\"\n\n[dependencies]\nanyhow.workspace = true\n\
             alpha.workspace = true\nbeta.workspace = true\nserde.workspace = true\n\n[lints]\n\
             workspace = true\n"
        );
        let at_top = insert_in_section(manifest, "[dependencies]", "beta.workspace = true", |_| {
            false
        })
        .expect("inserted");
        assert!(at_top.contains("[dependencies]\nbeta.workspace = true\nanyhow"));
        assert!(
            insert_in_section(manifest, "[dependencies]", "alpha.workspace = true", |_| {
                false
            })
            .is_err(),
            "a key the table has is refused"
        );
        assert!(insert_in_section(manifest, "[workspace]", "a = 1", |_| false).is_err());
    }

    #[test]
    fn an_existing_connector_cannot_be_scaffolded_again() {
        let error = plan(&crate::workspace_root(), "constant-contact").expect_err("exists");
        assert!(error.to_string().contains("already exists"), "{error}");
        let error = plan(&crate::workspace_root(), "serde").expect_err("a dependency's name");
        assert!(error.to_string().contains("already in"), "{error}");
    }
}
