//! Following a collection's pages, boundedly.
//!
//! A [`Paging`] says how an API splits a collection ([`PageStyle`]), how many pages one call may
//! follow, and what happens at that cap. [`Pages`] walks one collection: it hands out each page's
//! request once, works out the next one from the page just read, and stops a call whose API
//! sends a page it already sent (a loop) or goes on past the cap (every loop that sends traffic
//! is bounded).

use std::collections::HashSet;

use serde_json::Value;

use crate::error::ConnectorError;
use crate::http::{HttpRequest, HttpResponse};
use crate::rest::{link_path, next_link_target, text_at};

/// How an API says where the next page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStyle {
    /// One page only.
    Single,
    /// The body holds the next page's address at `field` (e.g. `_links.next.href`); absent,
    /// `null` or empty on the last page. It may be a path under the API root, an absolute URL or
    /// a reference relative to the current request (see [`link_path`]).
    BodyLink {
        /// Where the link is: dot-separated keys or a JSON pointer.
        field: String,
    },
    /// The `Link` header's `rel="next"` target (RFC 8288), resolved like [`Self::BodyLink`].
    LinkHeader,
    /// The body holds a cursor at `field`, sent back as the query parameter `param`; absent,
    /// `null` or empty on the last page.
    Cursor {
        /// Where the cursor is: dot-separated keys or a JSON pointer.
        field: String,
        /// The query parameter that carries it.
        param: String,
    },
    /// The query parameter `param` counts pages from `first`; a page that is empty, or shorter
    /// than `size` when the size is known, is the last.
    PageNumber {
        /// The query parameter that carries the page number.
        param: String,
        /// The first page's number (often 1, sometimes 0).
        first: u64,
        /// The query parameter that carries the page size, when the API takes one.
        size_param: Option<String>,
        /// The page size asked for.
        size: Option<u32>,
    },
    /// The query parameter `param` is the number of items to skip: 0, then the number read so
    /// far; a page that is empty, or shorter than `limit` when known, is the last.
    Offset {
        /// The query parameter that carries the offset.
        param: String,
        /// The query parameter that carries the page size, when the API takes one.
        limit_param: Option<String>,
        /// The page size asked for.
        limit: Option<u32>,
    },
}

/// What a walk does when the collection goes on past its page cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtCap {
    /// Fails the call: past the cap, the API is taken to be looping.
    Fail,
    /// Stops and reports the walk as truncated ([`Pages::truncated`]).
    Stop,
}

/// How a collection is paged and how far a call may follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    style: PageStyle,
    base_url: Option<String>,
    max_pages: u32,
    at_cap: AtCap,
}

impl Paging {
    /// The cap when none is given: 10,000 pages, more than a sane API needs for one listing.
    pub const DEFAULT_MAX_PAGES: u32 = 10_000;

    /// Pages of `style`, capped at [`Self::DEFAULT_MAX_PAGES`], failing past the cap.
    pub fn new(style: PageStyle) -> Self {
        Self {
            style,
            base_url: None,
            max_pages: Self::DEFAULT_MAX_PAGES,
            at_cap: AtCap::Fail,
        }
    }

    /// A link in the body at `field`.
    pub fn body_link(field: &str) -> Self {
        Self::new(PageStyle::BodyLink {
            field: field.to_owned(),
        })
    }

    /// A cursor in the body at `field`, sent back as the query parameter `param`.
    pub fn cursor(field: &str, param: &str) -> Self {
        Self::new(PageStyle::Cursor {
            field: field.to_owned(),
            param: param.to_owned(),
        })
    }

    /// Page numbers in the query parameter `param`, counted from `first` (often 1, sometimes 0).
    /// The walk ends at an empty page; with [`Self::page_size`], at a short one too.
    pub fn page_number(param: &str, first: u64) -> Self {
        Self::new(PageStyle::PageNumber {
            param: param.to_owned(),
            first,
            size_param: None,
            size: None,
        })
    }

    /// Offsets in the query parameter `param`: 0, then the number of items read so far. The walk
    /// ends at an empty page; with [`Self::page_size`], at a short one too.
    pub fn offset(param: &str) -> Self {
        Self::new(PageStyle::Offset {
            param: param.to_owned(),
            limit_param: None,
            limit: None,
        })
    }

