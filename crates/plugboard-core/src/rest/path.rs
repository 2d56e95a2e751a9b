//! Putting caller-given values into request paths safely.
//!
//! Ids come from workflow data: an id such as `../account/summary` must never turn a request for
//! one resource into a request for another. Every byte outside the URL's unreserved set is
//! percent-encoded, and the dot segments `.` and `..` (which URL parsers resolve even when encoded)
//! are refused.

use crate::error::ConnectorError;

/// Whether a byte may appear as it is in a path segment (RFC 3986 "unreserved").
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// One path segment holding `value`, the input field `field`, percent-encoded.
///
/// ```
/// use plugboard_core::rest::segment;
///
/// let path = format!("/contacts/{}", segment("contact_id", "../account/summary")?);
/// assert_eq!(path, "/contacts/..%2Faccount%2Fsummary");
/// assert!(segment("contact_id", "..").is_err(), "a dot segment is refused");
/// # Ok::<(), plugboard_core::ConnectorError>(())
/// ```
pub fn segment(field: &str, value: &str) -> Result<String, ConnectorError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return Err(ConnectorError::InvalidInput {
            message: format!(
                "`{field}` must be an id, got `{}`",
                crate::rest::excerpt(value)
            ),
        });
    }
    let mut encoded = String::with_capacity(trimmed.len());
    for byte in trimmed.bytes() {
        if is_unreserved(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_pass_unchanged() {
        assert_eq!(
            segment("contact_id", "1618ae62-4752-11e9-9c8a-fa163e6b01c1").expect("valid"),
            "1618ae62-4752-11e9-9c8a-fa163e6b01c1"
        );
    }

    #[test]
    fn slashes_and_other_reserved_bytes_are_encoded() {
        assert_eq!(
            segment("list_id", "../account/summary?x=1").expect("encodable"),
            "..%2Faccount%2Fsummary%3Fx%3D1"
        );
        assert_eq!(segment("tag_id", "ä b").expect("encodable"), "%C3%A4%20b");
    }

    #[test]
    fn dot_segments_and_blanks_are_refused() {
        for bad in ["", " ", ".", ".."] {
            assert!(
                matches!(
                    segment("contact_id", bad),
                    Err(ConnectorError::InvalidInput { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
