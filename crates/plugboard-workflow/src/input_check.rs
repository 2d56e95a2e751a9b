//! Checking a rendered input against its method's input schema, before the call.
//!
//! Validation can only check literal inputs; an input built from expressions is known only once
//! it is rendered, at run time. The contract promises a method an input that matches its schema
//! (`Invocation.input`), so the engine checks every rendered input here and a violation fails the
//! step with no request sent. Each method's schema is compiled once per workflow (at validation)
//! and shared by every step and item that calls it: compiling costs far more than checking.

use std::fmt;

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::excerpt::{excerpt, value_excerpt};

/// How many violations one failure lists; the rest are counted.
const MAX_VIOLATIONS: usize = 3;

/// A method's input schema, compiled.
pub(crate) struct InputSchema {
    method: String,
    validator: jsonschema::Validator,
}

impl fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputSchema")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl InputSchema {
    /// Compiles `schema`, the input schema of `method`; the error says why it does not compile.
    pub(crate) fn compile(method: &str, schema: &Value) -> Result<Self, String> {
        match jsonschema::validator_for(schema) {
            Ok(validator) => Ok(Self {
                method: method.to_owned(),
                validator,
            }),
            Err(error) => Err(error
                .masked_with(value_excerpt(error.instance()))
                .to_string()),
        }
    }

    /// The method's id.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// The compiled schema, for validation's own located reports of literal inputs.
    pub(crate) fn validator(&self) -> &jsonschema::Validator {
        &self.validator
    }

    /// `Ok` when `input` matches the schema; otherwise every violation (up to a few) with the
    /// field's JSON pointer inside the input and the rule it breaks, quoting values by excerpts.
    pub(crate) fn check(&self, input: &Value) -> Result<(), String> {
        // The fast path: no error objects are built for a valid input.
        if self.validator.is_valid(input) {
            return Ok(());
        }
        let mut listed = Vec::new();
        let mut more = 0usize;
        let errors: Vec<ValidationError<'_>> = self.validator.iter_errors(input).collect();
        for error in errors.iter().flat_map(most_specific) {
            if listed.len() == MAX_VIOLATIONS {
                more += 1;
                continue;
            }
            let pointer = error.instance_path().as_str();
            let field = if pointer.is_empty() {
                "(the whole input)".to_owned()
            } else {
                format!("`{}`", excerpt(pointer))
            };
            let message = error.masked_with(value_excerpt(error.instance()));
            listed.push(format!(
                "at {field}: {message} (rule `{}`)",
                error.kind().keyword()
            ));
        }
        let more = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        Err(format!(
            "the rendered input does not match the input schema of `{}`: {}{more}; no request was sent",
            self.method,
            listed.join("; ")
        ))
    }
}

/// Checks `input` against `schema`, the input schema of `method`, exactly as the engine does
/// before each call: `Ok`, or the message a failed step carries. For tests and tools that want
/// to know what a user would be told; the engine compiles each schema once instead.
pub fn check_input(method: &str, schema: &Value, input: &Value) -> Result<(), String> {
    InputSchema::compile(method, schema)?.check(input)
}

/// The violations that explain `error`. A value that matches none of an `anyOf`/`oneOf` (an
/// optional object, `anyOf [object, null]`; an enum of one-key objects) is explained by the one
/// alternative that accepts its shape and fails only inside it, e.g. `/street_address/city` is
/// too long, rather than by "not valid under any of the schemas" at `/street_address`. When no
/// single alternative does, the error stays as it is.
pub(crate) fn most_specific<'e>(error: &'e ValidationError<'e>) -> Vec<&'e ValidationError<'e>> {
    let context = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            context
        }
        _ => return vec![error],
    };
    let at = error.instance_path().as_str();
    // First the alternatives that fail only below the value, then those that at least accept
    // its type (a missing property is reported at the object itself).
    let deeper = |e: &ValidationError<'_>| {
        let path = e.instance_path().as_str();
        path.strip_prefix(at)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    let of_its_type = |e: &ValidationError<'_>| {
        !(e.instance_path().as_str() == at && matches!(e.kind(), ValidationErrorKind::Type { .. }))
    };
    let only = |keep: &dyn Fn(&ValidationError<'_>) -> bool| {
        let mut fitting = context
            .iter()
            .filter(|branch| !branch.is_empty() && branch.iter().all(keep));
        match (fitting.next(), fitting.next()) {
            (Some(branch), None) => Some(branch),
            _ => None,
        }
    };
    match only(&deeper).or_else(|| only(&of_its_type)) {
        Some(branch) => branch.iter().flat_map(most_specific).collect(),
        _ => vec![error],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> InputSchema {
        InputSchema::compile(
            "contacts.create",
            &json!({
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {"type": "string", "maxLength": 10},
                    "kind": {"enum": ["a", "b"]}
                }
            }),
        )
        .expect("the schema compiles")
    }

    #[test]
    fn a_valid_input_passes() {
        assert_eq!(
            schema().check(&json!({"email": "a@b.c", "kind": "a"})),
            Ok(())
        );
    }

    #[test]
    fn violations_name_field_and_rule_and_quote_only_an_excerpt() {
        let long = "x".repeat(5_000);
        let error = schema()
            .check(&json!({"email": long, "kind": "c"}))
            .expect_err("two violations");
        assert!(error.contains("`contacts.create`"), "{error}");
        assert!(error.contains("at `/email`"), "{error}");
        assert!(error.contains("rule `maxLength`"), "{error}");
        assert!(error.contains("at `/kind`"), "{error}");
        assert!(error.contains("rule `enum`"), "{error}");
        assert!(error.contains("no request was sent"), "{error}");
        assert!(
            error.len() < 1_000,
            "the value is not echoed whole: {error}"
        );
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let error = schema().check(&json!({})).expect_err("email is required");
        assert!(error.contains("rule `required`"), "{error}");
        assert!(error.contains("email"), "{error}");
    }

    #[test]
    fn a_violation_inside_an_optional_object_is_named_where_it_is() {
        let schema = json!({
            "type": "object",
            "properties": {"address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]}},
            "$defs": {"Address": {"type": "object", "required": ["kind"],
                "properties": {"kind": {"type": "string"}, "city": {"type": "string", "maxLength": 3}}}}
        });
        let error = check_input(
            "m",
            &schema,
            &json!({"address": {"kind": "home", "city": "Chicago"}}),
        )
        .expect_err("too long");
        assert!(error.contains("at `/address/city`"), "{error}");
        assert!(error.contains("rule `maxLength`"), "{error}");
        let error = check_input("m", &schema, &json!({"address": {"city": "Waltham"}}))
            .expect_err("no kind");
        assert!(error.contains("at `/address`"), "{error}");
        assert!(error.contains("\"kind\" is a required property"), "{error}");
        // A value of no alternative's shape is reported where it is.
        let error = check_input("m", &schema, &json!({"address": 7})).expect_err("not an object");
        assert!(error.contains("at `/address`"), "{error}");
    }

    #[test]
    fn an_invalid_schema_does_not_compile() {
        let error = InputSchema::compile("m", &json!({"type": 12})).expect_err("bad schema");
        assert!(!error.is_empty());
    }
}
