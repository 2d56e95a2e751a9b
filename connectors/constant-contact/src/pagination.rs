//! Following Constant Contact's cursor pagination.
//!
//! Collections carry `_links.next.href`, a path relative to the API host that starts with `/v3`
//! (e.g. `/v3/contacts?cursor=...`). Stripping the base path gives a request path relative to the
//! base URL, query string included, so the host can send it as it is.

use plugboard_core::{ConnectorError, HttpRequest};
use serde::Deserialize;

/// The `_links` object of a collection page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PagingLinks {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    href: String,
}

impl PagingLinks {
    /// The request for the next page, or `None` on the last page.
    pub(crate) fn next_request(&self) -> Result<Option<HttpRequest>, ConnectorError> {
        let Some(link) = &self.next else {
            return Ok(None);
        };
        let path = link.href.strip_prefix(crate::BASE_PATH).ok_or_else(|| {
            ConnectorError::unexpected_response(format_args!(
                "a next-page link should start with {}, got `{}`",
                crate::BASE_PATH,
                link.href
            ))
        })?;
        Ok(Some(HttpRequest::get(path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_become_paths_relative_to_the_base_url() {
        let links: PagingLinks = serde_json::from_str(
            r#"{"next": {"href": "/v3/contact_lists?cursor=bGltaXQ9MSZuZXh0PTI="}}"#,
        )
        .expect("valid links");
        let request = links.next_request().expect("valid").expect("a next page");
        assert_eq!(request.path, "/contact_lists?cursor=bGltaXQ9MSZuZXh0PTI=");
    }

    #[test]
    fn no_next_link_means_last_page() {
        let links: PagingLinks = serde_json::from_str("{}").expect("valid links");
        assert!(links.next_request().expect("valid").is_none());
    }

    #[test]
    fn foreign_links_are_refused() {
        let links: PagingLinks =
            serde_json::from_str(r#"{"next": {"href": "https://evil.example/x"}}"#)
                .expect("valid links");
        assert!(links.next_request().is_err());
    }
}
