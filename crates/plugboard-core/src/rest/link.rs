//! Next-page links: where they point, and RFC 8288 `Link` headers.
//!
//! APIs write the next page's address in many ways: a path under the API root (`/v3/contacts?
//! cursor=..`), an absolute URL (`https://api.example.com/v2/items?page=2`), or a reference
//! relative to the current request (`?page=3`, `items?page=3`). A request's path is relative to
//! the base URL, so a link inside the base URL becomes a relative path; a link that leaves it
//! stays absolute, and the host, whose allow-list is the authority, refuses it (`Denied`).
//!
//! The `Link` header parser is hand-written because it is small and no dependency of the
//! workspace parses it; it follows the RFC's grammar closely enough for what APIs send (GitHub,
//! GitLab, Shopify...): `<uri>; rel="next"; title="x", <uri2>; rel=prev`. A `rel` may list
//! several types separated by spaces, and commas inside `<...>` or quoted strings do not split
//! links.

use crate::error::ConnectorError;

/// The request path for a next-page link `target`, given the API root `base` (when the connector
/// knows it) and the path of the request whose answer held the link.
///
/// ```
/// use plugboard_core::rest::link_path;
///
/// let base = Some("https://api.cc.email/v3");
/// assert_eq!(link_path("/v3/contacts?cursor=a", base, "/contacts")?, "/contacts?cursor=a");
/// assert_eq!(link_path("https://api.cc.email/v3/contacts?cursor=b", base, "/contacts")?, "/contacts?cursor=b");
/// // Outside the base URL: left absolute, for the host to refuse.
/// assert_eq!(link_path("https://evil.example/x", base, "/contacts")?, "https://evil.example/x");
/// assert_eq!(link_path("/v3evil/x", base, "/contacts")?, "https://api.cc.email/v3evil/x");
/// # Ok::<(), plugboard_core::ConnectorError>(())
/// ```
pub fn link_path(
    target: &str,
    base: Option<&str>,
    current_path: &str,
) -> Result<String, ConnectorError> {
    let base = base.map(|b| b.trim().trim_end_matches('/'));
    let (origin, base_path) = match base {
        Some(base) => split_origin(base),
        None => ("", ""),
    };
    if target.starts_with("http://") || target.starts_with("https://") {
        if let Some(base) = base
            && let Some(rest) = target.strip_prefix(base)
            && rest.starts_with('/')
        {
            return Ok(rest.to_owned());
        }
        return Ok(target.to_owned());
    }
    if target.starts_with('/') {
        if base.is_none() {
            return Ok(target.to_owned());
        }
        if let Some(rest) = target.strip_prefix(base_path)
            && rest.starts_with('/')
        {
            return Ok(rest.to_owned());
        }
        return Ok(format!("{origin}{target}"));
    }
    // A reference relative to the current request (RFC 3986 section 5.2).
    let current = current_path.split('?').next().unwrap_or_default();
    if target.starts_with('?') {
        return Ok(format!("{current}{target}"));
    }
    match current.rsplit_once('/') {
        Some((dir, _)) if !target.is_empty() => Ok(format!("{dir}/{target}")),
        _ => Err(ConnectorError::unexpected_response(format_args!(
            "cannot follow the next-page link `{}`",
            crate::rest::excerpt(target)
        ))),
    }
}

/// `https://host:port/base/path` → (`https://host:port`, `/base/path`).
fn split_origin(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => url.split_at(after_scheme + slash),
        None => (url, ""),
    }
}

/// The target of the first link whose `rel` includes `next`, across every `Link` header value.
pub fn next_link_target<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(|value| {
        parse(value)
            .into_iter()
            .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case("next")))
            .map(|(target, _)| target)
    })
}

