//! `http.list`: a paginated collection, each item streamed as a record.
//!
//! Four pagination styles cover most REST APIs: RFC 8288 `Link: <...>; rel="next"` headers
//! (GitHub, GitLab, Shopify), a cursor in the body sent back as a query parameter (Slack,
//! Notion, Constant Contact), page numbers, and offsets. They are the REST toolkit's
//! ([`plugboard_core::rest::Paging`]); this method only lets a workflow choose one. Pages are
//! never collected: each item is emitted as soon as its page arrives, and every call stops after
//! a bounded number of pages.

use std::collections::BTreeMap;

use plugboard_core::rest::{AtCap, PageStyle, Paging, stream_pages};
use plugboard_core::{Context, HttpRequest, Result, input, method};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ERRORS, QueryValue, with_query_and_headers};
use crate::settings::Settings;

/// Pages followed when the input does not say.
pub const DEFAULT_MAX_PAGES: u32 = 1_000;
/// The most pages one call follows, whatever the input says.
pub const MAX_PAGES: u32 = 10_000;

/// How the API splits a collection into pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One page only.
    #[default]
    None,
    /// Follow the `Link` header's `rel="next"` target (RFC 8288) until there is none.
    LinkHeader,
    /// Read the next cursor from the body and send it back as a query parameter; stop when it
    /// is absent, `null` or empty.
    Cursor {
        /// Where the next cursor is in the body: dot-separated keys (`meta.next_cursor`) or a
        /// JSON pointer (`/meta/next_cursor`).
        cursor_field: String,
        /// The query parameter that carries the cursor, e.g. `cursor`.
        cursor_param: String,
    },
    /// Ask for page 1, 2, 3... until a page is empty or shorter than `page_size`.
    PageNumber {
        /// The query parameter that carries the page number, e.g. `page`.
        page_param: String,
        /// The first page's number (default 1).
        #[serde(default = "one")]
        first_page: u64,
        /// The query parameter that carries the page size, e.g. `per_page`.
        #[serde(default)]
        page_size_param: Option<String>,
        /// The page size to ask for; a shorter page is the last one.
        #[serde(default)]
        page_size: Option<u32>,
    },
    /// Skip 0, then as many items as were read so far, until a page is empty or shorter than
    /// `limit`.
    Offset {
        /// The query parameter that carries the number of items to skip, e.g. `offset`.
        offset_param: String,
        /// The query parameter that carries the page size, e.g. `limit`.
        #[serde(default)]
        limit_param: Option<String>,
        /// The page size to ask for; a shorter page is the last one.
        #[serde(default)]
        limit: Option<u32>,
    },
}

impl Pagination {
    /// The toolkit's paging for this style, with links resolved against `base_url`.
    fn paging(&self, base_url: Option<&str>) -> Paging {
        let style = match self.clone() {
            Self::None => PageStyle::Single,
            Self::LinkHeader => PageStyle::LinkHeader,
            Self::Cursor {
                cursor_field,
                cursor_param,
            } => PageStyle::Cursor {
                field: cursor_field,
                param: cursor_param,
            },
            Self::PageNumber {
                page_param,
                first_page,
                page_size_param,
                page_size,
            } => PageStyle::PageNumber {
                param: page_param,
                first: first_page,
                size_param: page_size_param,
                size: page_size,
            },
            Self::Offset {
                offset_param,
                limit_param,
                limit,
            } => PageStyle::Offset {
                param: offset_param,
                limit_param,
                limit,
            },
        };
        let paging = Paging::new(style);
        match base_url {
            Some(base_url) => paging.base_url(base_url),
            None => paging,
        }
    }
}

fn one() -> u64 {
    1
}

/// Input of `http.list`.
#[input]
#[derive(Clone)]
pub struct ListInput {
    /// The collection's path relative to the connection's base URL, starting with `/`.
    pub path: String,
    /// Query parameters of every page; a list repeats the parameter, `null` leaves it out.
    #[serde(default)]
    pub query: BTreeMap<String, QueryValue>,
    /// Extra headers of every page. Never `Authorization` or the API key's header.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Where the items are in each page: dot-separated keys (`data`, `result.items`) or a JSON
    /// pointer (`/data`); absent when the page itself is an array.
    pub items_field: Option<String>,
    /// How to get the next page (default: one page only).
    #[serde(default)]
    pub pagination: Pagination,
    /// The most pages to fetch (default 1,000; never more than 10,000).
    #[schemars(range(min = 1, max = 10_000))]
    pub max_pages: Option<u32>,
}

/// What `http.list` returns once every item has been streamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListSummary {
    /// How many items were streamed.
    pub count: u64,
    /// How many pages were fetched.
    pub pages: u32,
    /// Whether more pages remained when `max_pages` stopped the call.
    pub truncated: bool,
}

/// GETs a collection page by page (Link header, body cursor, page number or offset) and streams
/// each item as a record.
#[method(id = "http.list", name = "List Items", category = "HTTP", idempotent)]
pub fn list(cx: &mut Context<'_, Value>, input: ListInput) -> Result<ListSummary> {
    let settings = Settings::of(cx)?;
    let first = with_query_and_headers(
        HttpRequest::get(input.path.clone()),
        &input.query,
        &input.headers,
        &settings,
    )?;
    let max_pages = (input.max_pages.unwrap_or(DEFAULT_MAX_PAGES)).clamp(1, MAX_PAGES);
    let paging = (input.pagination.paging(Some(settings.base_url.as_str())))
        .max_pages(max_pages)
        .at_cap(AtCap::Stop);
    let mut pages = paging.pages(first);
    stream_pages(cx, &mut pages, input.items_field.as_deref(), &ERRORS)?;
    Ok(ListSummary {
        count: cx.emitted(),
        pages: pages.fetched(),
        truncated: pages.truncated(),
    })
}
