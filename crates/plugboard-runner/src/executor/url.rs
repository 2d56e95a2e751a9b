//! Where a request may go: its path resolved against the base URL, inside the allow-list.
//!
//! A connector gives a path relative to the base URL (invariant 1); it must not be able to send
//! the connection's credentials anywhere else. A request is [`ConnectorError::Denied`] (and never
//! sent) when its resolved URL leaves the base URL's scheme, host and port, climbs above the base
//! path, or names another host that is not in the manifest's `allowed_hosts`.

use plugboard_core::{ConnectorError, HttpRequest};
use reqwest::Url;

fn denied(message: impl Into<String>) -> ConnectorError {
    ConnectorError::Denied {
        message: message.into(),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a path segment (percent-decoded) is `.` or `..`, which could climb above the base path.
fn is_dot_segment(segment: &str) -> bool {
    let lowered = segment.to_ascii_lowercase().replace("%2e", ".");
    lowered == "." || lowered == ".."
}

/// Resolves `request` against `base`, or refuses it.
pub(crate) fn resolve(
    base: &Url,
    allowed_hosts: &[String],
    request: &HttpRequest,
) -> Result<Url, ConnectorError> {
    let path = request.path.as_str();
    if path
        .chars()
        .any(|c| c.is_control() || c == ' ' || c == '\\')
    {
        return Err(denied(
            "the request path contains spaces, control characters or backslashes",
        ));
    }
    if path.contains('#') {
        return Err(denied("the request path must not contain a fragment (`#`)"));
    }
    let mut url = if path.starts_with("http://") || path.starts_with("https://") {
        let url = Url::parse(path).map_err(|e| denied(format!("invalid absolute URL: {e}")))?;
        let host = url.host_str().unwrap_or_default();
        let allowed = same_origin(&url, base)
            || (url.scheme() == "https"
                && allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host)));
        if !allowed {
            return Err(denied(format!(
                "`{host}` is neither the API host nor in the connector's allowed hosts"
            )));
        }
        url
    } else {
        if !path.starts_with('/') || path.starts_with("//") {
            return Err(denied(
                "the request path must start with a single `/` (it is relative to the base URL)",
            ));
        }
        let path_only = path.split('?').next().unwrap_or_default();
        if path_only.split('/').any(is_dot_segment) {
            return Err(denied(
                "the request path must not contain `.` or `..` segments",
            ));
        }
        let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
        let url = Url::parse(&joined).map_err(|e| denied(format!("invalid request path: {e}")))?;
        if !same_origin(&url, base) {
            return Err(denied("the request path leaves the API host"));
        }
        url
    };
    if same_origin(&url, base) {
        let base_path = base.path().trim_end_matches('/');
        let inside = url.path() == base_path
            || url
                .path()
                .strip_prefix(base_path)
                .is_some_and(|rest| rest.starts_with('/'));
        if !inside {
            return Err(denied("the request path leaves the API's base path"));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(denied(
            "the request URL must not carry user information (`@`)",
        ));
    }
    if !request.query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://api.example.com/v3").expect("valid")
    }

    fn check(path: &str) -> Result<Url, ConnectorError> {
        resolve(
            &base(),
            &["files.example.net".to_owned()],
            &HttpRequest::get(path),
        )
    }

    #[test]
    fn relative_paths_stay_under_the_base() {
        let url = check("/contacts?cursor=abc").expect("allowed");
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v3/contacts?cursor=abc"
        );
        let url = resolve(
            &base(),
            &[],
            &HttpRequest::get("/contacts").query("email", "a@b.c"),
        )
        .expect("allowed");
        assert_eq!(
            url.as_str(),
            "https://api.example.com/v3/contacts?email=a%40b.c"
        );
        assert!(
            check("/contacts/a@b.com").is_ok(),
            "`@` in a path is harmless"
        );
    }

    #[test]
    fn escapes_are_denied() {
        for path in [
            "//evil.com/x",
            "http://evil.com/x",
            "https://evil.com/v3/x",
            "/../admin",
            "/%2e%2e/admin",
            "/a/./b",
            "contacts",
            "/x\\y",
            "/x#frag",
            "https://user:pw@api.example.com/v3/x",
            "http://api.example.com/v3/x",
            "https://api.example.com:444/v3/x",
            "https://api.example.com/oauth/token",
            "https://api.example.com/v3x/y",
        ] {
            let outcome = check(path);
            assert!(
                matches!(outcome, Err(ConnectorError::Denied { .. })),
                "{path} -> {outcome:?}"
            );
        }
    }

    #[test]
    fn allowed_hosts_may_be_named_absolutely() {
        assert!(check("https://files.example.net/export/1").is_ok());
        assert!(check("https://api.example.com/v3/contacts").is_ok());
    }
}
