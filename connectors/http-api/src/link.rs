//! RFC 8288 `Link` headers: finding the `rel="next"` target.
//!
//! Hand-written because it is small and none of the workspace's dependencies parses it; it
//! follows the RFC's grammar closely enough for what APIs send (GitHub, GitLab, Shopify...):
//! `<uri>; rel="next"; title="x", <uri2>; rel=prev`. A `rel` may list several types separated by
//! spaces, and commas inside `<...>` or quoted strings do not split links.

/// The target of the first link whose `rel` includes `next`, across every `Link` header value.
pub(crate) fn next_target<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
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
    fn finds_next_among_several_links_and_relation_types() {
        let github = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            next_target([github]).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        let reversed = r#"<https://x.test/a?page=1>; rel="prev first"; title="a, b", </a?page=3&x=1,2>; rel="last next""#;
        assert_eq!(next_target([reversed]).as_deref(), Some("/a?page=3&x=1,2"));
        assert_eq!(next_target(["</p2>; REL=next"]).as_deref(), Some("/p2"));
    }

    #[test]
    fn several_header_values_and_no_next() {
        assert_eq!(
            next_target([
                "<https://x.test/1>; rel=prev",
                "<https://x.test/3>; rel=next"
            ])
            .as_deref(),
            Some("https://x.test/3")
        );
        assert_eq!(next_target([r#"<https://x.test/1>; rel="prev""#]), None);
        assert_eq!(next_target(["garbage", ""]), None);
        assert_eq!(next_target([r#"<unterminated; rel="next""#]), None);
    }
}
