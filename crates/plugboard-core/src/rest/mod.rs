//! A toolkit for connectors over REST APIs: pure functions and plain data, no I/O.
//!
//! What every REST connector otherwise writes for itself, once and tested here:
//!
//! - [`ErrorMapping`]: an API's error responses as typed [`ConnectorError`]s, declared (where
//!   the details are, which status and error key mean what), with `AlreadyExists` for creates.
//! - [`Paging`] and [`Pages`]: next links in the body or in a `Link` header, cursors, page
//!   numbers and offsets, with a page cap and a guard against an API that repeats a page.
//! - [`take_items`], [`value_at`], [`text_at`]: finding items, cursors and links in a body.
//! - [`segment`]: putting a caller-given id into a path without letting it leave its segment.
//! - [`RestApi`]: the two declarations together, with the calls a method makes most: send and
//!   check ([`RestApi::send`]), decode ([`RestApi::call`]), create ([`RestApi::create`]) and
//!   stream a whole collection ([`RestApi::stream`]).
//!
//! A connector declares its API once and its methods stay short:
//!
//! ```
//! use std::sync::LazyLock;
//!
//! use plugboard_core::rest::{ErrorDetails, ErrorMapping, Paging, RestApi, Streamed, segment};
//! use plugboard_core::{ConnectorError, Context, HttpRequest, Unnamed, method};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! static API: LazyLock<RestApi> = LazyLock::new(|| {
//!     RestApi::new(
//!         ErrorMapping::new(ErrorDetails::fields("code", "message")),
//!         Paging::cursor("next_cursor", "cursor"),
//!     )
//! });
//!
//! /// A ticket.
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! pub struct Ticket {
//!     /// The ticket's id.
//!     pub id: String,
//!     /// Every field the API returned that this type does not name.
//!     #[serde(flatten)]
//!     pub unnamed: Unnamed,
//! }
//!
//! /// Input of `tickets.get`.
//! #[derive(Deserialize, JsonSchema)]
//! pub struct GetInput {
//!     /// The ticket's id.
//!     pub id: String,
//! }
//!
//! /// Input of `tickets.list` (none).
//! #[derive(Deserialize, JsonSchema)]
//! pub struct ListInput {}
//!
//! /// Gets one ticket by id.
//! #[method(id = "tickets.get", name = "Get Ticket", category = "Tickets", idempotent)]
//! pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<Ticket, ConnectorError> {
//!     API.call(cx, HttpRequest::get(format!("/tickets/{}", segment("id", &input.id)?)))
//! }
//!
//! /// Streams every ticket.
//! #[method(id = "tickets.list", name = "List Tickets", category = "Tickets", idempotent)]
//! pub fn list(cx: &mut Context<'_, Ticket>, _input: ListInput) -> Result<Streamed, ConnectorError> {
//!     API.stream(cx, HttpRequest::get("/tickets").query("limit", 100), "tickets")
//! }
//! # let _ = plugboard_core::MethodSet::new().method::<get>().method::<list>();
//! ```

mod errors;
mod items;
mod link;
mod paging;
mod path;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use errors::{ErrorDetails, ErrorKind, ErrorMapping, MAX_ERROR_BODY};
pub use items::{take_items, text_at, value_at};
pub use link::{link_path, next_link_target};
pub use paging::{AtCap, PageStyle, Pages, Paging};
pub use path::segment;

use crate::error::ConnectorError;
use crate::host::LogLevel;
use crate::http::{HttpRequest, HttpResponse, StreamedResponse};
use crate::method::Context;
use crate::unnamed::Unnamed;

/// What a method that streams a collection returns once every record has been streamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Streamed {
    /// How many records were streamed.
    pub count: u64,
    /// The fields of the collection's first page besides its items and its links (a total
    /// count, aggregate figures…): nothing the API returned is lost to the workflow.
    #[serde(flatten)]
    pub page: Unnamed,
}

/// A REST API as a connector declares it once: how its errors and its pages look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApi {
    errors: ErrorMapping,
    paging: Paging,
}

impl RestApi {
    /// An API whose errors read as `errors` says and whose collections page as `paging` says.
    pub fn new(errors: ErrorMapping, paging: Paging) -> Self {
        Self { errors, paging }
    }

    /// How the API's errors map to [`ConnectorError`]s.
    pub fn errors(&self) -> &ErrorMapping {
        &self.errors
    }

    /// How the API's collections are paged.
    pub fn paging(&self) -> &Paging {
        &self.paging
    }

    /// Sends `request` and returns a 2xx answer; any other status is the error it maps to.
    pub fn send<R: Serialize>(
        &self,
        cx: &Context<'_, R>,
        request: HttpRequest,
    ) -> Result<HttpResponse, ConnectorError> {
        self.errors.check(cx.send(request)?)
    }

