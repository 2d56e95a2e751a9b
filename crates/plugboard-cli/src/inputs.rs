//! Run inputs from the command line (`--input NAME=VALUE`, `--inputs-file FILE`), checked
//! against the names and types the workflow declares before anything starts: a misspelled name
//! is an error listing the workflow's inputs, not a silently used default.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use plugboard_workflow::excerpt::excerpt;

/// The inputs a workflow declares: the `properties` of its `inputs` schema, in file order.
pub struct Declared<'a> {
    schema: Option<&'a Value>,
}

impl<'a> Declared<'a> {
    /// The declarations of a workflow's `inputs` schema (`None`: it takes no inputs).
    pub fn new(schema: Option<&'a Value>) -> Self {
        Self { schema }
    }

    fn properties(&self) -> Option<&'a Map<String, Value>> {
        self.schema?.get("properties")?.as_object()
    }

    /// Whether the schema admits names it does not list (`additionalProperties` left open).
    fn open(&self) -> bool {
        self.schema.is_some_and(|schema| {
            self.properties().is_none()
                || schema
                    .get("additionalProperties")
                    .is_some_and(|extra| extra != &Value::Bool(false))
        })
    }

    /// The JSON types declared for input `name` (empty when it says none).
    fn types(&self, name: &str) -> Vec<&'a str> {
        match self.properties().and_then(|p| p.get(name)?.get("type")) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Fails on a name the workflow does not declare, listing those it does.
    pub fn check_name(&self, name: &str, given_by: &str) -> anyhow::Result<()> {
        if self.open() || self.properties().is_some_and(|p| p.contains_key(name)) {
            return Ok(());
        }
        let listing = self.listing();
        if listing.is_empty() {
            bail!(
                "{given_by} names the input `{}`, but this workflow takes no inputs",
                excerpt(name)
            );
        }
        bail!(
            "{given_by} names the input `{}`, which this workflow does not declare; its inputs are: {}",
            excerpt(name),
            listing.join(", ")
        )
    }

    /// `name (type, required)` for each declared input.
    pub fn listing(&self) -> Vec<String> {
        let required: Vec<&str> = self
            .schema
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        self.properties()
            .into_iter()
            .flat_map(|properties| properties.iter())
            .map(|(name, schema)| {
                let mut traits = Vec::new();
                let types = self.types(name);
                if !types.is_empty() {
                    traits.push(types.join(" or "));
                }
                if required.contains(&name.as_str()) {
                    traits.push("required".to_owned());
                } else if let Some(default) = schema.get("default") {
                    traits.push(format!("default {}", excerpt(&default.to_string())));
                }
                if traits.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", traits.join(", "))
                }
            })
            .collect()
    }

    /// The value of `--input name=text`: the text itself for a string input (or one that declares
    /// no type and is not JSON), else the JSON it must be.
    fn value(&self, name: &str, text: &str) -> anyhow::Result<Value> {
        let types = self.types(name);
        if types.contains(&"string") {
            return Ok(Value::String(text.to_owned()));
        }
        match serde_json::from_str(text) {
            Ok(value) => Ok(value),
            Err(_) if types.is_empty() => Ok(Value::String(text.to_owned())),
            Err(error) => bail!(
                "--input {name}: `{}` is not JSON ({error}), and the input is declared as {}",
                excerpt(text),
                types.join(" or ")
            ),
        }
    }
}

/// The inputs given on the command line: `--inputs-file` first, then each `--input` over it.
pub fn read(
    declared: &Declared<'_>,
    file: Option<&Path>,
    pairs: &[String],
) -> anyhow::Result<Map<String, Value>> {
    let mut inputs = match file {
        Some(path) => from_file(declared, path)?,
        None => Map::new(),
    };
    for pair in pairs {
        let Some((name, text)) = pair.split_once('=') else {
            bail!("--input `{}` is not of the form NAME=VALUE", excerpt(pair));
        };
        declared.check_name(name, "--input")?;
        inputs.insert(name.to_owned(), declared.value(name, text)?);
    }
    Ok(inputs)
}

fn from_file(declared: &Declared<'_>, path: &Path) -> anyhow::Result<Map<String, Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the inputs file {}", path.display()))?;
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .with_context(|| format!("the inputs file {} is not JSON", path.display()))?;
    let Value::Object(inputs) = value else {
        bail!(
            "the inputs file {} must hold a JSON object of input names and values",
            path.display()
        );
    };
    let given_by = format!("the inputs file {}", path.display());
    for name in inputs.keys() {
        declared.check_name(name, &given_by)?;
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "list_name": { "type": "string", "default": "Customers" },
                "count": { "type": "integer" },
                "anything": {}
            },
            "required": ["count"]
        })
    }

    #[test]
    fn a_misspelled_name_lists_the_declared_inputs() {
        let schema = schema();
        let error = read(&Declared::new(Some(&schema)), None, &["listname=X".into()])
            .expect_err("unknown name");
        let message = error.to_string();
        assert!(message.contains("`listname`"), "{message}");
        assert!(
            message.contains(
                "list_name (string, default \"Customers\"), count (integer, required), anything"
            ),
            "{message}"
        );
    }

    #[test]
    fn values_follow_the_declared_type() {
        let schema = schema();
        let declared = Declared::new(Some(&schema));
        let inputs = read(
            &declared,
            None,
            &["list_name=42".into(), "count=5".into(), "anything=x".into()],
        )
        .expect("valid");
        assert_eq!(
            Value::Object(inputs),
            json!({"list_name": "42", "count": 5, "anything": "x"})
        );
        let error = read(&declared, None, &["count=[1,".into()]).expect_err("bad JSON");
        assert!(error.to_string().contains("is not JSON"), "{error}");
        assert!(error.to_string().contains("declared as integer"), "{error}");
    }

    #[test]
    fn a_workflow_without_inputs_says_so() {
        let error = read(&Declared::new(None), None, &["a=1".into()]).expect_err("no inputs");
        assert!(error.to_string().contains("takes no inputs"), "{error}");
    }

    #[test]
    fn an_open_schema_takes_any_name() {
        let schema = json!({"type": "object"});
        let inputs = read(&Declared::new(Some(&schema)), None, &["a=1".into()]).expect("open");
        assert_eq!(inputs["a"], json!(1));
    }
}
