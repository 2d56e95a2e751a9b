//! Following Constant Contact's cursor pagination.
//!
//! Collections carry `_links.next.href`, a path relative to the API host that starts with `/v3`
//! (e.g. `/v3/contacts?cursor=...`). Stripping the base path gives a request path relative to the
//! base URL, query string included, so the host can send it as it is.

use std::collections::HashSet;

use plugboard_core::{ConnectorError, HttpRequest};
use serde::Deserialize;

/// The most pages one call follows: at 500 records a page, 20,000 pages is ten million records,
/// more than any account holds, so reaching it means the API is looping and the call stops.
pub(crate) const MAX_PAGES: u32 = 20_000;

/// The `_links` object of a collection page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PagingLinks {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    /// Some collections write `null` (or leave it out) on the last page.
    #[serde(default)]
    href: Option<String>,
}

impl PagingLinks {
    /// The request for the next page, or `None` on the last page.
    pub(crate) fn next_request(&self) -> Result<Option<HttpRequest>, ConnectorError> {
        let Some(href) = self
            .next
            .as_ref()
            .and_then(|link| link.href.as_deref())
            .filter(|href| !href.is_empty())
        else {
            return Ok(None);
        };
        let path = href
            .strip_prefix(crate::BASE_PATH)
            .filter(|path| path.starts_with('/'))
            .ok_or_else(|| {
                ConnectorError::unexpected_response(format_args!(
                    "a next-page link should start with {}/, got `{href}`",
                    crate::BASE_PATH,
                ))
            })?;
        Ok(Some(HttpRequest::get(path)))
    }
}

/// The pages of one collection call: hands out each request once, and stops a call whose API
/// repeats a page or never ends (every loop that sends traffic is bounded).
pub(crate) struct Pages {
    next: Option<HttpRequest>,
    seen: HashSet<String>,
    fetched: u32,
}

impl Pages {
    /// Starts at the first page's request.
    pub(crate) fn new(first: HttpRequest) -> Self {
        Self {
            next: Some(first),
            seen: HashSet::new(),
            fetched: 0,
        }
    }

    /// The request for the next page, or `None` when the last page has been handled.
    pub(crate) fn next_request(&mut self) -> Option<HttpRequest> {
        let request = self.next.take()?;
        self.fetched += 1;
        self.seen.insert(request.path.clone());
        Some(request)
    }

    /// Records the links of the page just handled.
    pub(crate) fn advance(&mut self, links: &PagingLinks) -> Result<(), ConnectorError> {
        let Some(next) = links.next_request()? else {
            return Ok(());
        };
        if self.seen.contains(&next.path) {
            return Err(ConnectorError::unexpected_response(format_args!(
                "the API sent the link to an already fetched page again (`{}`); stopping",
                next.path
            )));
        }
        if self.fetched >= MAX_PAGES {
            return Err(ConnectorError::unexpected_response(format_args!(
                "the collection goes on past {MAX_PAGES} pages; stopping"
            )));
        }
        self.next = Some(next);
        Ok(())
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
    fn a_null_next_href_means_last_page() {
        let links: PagingLinks =
            serde_json::from_str(r#"{"next": {"href": null}}"#).expect("valid links");
        assert!(links.next_request().expect("valid").is_none());
    }

    #[test]
    fn a_repeated_page_stops_the_call() {
        let mut pages = Pages::new(HttpRequest::get("/contacts?cursor=a"));
        assert!(pages.next_request().is_some());
        let links: PagingLinks =
            serde_json::from_str(r#"{"next": {"href": "/v3/contacts?cursor=a"}}"#)
                .expect("valid links");
        assert!(pages.advance(&links).is_err());
    }

    #[test]
    fn foreign_links_are_refused() {
        let links: PagingLinks =
            serde_json::from_str(r#"{"next": {"href": "https://evil.example/x"}}"#)
                .expect("valid links");
        assert!(links.next_request().is_err());
        let sneaky: PagingLinks =
            serde_json::from_str(r#"{"next": {"href": "/v3evil/x"}}"#).expect("valid links");
        assert!(sneaky.next_request().is_err());
    }
}