    /// Sends `request` and returns a 2xx answer with its body to read as it arrives (a large
    /// download); any other status is the error it maps to.
    pub fn download<'a, R: Serialize>(
        &self,
        cx: &Context<'a, R>,
        request: HttpRequest,
    ) -> Result<StreamedResponse<'a>, ConnectorError> {
        let response = cx.send_streamed(request)?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(self.errors.error(&response.read_whole()?))
        }
    }

    /// Sends `request` and decodes a 2xx answer's body as `T`.
    pub fn call<T: DeserializeOwned, R: Serialize>(
        &self,
        cx: &Context<'_, R>,
        request: HttpRequest,
    ) -> Result<T, ConnectorError> {
        self.send(cx, request)?.decode()
    }

    /// Sends a request that creates `what` (e.g. "a tag named `VIP`") and decodes the answer; a
    /// 409 is [`ConnectorError::AlreadyExists`] naming `what`.
    pub fn create<T: DeserializeOwned, R: Serialize>(
        &self,
        cx: &Context<'_, R>,
        request: HttpRequest,
        what: &str,
    ) -> Result<T, ConnectorError> {
        self.errors.check_create(cx.send(request)?, what)?.decode()
    }

    /// Fetches every page of the collection `first` asks for and emits each item (at `items`
    /// in each page, see [`take_items`]) as a record.
    pub fn stream<R: DeserializeOwned + Serialize>(
        &self,
        cx: &mut Context<'_, R>,
        first: HttpRequest,
        items: &str,
    ) -> Result<Streamed, ConnectorError> {
        let mut pages = self.paging.pages(first);
        let page = stream_pages(cx, &mut pages, Some(items), &self.errors)?;
        Ok(Streamed {
            count: cx.emitted(),
            page: page.into(),
        })
    }
}

/// Walks `pages`, emitting the items of each page (at `items`, or the page itself when `None`)
/// as records as soon as the page arrives: a collection is never held whole. Returns the first
/// page's other fields, without `_links` (see [`Streamed::page`]).
pub fn stream_pages<R: DeserializeOwned + Serialize>(
    cx: &mut Context<'_, R>,
    pages: &mut Pages<'_>,
    items: Option<&str>,
    errors: &ErrorMapping,
) -> Result<Map<String, Value>, ConnectorError> {
    let mut first_page = None;
    while let Some(request) = pages.next_request() {
        let response = errors.check(cx.send(request)?)?;
        let mut body: Value = response.decode()?;
        let found = take_items(&mut body, items)?;
        if first_page.is_none() {
            first_page = Some(page_fields(&body, items, pages.steering_field()));
        }
        let count = found.len();
        cx.log(
            LogLevel::Debug,
            &format!("page {}: {count} items", pages.fetched()),
        );
        for (index, item) in found.into_iter().enumerate() {
            let record = R::deserialize(item).map_err(|e| {
                ConnectorError::unexpected_response(format_args!(
                    "item {index} of page {} does not match the expected shape: {e}",
                    pages.fetched()
                ))
            })?;
            cx.emit(&record)?;
        }
        pages.advance(&response, &body, count)?;
    }
    Ok(first_page.unwrap_or_default())
}

/// What a page holds besides its items (at `items`, already emptied) and what steers the paging
/// (`_links`, and the link or cursor at `steering`).
fn page_fields(page: &Value, items: Option<&str>, steering: Option<&str>) -> Map<String, Value> {
    let Value::Object(fields) = page else {
        return Map::new();
    };
    let mut fields = fields.clone();
    fields.remove("_links");
    for path in [items, steering].into_iter().flatten() {
        let keys: Vec<String> = match path.strip_prefix('/') {
            Some(pointer) => pointer
                .split('/')
                .map(|key| key.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => path.split('.').map(str::to_owned).collect(),
        };
        remove_path(&mut fields, &keys);
    }
    fields
}

/// Removes the value at `keys` from `object`, and each object on the way that it leaves empty.
fn remove_path(object: &mut Map<String, Value>, keys: &[String]) {
    match keys {
        [] => {}
        [last] => {
            object.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(inner)) = object.get_mut(first) {
                remove_path(inner, rest);
                if inner.is_empty() {
                    object.remove(first);
                }
            }
        }
    }
}

/// At most the first 80 characters of `text`, for error messages that quote what an API or a
/// caller sent without echoing all of it.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_page_keeps_every_field_but_its_items_and_navigation() {
        let page = json!({"lists": [], "lists_count": 7, "totals": {"open": 0.4},
            "_links": {"next": {"href": "/v3/contact_lists?cursor=c2"}}});
        assert_eq!(
            Value::Object(page_fields(&page, Some("lists"), Some("_links.next.href"))),
            json!({"lists_count": 7, "totals": {"open": 0.4}})
        );
        let nested = json!({"data": {"items": [], "total": 3}, "meta": {"next_cursor": "c2"}});
        assert_eq!(
            Value::Object(page_fields(
                &nested,
                Some("data.items"),
                Some("meta.next_cursor")
            )),
            json!({"data": {"total": 3}})
        );
        assert_eq!(
            Value::Object(page_fields(&nested, Some("/data/items"), None)),
            json!({"data": {"total": 3}, "meta": {"next_cursor": "c2"}})
        );
        // A page that is itself the array of items has no other fields.
        assert!(page_fields(&json!([]), None, None).is_empty());
    }
}