    /// Asks for pages of `size` items in the query parameter `param`, so that a shorter page ends
    /// the walk without asking for an empty one. For page numbers and offsets; other styles are
    /// left as they are. The method's `cost(per_page = ..)` should name the same size.
    #[must_use]
    pub fn page_size(mut self, param: &str, size: u32) -> Self {
        match &mut self.style {
            PageStyle::PageNumber {
                size_param,
                size: asked,
                ..
            } => {
                *size_param = Some(param.to_owned());
                *asked = Some(size);
            }
            PageStyle::Offset {
                limit_param, limit, ..
            } => {
                *limit_param = Some(param.to_owned());
                *limit = Some(size);
            }
            _ => {}
        }
        self
    }

    /// The API root that links are resolved against (the connector's base URL), so a link inside
    /// it becomes a relative path; without it, links are sent as the API wrote them.
    #[must_use]
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into());
        self
    }

    /// The most pages one call follows (at least 1).
    #[must_use]
    pub fn max_pages(mut self, max_pages: u32) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// What happens past the cap.
    #[must_use]
    pub fn at_cap(mut self, at_cap: AtCap) -> Self {
        self.at_cap = at_cap;
        self
    }

    /// The style.
    pub fn style(&self) -> &PageStyle {
        &self.style
    }

    /// A walk over the collection whose first page `first` asks for.
    pub fn pages(&self, first: HttpRequest) -> Pages<'_> {
        let (page_number, first) = match &self.style {
            PageStyle::PageNumber {
                param,
                first: number,
                size_param,
                size,
            } => (
                *number,
                numbered(&first, param, *number, size_param.as_deref(), *size),
            ),
            PageStyle::Offset {
                param,
                limit_param,
                limit,
            } => (
                0,
                numbered(&first, param, 0, limit_param.as_deref(), *limit),
            ),
            _ => (0, first),
        };
        Pages {
            paging: self,
            next: Some(first.clone()),
            first,
            current_path: String::new(),
            seen: HashSet::new(),
            fetched: 0,
            page_number,
            offset: 0,
            truncated: false,
        }
    }
}

/// `request` with `param` set to `value` (and `size_param` to `size`), replacing earlier values.
fn numbered(
    request: &HttpRequest,
    param: &str,
    value: u64,
    size_param: Option<&str>,
    size: Option<u32>,
) -> HttpRequest {
    let mut request = request.clone();
    request
        .query
        .retain(|(name, _)| name != param && Some(name.as_str()) != size_param);
    request = request.query(param, value);
    if let (Some(name), Some(size)) = (size_param, size) {
        request = request.query(name, size);
    }
    request
}

/// One walk over a collection's pages.
///
/// ```
/// use plugboard_core::HttpRequest;
/// use plugboard_core::rest::Paging;
/// use serde_json::json;
///
/// let paging = Paging::body_link("_links.next.href").base_url("https://api.cc.email/v3");
/// let mut pages = paging.pages(HttpRequest::get("/contacts").query("limit", 500));
///
/// let first = pages.next_request().expect("a first page");
/// assert_eq!(first.path, "/contacts");
/// let body = json!({"contacts": [], "_links": {"next": {"href": "/v3/contacts?cursor=abc"}}});
/// pages.advance(&plugboard_core::HttpResponse::json(200, &body), &body, 0)?;
///
/// assert_eq!(pages.next_request().expect("a second page").path, "/contacts?cursor=abc");
/// let last = json!({"contacts": []});
/// pages.advance(&plugboard_core::HttpResponse::json(200, &last), &last, 0)?;
/// assert!(pages.next_request().is_none());
/// assert_eq!(pages.fetched(), 2);
/// # Ok::<(), plugboard_core::ConnectorError>(())
/// ```
#[derive(Debug)]
pub struct Pages<'p> {
    paging: &'p Paging,
    first: HttpRequest,
    next: Option<HttpRequest>,
    current_path: String,
    seen: HashSet<String>,
    fetched: u32,
    page_number: u64,
    offset: u64,
    truncated: bool,
}

