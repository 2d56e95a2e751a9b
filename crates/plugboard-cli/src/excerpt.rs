//! Short excerpts of what a user gave, for error messages: a value passed by mistake (a token, a
//! whole file) is never echoed in full.

/// How many characters of a given value an error quotes.
const MAX_CHARS: usize = 80;

/// `text` cut to its first [`MAX_CHARS`] characters, with `…` when it was longer.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(200);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