/// Every link of one header value as (target, relation types).
fn parse(value: &str) -> Vec<(String, Vec<String>)> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let Some(after) = rest.strip_prefix('<') else {
            return links;
        };
        let Some(end) = after.find('>') else {
            return links;
        };
        let target = after[..end].trim().to_owned();
        rest = &after[end + 1..];
        let mut rels = Vec::new();
        // Parameters until the next comma outside a quoted string.
        loop {
            rest = rest.trim_start();
            let Some(param) = rest.strip_prefix(';') else {
                break;
            };
            let (name, value, remaining) = parameter(param);
            rest = remaining;
            if name.eq_ignore_ascii_case("rel") {
                rels.extend(value.split_whitespace().map(str::to_owned));
            }
        }
        links.push((target, rels));
        match rest.trim_start().strip_prefix(',') {
            Some(next) => rest = next,
            None => return links,
        }
    }
}

/// One `name[=value]` parameter: its name, its (unquoted) value and the text after it.
fn parameter(text: &str) -> (&str, String, &str) {
    let text = text.trim_start();
    let name_end = text
        .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_whitespace())
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let mut rest = text[name_end..].trim_start();
    let Some(after_eq) = rest.strip_prefix('=') else {
        return (name, String::new(), rest);
    };
    rest = after_eq.trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (name, value, &quoted[i + 1..]),
                other => value.push(other),
            }
        }
        (name, value, "")
    } else {
        let end = rest.find([';', ',']).unwrap_or(rest.len());
        (name, rest[..end].trim().to_owned(), &rest[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_become_paths_inside_the_base_url() {
        let base = Some("https://api.example.com/v2/");
        assert_eq!(
            link_path("https://api.example.com/v2/items?page=2", base, "/items").as_deref(),
            Ok("/items?page=2")
        );
        assert_eq!(
            link_path("/v2/items?page=3", base, "/items").as_deref(),
            Ok("/items?page=3")
        );
        assert_eq!(
            link_path("/other/items", base, "/items").as_deref(),
            Ok("https://api.example.com/other/items"),
            "outside the base path stays absolute, for the host to refuse"
        );
        assert_eq!(
            link_path("https://api.example.com/v2evil/x", base, "/items").as_deref(),
            Ok("https://api.example.com/v2evil/x"),
            "a sibling of the base path is not inside it"
        );
        assert_eq!(
            link_path("https://evil.test/x", base, "/items").as_deref(),
            Ok("https://evil.test/x")
        );
        assert_eq!(
            link_path("?page=4", base, "/a/items?page=3").as_deref(),
            Ok("/a/items?page=4")
        );
        assert_eq!(
            link_path("items?page=5", base, "/a/items").as_deref(),
            Ok("/a/items?page=5")
        );
        assert!(link_path("items", base, "").is_err());
        assert_eq!(split_origin("http://h:1"), ("http://h:1", ""));
    }

    #[test]
    fn without_a_known_base_links_are_kept_as_they_are() {
        assert_eq!(link_path("/x?c=1", None, "/y").as_deref(), Ok("/x?c=1"));
        assert_eq!(
            link_path("https://h.test/x", None, "/y").as_deref(),
            Ok("https://h.test/x")
        );
    }

    #[test]
    fn finds_next_among_several_links_and_relation_types() {
        let github = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            next_link_target([github]).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        let reversed = r#"<https://x.test/a?page=1>; rel="prev first"; title="a, b", </a?page=3&x=1,2>; rel="last next""#;
        assert_eq!(
            next_link_target([reversed]).as_deref(),
            Some("/a?page=3&x=1,2")
        );
        assert_eq!(
            next_link_target(["</p2>; REL=next"]).as_deref(),
            Some("/p2")
        );
    }

    #[test]
    fn several_header_values_and_no_next() {
        assert_eq!(
            next_link_target([
                "<https://x.test/1>; rel=prev",
                "<https://x.test/3>; rel=next"
            ])
            .as_deref(),
            Some("https://x.test/3")
        );
        assert_eq!(
            next_link_target([r#"<https://x.test/1>; rel="prev""#]),
            None
        );
        assert_eq!(next_link_target(["garbage", ""]), None);
        assert_eq!(next_link_target([r#"<unterminated; rel="next""#]), None);
    }
}