impl Pages<'_> {
    /// Where in a page's body the paging reads the next page (a link or a cursor), if it reads
    /// the body at all: the page's own navigation, not data.
    pub fn steering_field(&self) -> Option<&str> {
        match &self.paging.style {
            PageStyle::BodyLink { field } | PageStyle::Cursor { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The request for the next page, or `None` when the walk is over.
    pub fn next_request(&mut self) -> Option<HttpRequest> {
        let request = self.next.take()?;
        self.fetched += 1;
        self.seen.insert(page_key(&request));
        self.current_path.clone_from(&request.path);
        Some(request)
    }

    /// Works out the next page from the one just read: its `response`, its body, and how many
    /// items it held. Fails when the API sends an already fetched page again, or (with
    /// [`AtCap::Fail`]) when the collection goes on past the cap.
    pub fn advance(
        &mut self,
        response: &HttpResponse,
        body: &Value,
        items: usize,
    ) -> Result<(), ConnectorError> {
        let Some(next) = self.following(response, body, items)? else {
            return Ok(());
        };
        let key = page_key(&next);
        if self.seen.contains(&key) {
            return Err(ConnectorError::unexpected_response(format_args!(
                "the API sent the link to an already fetched page again after {} pages \
                 (`{}`); stopping",
                self.fetched,
                crate::rest::excerpt(&key)
            )));
        }
        if self.fetched >= self.paging.max_pages {
            return self.stop_at_cap();
        }
        self.next = Some(next);
        Ok(())
    }

    fn stop_at_cap(&mut self) -> Result<(), ConnectorError> {
        match self.paging.at_cap {
            AtCap::Stop => {
                self.truncated = true;
                Ok(())
            }
            AtCap::Fail => Err(ConnectorError::unexpected_response(format_args!(
                "the collection goes on past {} pages; stopping",
                self.paging.max_pages
            ))),
        }
    }

    /// The request for the page after the one just read, if there is one.
    fn following(
        &mut self,
        response: &HttpResponse,
        body: &Value,
        items: usize,
    ) -> Result<Option<HttpRequest>, ConnectorError> {
        let paging = self.paging;
        let link = |target: Option<String>| -> Result<Option<HttpRequest>, ConnectorError> {
            let Some(target) = target.filter(|t| !t.trim().is_empty()) else {
                return Ok(None);
            };
            let mut request = self.first.clone();
            request.query.clear();
            request.path = link_path(
                target.trim(),
                paging.base_url.as_deref(),
                &self.current_path,
            )?;
            Ok(Some(request))
        };
        match &paging.style {
            PageStyle::Single => Ok(None),
            PageStyle::BodyLink { field } => link(text_at(body, field)),
            PageStyle::LinkHeader => link(next_link_target(
                response
                    .headers
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("link"))
                    .map(|(_, value)| value.as_str()),
            )),
            PageStyle::Cursor { field, param } => Ok(text_at(body, field).map(|cursor| {
                let mut request = self.first.clone();
                request.query.retain(|(name, _)| name != param);
                request.query(param.as_str(), cursor)
            })),
            PageStyle::PageNumber {
                param,
                size_param,
                size,
                ..
            } => {
                if is_last(items, *size) {
                    return Ok(None);
                }
                // A first page near `u64::MAX` runs out of numbers: stop as the cap would.
                let Some(number) = self.page_number.checked_add(1) else {
                    self.stop_at_cap()?;
                    return Ok(None);
                };
                self.page_number = number;
                Ok(Some(numbered(
                    &self.first,
                    param,
                    number,
                    size_param.as_deref(),
                    *size,
                )))
            }
            PageStyle::Offset {
                param,
                limit_param,
                limit,
            } => {
                if is_last(items, *limit) {
                    return Ok(None);
                }
                self.offset = self.offset.saturating_add(items as u64);
                Ok(Some(numbered(
                    &self.first,
                    param,
                    self.offset,
                    limit_param.as_deref(),
                    *limit,
                )))
            }
        }
    }

    /// How many pages were handed out.
    pub fn fetched(&self) -> u32 {
        self.fetched
    }

    /// Whether the walk stopped at the cap with pages left ([`AtCap::Stop`]).
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

/// Whether a page of `items` is the last one of a numbered or offset walk.
fn is_last(items: usize, size: Option<u32>) -> bool {
    items == 0 || size.is_some_and(|size| items < size as usize)
}

/// What identifies a page: its path (with any query string) and query pairs.
fn page_key(request: &HttpRequest) -> String {
    let mut key = request.path.clone();
    for (i, (name, value)) in request.query.iter().enumerate() {
        key.push(if i == 0 && !request.path.contains('?') {
            '?'
        } else {
            '&'
        });
        key.push_str(name);
        key.push('=');
        key.push_str(value);
    }
    key
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(body: &Value) -> HttpResponse {
        HttpResponse::json(200, body)
    }

    /// Walks `paging` over `bodies` (one per page) and returns every request it asked for.
    fn walk(paging: &Paging, first: HttpRequest, bodies: &[Value]) -> Vec<String> {
        let mut pages = paging.pages(first);
        let mut seen = Vec::new();
        for body in bodies {
            let Some(request) = pages.next_request() else {
                break;
            };
            seen.push(page_key(&request));
            let items = body.as_array().map_or(0, Vec::len);
            pages.advance(&ok(body), body, items).expect("advances");
        }
        assert!(pages.next_request().is_none(), "every page was scripted");
        seen
    }

    #[test]
    fn body_links_become_paths_relative_to_the_base_url() {
        let paging = Paging::body_link("_links.next.href").base_url("https://api.cc.email/v3");
        let requests = walk(
            &paging,
            HttpRequest::get("/contact_lists").query("limit", 500),
            &[
                json!({"_links": {"next": {"href": "/v3/contact_lists?cursor=bGltaXQ9MSZuZXh0PTI="}}}),
                json!({"_links": {"next": {"href": null}}}),
            ],
        );
        assert_eq!(
            requests,
            [
                "/contact_lists?limit=500",
                "/contact_lists?cursor=bGltaXQ9MSZuZXh0PTI="
            ]
        );
    }

    #[test]
    fn cursors_replace_the_previous_one() {
        let paging = Paging::cursor("meta.next", "cursor");
        let requests = walk(
            &paging,
            HttpRequest::get("/items").query("q", "x"),
            &[
                json!({"meta": {"next": "c2"}}),
                json!({"meta": {"next": 3}}),
                json!({"meta": {"next": ""}}),
            ],
        );
        assert_eq!(
            requests,
            ["/items?q=x", "/items?q=x&cursor=c2", "/items?q=x&cursor=3"]
        );
    }

    #[test]
    fn page_numbers_and_offsets_stop_at_a_short_or_empty_page() {
        let numbered = Paging::page_number("page", 1).page_size("per_page", 2);
        assert_eq!(
            numbered.style(),
            &PageStyle::PageNumber {
                param: "page".into(),
                first: 1,
                size_param: Some("per_page".into()),
                size: Some(2),
            }
        );
        let requests = walk(
            &numbered,
            HttpRequest::get("/n").query("page", 9),
            &[json!([1, 2]), json!([3])],
        );
        assert_eq!(requests, ["/n?page=1&per_page=2", "/n?page=2&per_page=2"]);
        let offsets = Paging::offset("offset");
        let requests = walk(
            &offsets,
            HttpRequest::get("/o"),
            &[json!([1, 2, 3]), json!([4, 5]), json!([])],
        );
        assert_eq!(requests, ["/o?offset=0", "/o?offset=3", "/o?offset=5"]);
    }

    #[test]
    fn link_headers_are_followed() {
        let paging = Paging::new(PageStyle::LinkHeader).base_url("https://api.example.com/v2");
        let mut pages = paging.pages(HttpRequest::get("/items"));
        pages.next_request();
        let mut response = ok(&json!([]));
        response.headers.push((
            "link".into(),
            r#"<https://api.example.com/v2/items?page=2>; rel="next""#.into(),
        ));
        pages.advance(&response, &json!([]), 0).expect("advances");
        assert_eq!(pages.next_request().expect("page 2").path, "/items?page=2");
    }

    #[test]
    fn a_repeated_page_stops_the_call() {
        let paging = Paging::body_link("next").base_url("https://h.test/v3");
        let mut pages = paging.pages(HttpRequest::get("/contacts?cursor=a"));
        pages.next_request();
        let body = json!({"next": "/v3/contacts?cursor=a"});
        let error = pages.advance(&ok(&body), &body, 0).expect_err("a loop");
        assert!(error.to_string().contains("already fetched"), "{error}");
    }

    #[test]
    fn the_cap_fails_or_truncates() {
        let body = json!({"next": "c"});
        let failing = Paging::cursor("next", "cursor").max_pages(1);
        let mut pages = failing.pages(HttpRequest::get("/x"));
        pages.next_request();
        let error = pages.advance(&ok(&body), &body, 0).expect_err("capped");
        assert!(error.to_string().contains("past 1 pages"), "{error}");

        let stopping = Paging::cursor("next", "cursor")
            .max_pages(1)
            .at_cap(AtCap::Stop);
        let mut pages = stopping.pages(HttpRequest::get("/x"));
        pages.next_request();
        pages.advance(&ok(&body), &body, 0).expect("stops quietly");
        assert!(pages.next_request().is_none());
        assert!(pages.truncated());
    }

    #[test]
    fn page_numbers_that_run_out_stop_like_the_cap() {
        let paging = Paging::new(PageStyle::PageNumber {
            param: "p".into(),
            first: u64::MAX,
            size_param: None,
            size: None,
        })
        .at_cap(AtCap::Stop);
        let mut pages = paging.pages(HttpRequest::get("/n"));
        pages.next_request();
        pages
            .advance(&ok(&json!([1])), &json!([1]), 1)
            .expect("stops");
        assert!(pages.truncated());
        assert!(pages.next_request().is_none());
    }
}
