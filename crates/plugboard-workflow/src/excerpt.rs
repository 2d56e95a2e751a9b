//! Short excerpts of workflow content for messages.
//!
//! A problem or error quotes what the user wrote so they can find it, but a value given by mistake
//! can be a whole file (a 55 MB array validated as a workflow was once echoed back in full), and
//! serde and JSON Schema errors embed the value they refuse. Every message built from workflow
//! content, run inputs or values seen at run time quotes it through these helpers, and so do the
//! CLI (command-line values) and the test kit (values that break a schema).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde_json::Value;

/// How many characters of a value or text a message quotes.
pub const MAX_EXCERPT_CHARS: usize = 120;

/// The longest message (in characters) a problem or error carries; longer ones are cut. A safety
/// net for text the helpers below did not see (e.g. a serde error that embeds a value).
pub(crate) const MAX_MESSAGE_CHARS: usize = 600;

/// `text` cut to its first [`MAX_EXCERPT_CHARS`] characters, with `…` when it was longer.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    cut(text, MAX_EXCERPT_CHARS)
}

/// `text` cut to its first `max` characters (on a character boundary), with `…` when it was
/// longer.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// A whole message bounded to [`MAX_MESSAGE_CHARS`].
pub(crate) fn bounded(message: String) -> String {
    match cut(&message, MAX_MESSAGE_CHARS) {
        Cow::Borrowed(_) => message,
        Cow::Owned(cut) => cut,
    }
}

/// The compact JSON of `value`, cut like [`excerpt`]; only the quoted prefix is ever serialized,
/// so quoting a huge value costs no more than quoting a small one.
pub fn value_excerpt(value: &Value) -> String {
    let mut out = Limited {
        text: String::new(),
        chars: 0,
        truncated: false,
    };
    // `Limited` refuses to write past the limit, which ends the serialization early.
    let _complete = write!(out, "{value}");
    if out.truncated {
        out.text.push('…');
    }
    out.text
}

/// A `fmt::Write` that keeps [`MAX_EXCERPT_CHARS`] characters and then fails, stopping the writer.
struct Limited {
    text: String,
    chars: usize,
    truncated: bool,
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.chars == MAX_EXCERPT_CHARS {
                self.truncated = true;
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.chars += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_text_is_quoted_as_it_is() {
        assert_eq!(excerpt("short"), "short");
        assert_eq!(value_excerpt(&json!({"a": [1, "x"]})), r#"{"a":[1,"x"]}"#);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(500);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), MAX_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        let exact = "é".repeat(MAX_EXCERPT_CHARS);
        assert_eq!(excerpt(&exact), exact.as_str());
    }

    #[test]
    fn a_huge_value_is_quoted_by_its_start() {
        let huge = Value::Array((0..1_000_000).map(|n| json!(n)).collect());
        let quoted = value_excerpt(&huge);
        assert!(quoted.starts_with("[0,1,2,"), "{quoted}");
        assert!(quoted.ends_with('…'));
        assert_eq!(quoted.chars().count(), MAX_EXCERPT_CHARS + 1);
    }

    #[test]
    fn messages_are_bounded() {
        assert_eq!(bounded("ok".to_owned()), "ok");
        let long = bounded("x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
