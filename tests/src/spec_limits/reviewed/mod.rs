//! The reviewed half of the limits audit: where a method's input does not mirror the request
//! (hand mappings, `mappings.rs`), the limits no method checks, each with its reason
//! (exceptions, `exceptions.rs`), and the limits the spec states only in words, quoted
//! (`described.rs`).

mod described;
mod exceptions;
mod mappings;

pub use described::DESCRIBED;
pub use exceptions::EXCEPTIONS;
pub use mappings::MAPPINGS;

use crate::spec_limits::Constraint;

/// Why a limit of the spec is not checked by a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The spec marks the field `readOnly`: the API sets it, a request never carries it.
    ReadOnly,
    /// The method's input does not expose this field.
    NotExposed,
    /// The method sets the field itself, within the limit.
    SetByMethod,
    /// The request never carries the field as the spec spells it.
    NotSent,
    /// Only the API can judge it (a format it parses, e.g. a phone number's country code); its
    /// error names the item.
    ApiJudges,
    /// The words advise rather than limit: the API accepts the input without it.
    Advice,
    /// The limit is on what the account holds (e.g. how many lists a contact is already on),
    /// which the input does not show; the API's own answer says it.
    AccountState,
}

/// A limit the spec states only in words, quoted, and how it is held.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    /// The method's id.
    pub method: &'static str,
    /// Where the words are: `operation description` for the operation's own description, or
    /// `operation place field` for a parameter's or body field's.
    pub location: &'static str,
    /// The spec's words (whitespace normalised), which the audit finds at `location`.
    pub quote: &'static str,
    /// How the method holds it.
    pub check: Check,
}

/// How a method holds a limit stated in words.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// It refuses `input` (JSON; `{"$repeat": [value, n]}` stands for `n` copies of `value`)
    /// before sending, naming the field at the JSON pointer `field`.
    Refuses {
        /// The violating input.
        input: &'static str,
        /// Where the error must point.
        field: &'static str,
    },
    /// It does not check it, for this reason.
    Excepted(Reason, &'static str),
}

/// One limit no method checks, and why.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    /// The method's id, or `*` for every method claiming the operation.
    pub method: &'static str,
    /// `operation place field` as [`Constraint::location`] writes it.
    pub location: &'static str,
    /// The keyword, or `*` for every limit on that field.
    pub keyword: &'static str,
    /// The kind of reason.
    pub reason: Reason,
    /// The reason, in a sentence specific to this field.
    pub why: &'static str,
}

/// A method input that carries a request field under another name or place.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The method's id.
    pub method: &'static str,
    /// `operation place field` as [`Constraint::location`] writes it; it also maps every field
    /// under it (`… body /import_data/*` maps `… body /import_data/*/city`).
    pub location: &'static str,
    /// The JSON pointer of the field in the method's input (array items at index 0); a field
    /// under `location` goes under it the same way.
    pub input: &'static str,
    /// The input to break instead of the representative call's, as JSON, where that one cannot
    /// carry the field (e.g. a source that is one of several shapes).
    pub base: Option<&'static str>,
}

impl Mapping {
    /// The input pointer for a constraint at `location`, when this mapping covers it.
    pub fn pointer_for(&self, location: &str) -> Option<String> {
        let rest = location.strip_prefix(self.location)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(format!("{}{}", self.input, rest.replace("/*", "/0")))
    }
}

/// The index of the exception that covers `constraint` on `method`, if any.
pub fn exception(method: &str, constraint: &Constraint) -> Option<usize> {
    let location = constraint.location();
    EXCEPTIONS.iter().position(|e| {
        (e.method == "*" || e.method == method)
            && e.location == location
            && (e.keyword == "*" || e.keyword == constraint.keyword)
    })
}

/// The index of the mapping of `constraint`'s field on `method`, if any.
pub fn mapping(method: &str, constraint: &Constraint) -> Option<usize> {
    let location = constraint.location();
    // The most specific mapping wins.
    MAPPINGS
        .iter()
        .enumerate()
        .filter(|(_, m)| m.method == method && m.pointer_for(&location).is_some())
        .max_by_key(|(_, m)| m.location.len())
        .map(|(index, _)| index)
}
