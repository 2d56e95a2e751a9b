//! Finds where a JSON pointer's value starts in the source text, as line and column.
//!
//! serde_json gives positions only for syntax errors; semantic problems are found on parsed values,
//! which have no positions. This small scanner walks the (already known to be valid) JSON text once
//! and records the offset of every value by pointer, so every problem can say where it is.

use std::collections::HashMap;

/// A 1-based line and column (in characters) in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

/// Maps JSON pointers to the positions of their values in one source text.
#[derive(Debug, Default)]
pub struct Locator {
    offsets: HashMap<String, usize>,
    line_starts: Vec<usize>,
    text: String,
}

impl Locator {
    /// Indexes `text`; an invalid document indexes the part before the error.
    pub fn new(text: &str) -> Self {
        let mut scanner = Scanner {
            bytes: text.as_bytes(),
            pos: 0,
            offsets: HashMap::new(),
        };
        let mut pointer = String::new();
        scanner.skip_ws();
        // A malformed document is indexed up to the error; positions of later parts stay unknown.
        let _complete = scanner.value(&mut pointer);
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            offsets: scanner.offsets,
            line_starts,
            text: text.to_owned(),
        }
    }

    /// The position of the value at `pointer`, or of its closest indexed ancestor.
    pub fn position(&self, pointer: &str) -> Position {
        let mut current = pointer;
        loop {
            if let Some(&offset) = self.offsets.get(current) {
                return self.position_of_offset(offset);
            }
            match current.rfind('/') {
                Some(slash) => current = &current[..slash],
                None => return self.position_of_offset(0),
            }
        }
    }

    /// The line and column of a byte offset.
    pub fn position_of_offset(&self, offset: usize) -> Position {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line.saturating_sub(1)];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Position { line, column }
    }
}

/// Escapes a key for use as one JSON pointer token (RFC 6901).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

struct Scanner<'t> {
    bytes: &'t [u8],
    pos: usize,
    offsets: HashMap<String, usize>,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while let Some(b) = self.bytes.get(self.pos) {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Scans one value starting at the current position; `None` on malformed input.
    fn value(&mut self, pointer: &mut String) -> Option<()> {
        self.offsets.insert(pointer.clone(), self.pos);
        match self.peek()? {
            b'{' => {
                self.pos += 1;
                self.skip_ws();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.skip_ws();
                    let key = self.string()?;
                    self.skip_ws();
                    (self.peek()? == b':').then_some(())?;
                    self.pos += 1;
                    self.skip_ws();
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape_token(&key));
                    self.value(pointer)?;
                    pointer.truncate(len);
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                self.skip_ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                let mut index = 0usize;
                loop {
                    self.skip_ws();
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                    self.value(pointer)?;
                    pointer.truncate(len);
                    index += 1;
                    self.skip_ws();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => self.string().map(|_| ()),
            _ => {
                // Numbers, true, false, null: scan to the next delimiter.
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                (self.pos > start).then_some(())
            }
        }
    }

    /// Scans a string and returns its decoded value.
    fn string(&mut self) -> Option<String> {
        (self.peek()? == b'"').then_some(())?;
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        let raw = std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?;
        serde_json::from_str(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_pointer() {
        let text = "{\n  \"a\": {\"b~/c\": [1, \"x\"]},\n  \"é\": true\n}";
        let locator = Locator::new(text);
        assert_eq!(locator.position(""), Position { line: 1, column: 1 });
        assert_eq!(locator.position("/a"), Position { line: 2, column: 8 });
        assert_eq!(
            locator.position("/a/b~0~1c/1"),
            Position {
                line: 2,
                column: 21
            }
        );
        assert_eq!(locator.position("/%C3%A9"), Position { line: 1, column: 1 });
        assert_eq!(locator.position("/é"), Position { line: 3, column: 8 });
    }

    #[test]
    fn unknown_pointers_fall_back_to_the_closest_ancestor() {
        let locator = Locator::new("{\"steps\": [ {\"id\": \"x\"} ]}");
        assert_eq!(
            locator.position("/steps/0/input/email"),
            Position {
                line: 1,
                column: 13
            }
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let locator = Locator::new("{\"ü\": \"ä\", \"k\": 1}");
        assert_eq!(
            locator.position("/k"),
            Position {
                line: 1,
                column: 17
            }
        );
    }
}
