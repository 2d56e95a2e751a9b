//! The file a step's `records_to` writes: where API data may put it, and how it is opened.
//!
//! A path template is trusted where the person running the workflow wrote it: its text, and
//! expressions that read only `inputs`. An expression that reads anything else (a step's output:
//! data from the service) may name a file but not a folder: its value holds no `/`, backslash or
//! NUL, and makes no whole segment that is empty, `.` or `..`. So a list named `../../pwned` cannot
//! climb out of the folder the trusted part names. A symbolic link in a folder the data names is
//! caught by comparing resolved folders; a final one is never followed ([`output::create`]).

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use minijinja::value::Value as MjValue;
use serde_json::Value;

use super::Failure;
use crate::excerpt::{excerpt, value_excerpt};
use crate::expr::{CompiledExpr, Mapping, Part, environment, to_json};
use crate::output::{self, Existing, OutputError};

/// A rendered `records_to` path.
#[derive(Debug)]
pub(crate) struct Target {
    pub path: String,
    /// Whether a part of it comes from a step's output.
    pub from_data: bool,
}

/// Whether the value of `expr` is data from a run rather than from the person running it.
fn from_data(expr: &CompiledExpr) -> bool {
    expr.roots()
        .any(|root| root != "inputs" && environment().globals().all(|(name, _)| name != root))
}

/// Renders a `records_to` path in `scope`, refusing one whose data would leave its folder.
pub(crate) fn render_target(path: &Mapping, scope: &MjValue) -> Result<Target, Failure> {
    let expression = |e: crate::expr::ExprError| Failure::Expression(format!("`records_to`: {e}"));
    let mut text = String::new();
    let mut data: Vec<(Range<usize>, &CompiledExpr)> = Vec::new();
    fn push<'m>(
        text: &mut String,
        data: &mut Vec<(Range<usize>, &'m CompiledExpr)>,
        value: &str,
        source: Option<&'m CompiledExpr>,
    ) {
        let start = text.len();
        text.push_str(value);
        if let Some(expr) = source.filter(|e| from_data(e)) {
            data.push((start..text.len(), expr));
        }
    }
    match path {
        Mapping::Literal(Value::String(literal)) => push(&mut text, &mut data, literal, None),
        Mapping::Expr(expr) => match to_json(&expr.eval(scope).map_err(expression)?, &expr.source)
            .map_err(expression)?
        {
            Value::String(value) => push(&mut text, &mut data, &value, Some(expr)),
            other => {
                return Err(Failure::Expression(format!(
                    "`records_to` must give a file path, got {}",
                    value_excerpt(&other)
                )));
            }
        },
        Mapping::Interpolated(parts) => {
            for part in parts {
                match part {
                    Part::Text(literal) => push(&mut text, &mut data, literal, None),
                    Part::Expr(expr) => {
                        let value = expr.eval(scope).map_err(expression)?;
                        let value = match value.as_str() {
                            Some(s) => s.to_owned(),
                            None => to_json(&value, &expr.source)
                                .map_err(expression)?
                                .to_string(),
                        };
                        push(&mut text, &mut data, &value, Some(expr));
                    }
                }
            }
        }
        other => {
            let rendered = other.render(scope).map_err(expression)?;
            return Err(Failure::Expression(format!(
                "`records_to` must give a file path, got {}",
                value_excerpt(&rendered)
            )));
        }
    }
    if text.is_empty() {
        return Err(Failure::Expression(
            "`records_to` gave an empty file path".to_owned(),
        ));
    }
    let refused = |expr: &CompiledExpr, value: &str, why: &str| {
        Failure::File(format!(
            "`records_to`: `{{{{ {} }}}}` gave \"{}\", {why}; a value from a step's output may \
             name a file, not a folder",
            excerpt(&expr.source),
            excerpt(value)
        ))
    };
    for (range, expr) in &data {
        let value = &text[range.clone()];
        if value.contains(['/', '\\', '\0']) {
            return Err(refused(expr, value, "which holds a path separator"));
        }
    }
    // The segments data made (each lies in one: it holds no separator) must be real names.
    let mut first_data_segment = None;
    let mut start = 0;
    for segment in text.split('/') {
        let end = start + segment.len();
        if let Some((_, expr)) = data.iter().find(|(r, _)| r.start >= start && r.end <= end) {
            if matches!(segment, "" | "." | "..") {
                return Err(refused(expr, segment, "which is no file name"));
            }
            first_data_segment.get_or_insert(start);
        }
        start = end + 1;
    }
    if let Some(at) = first_data_segment {
        check_folder(&text, at)?;
    }
    Ok(Target {
        from_data: !data.is_empty(),
        path: text,
    })
}

/// Checks that the folder `path` ends in is inside the folder named by `path[..at]` (the trusted
/// part before the first segment data made) once symbolic links are resolved. A folder that does
/// not exist is left to creating the file, which fails.
fn check_folder(path: &str, at: usize) -> Result<(), Failure> {
    let trusted = match &path[..at] {
        "" => ".",
        prefix => prefix,
    };
    let parent = match Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let (Ok(trusted), Ok(parent)) = (
        std::fs::canonicalize(trusted),
        std::fs::canonicalize(parent),
    ) else {
        return Ok(());
    };
    if parent.starts_with(&trusted) {
        Ok(())
    } else {
        Err(Failure::File(format!(
            "`records_to`: `{}` leads out of `{}` through a symbolic link in a folder named by a \
             step's output",
            excerpt(path),
            excerpt(&trusted.to_string_lossy())
        )))
    }
}

/// Opens the `records_to` file of step `step`: an existing file is replaced when `overwrite`
/// says so, or, when it says nothing, when no part of the path comes from a step's output.
pub(crate) fn open(
    target: &Target,
    overwrite: Option<bool>,
    state_file: Option<&Path>,
) -> Result<File, Failure> {
    let replace = overwrite.unwrap_or(!target.from_data);
    let existing = if replace {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    output::create(Path::new(&target.path), existing, state_file).map_err(|error| {
        let hint = match (&error, overwrite) {
            (OutputError::Exists { .. }, Some(false)) => {
                "; the step says `\"overwrite\": false`".to_owned()
            }
            (OutputError::Exists { .. }, _) => {
                "; a path with a part from a step's output replaces no file unless the step says \
                 `\"records_to\": {\"path\": ..., \"overwrite\": true}` (a file left by an earlier \
                 attempt of this run can be removed before resuming it)"
                    .to_owned()
            }
            _ => String::new(),
        };
        Failure::File(format!("`records_to`: {error}{hint}"))
    })
}
