//! `http.list`: a paginated collection, each item streamed as a record.
//!
//! Three pagination styles cover most REST APIs: RFC 8288 `Link: <...>; rel="next"` headers
//! (GitHub, GitLab, Shopify), a cursor in the body sent back as a query parameter (Slack,
//! Notion, Constant Contact), and page numbers. Pages are never collected: each item is emitted
//! as soon as its page arrives, and every call stops after a bounded number of pages.

use std::collections::{BTreeMap, HashSet};

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{QueryValue, Visible, status_error, with_query_and_headers};
use crate::link;

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
}

fn one() -> u64 {
    1
}

/// Input of `http.list`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    #[serde(default)]
    pub items_field: Option<String>,
    /// How to get the next page (default: one page only).
    #[serde(default)]
    pub pagination: Pagination,
    /// The most pages to fetch (default 1,000; never more than 10,000).
    #[serde(default)]
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

/// `http.list`.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = ListSummary;
    type Record = Value;
    const INFO: MethodInfo = MethodInfo {
        id: "http.list",
        name: "List Items",
        category: "HTTP",
        description: "GETs a collection page by page (Link header, body cursor or page number) \
            and streams each item as a record.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, Value>,
        input: ListInput,
    ) -> Result<ListSummary, ConnectorError> {
        let visible = cx.settings::<Value>().map(|v| match v {
            Value::Object(map) => Visible::read(&map),
            _ => Visible::default(),
        })?;
        let first = with_query_and_headers(
            HttpRequest::get(input.path.clone()),
            &input.query,
            &input.headers,
            &visible,
        )?;
        let max_pages = input
            .max_pages
            .unwrap_or(DEFAULT_MAX_PAGES)
            .clamp(1, MAX_PAGES);
        let mut seen: HashSet<String> = HashSet::new();
        let mut page_number = match &input.pagination {
            Pagination::PageNumber { first_page, .. } => *first_page,
            _ => 0,
        };
        let mut next = Some(match &input.pagination {
            Pagination::PageNumber {
                page_param,
                page_size_param,
                page_size,
                ..
            } => numbered(&first, page_param, page_number, page_size_param, *page_size),
            _ => first.clone(),
        });
        let mut pages = 0;
        while let Some(request) = next.take() {
            if pages == max_pages {
                return Ok(ListSummary {
                    count: cx.emitted(),
                    pages,
                    truncated: true,
                });
            }
            let current_path = request.path.clone();
            let response = cx.send(request)?;
            pages += 1;
            if !response.is_success() {
                return Err(status_error(&response));
            }
            let body: Value = response.decode()?;
            let items = items_at(&body, input.items_field.as_deref())?;
            cx.log(
                LogLevel::Debug,
                &format!("http.list: page {pages} has {} items", items.len()),
            );
            let count = items.len();
            for item in items {
                cx.emit(&item)?;
            }
            next = match &input.pagination {
                Pagination::None => None,
                Pagination::LinkHeader => {
                    let values = response
                        .headers
                        .iter()
                        .filter(|(name, _)| name.eq_ignore_ascii_case("link"))
                        .map(|(_, value)| value.as_str());
                    match link::next_target(values) {
                        Some(target) => {
                            let mut request = first.clone();
                            request.query.clear();
                            request.path =
                                link_path(&target, visible.base_url.as_deref(), &current_path)?;
                            Some(request)
                        }
                        None => None,
                    }
                }
                Pagination::Cursor {
                    cursor_field,
                    cursor_param,
                } => match cursor_at(&body, cursor_field) {
                    Some(cursor) => {
                        let mut request = first.clone();
                        request.query.retain(|(name, _)| name != cursor_param);
                        Some(request.query(cursor_param.as_str(), cursor))
                    }
                    None => None,
                },
                Pagination::PageNumber {
                    page_param,
                    page_size_param,
                    page_size,
                    ..
                } => {
                    let short = page_size.is_some_and(|size| count < size as usize);
                    if count == 0 || short {
                        None
                    } else {
                        // A first page near `u64::MAX` (from the input) runs out of numbers:
                        // stop as `max_pages` would, rather than overflow.
                        let Some(following) = page_number.checked_add(1) else {
                            return Ok(ListSummary {
                                count: cx.emitted(),
                                pages,
                                truncated: true,
                            });
                        };
                        page_number = following;
                        Some(numbered(
                            &first,
                            page_param,
                            page_number,
                            page_size_param,
                            *page_size,
                        ))
                    }
                }
            };
            if let Some(request) = &next {
                let key = format!("{}?{:?}", request.path, request.query);
                if !seen.insert(key) {
                    return Err(ConnectorError::unexpected_response(format_args!(
                        "the API sent the same next page twice after {pages} pages; stopping"
                    )));
                }
            }
        }
        Ok(ListSummary {
            count: cx.emitted(),
            pages,
            truncated: false,
        })
    }
}

fn numbered(
    first: &HttpRequest,
    page_param: &str,
    page: u64,
    page_size_param: &Option<String>,
    page_size: Option<u32>,
) -> HttpRequest {
    let mut request = first.clone();
    request
        .query
        .retain(|(name, _)| name != page_param && Some(name) != page_size_param.as_ref());
    request = request.query(page_param, page);
    if let (Some(param), Some(size)) = (page_size_param, page_size) {
        request = request.query(param.as_str(), size);
    }
    request
}

/// The value at a dot-separated path or JSON pointer.
fn at<'v>(body: &'v Value, field: &str) -> Option<&'v Value> {
    if field.starts_with('/') {
        return body.pointer(field);
    }
    field
        .split('.')
        .try_fold(body, |value, key| value.as_object()?.get(key))
}

fn items_at(body: &Value, field: Option<&str>) -> Result<Vec<Value>, ConnectorError> {
    let items = match field {
        None => body,
        Some(field) => match at(body, field) {
            // A last page often leaves the field out or sets it to null.
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(items) => items,
        },
    };
    match items {
        Value::Array(items) => Ok(items.clone()),
        _ => Err(ConnectorError::unexpected_response(match field {
            None => {
                "the page is not a JSON array; set `items_field` to where its items are".to_owned()
            }
            Some(field) => format!("`{field}` in the page is not an array"),
        })),
    }
}

fn cursor_at(body: &Value, field: &str) -> Option<String> {
    match at(body, field)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A `Link` target as a request path for the host: relative to the base URL when it lies
/// inside it, else absolute (the host then refuses it if it leaves the connection's base URL).
fn link_path(
    target: &str,
    base_url: Option<&str>,
    current_path: &str,
) -> Result<String, ConnectorError> {
    let base = base_url.map(|b| b.trim().trim_end_matches('/'));
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
            "cannot follow the next-page link `{target}`"
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

#[cfg(test)]
mod tests {
    use serde_json::json;

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
        assert_eq!(split_origin("http://h:1"), ("http://h:1", ""));
    }

    #[test]
    fn items_and_cursors_are_found_by_keys_or_pointer() {
        let body = json!({"data": {"items": [1, 2]}, "meta": {"next": "c2", "n": 7, "empty": ""}});
        assert_eq!(
            items_at(&body, Some("data.items")),
            Ok(vec![json!(1), json!(2)])
        );
        assert_eq!(
            items_at(&body, Some("/data/items")),
            Ok(vec![json!(1), json!(2)])
        );
        assert_eq!(items_at(&body, Some("missing")), Ok(vec![]));
        assert!(items_at(&body, Some("meta")).is_err());
        assert!(items_at(&body, None).is_err());
        assert_eq!(items_at(&json!([3]), None), Ok(vec![json!(3)]));
        assert_eq!(cursor_at(&body, "meta.next").as_deref(), Some("c2"));
        assert_eq!(cursor_at(&body, "meta.n").as_deref(), Some("7"));
        assert_eq!(cursor_at(&body, "meta.empty"), None);
        assert_eq!(cursor_at(&body, "meta.none"), None);
    }

    #[test]
    fn page_requests_replace_the_page_parameters() {
        let first = HttpRequest::get("/items").query("page", 9).query("q", "x");
        let request = numbered(&first, "page", 2, &Some("per_page".into()), Some(50));
        assert_eq!(
            request.query,
            vec![
                ("q".into(), "x".into()),
                ("page".into(), "2".into()),
                ("per_page".into(), "50".into())
            ]
        );
    }
}
