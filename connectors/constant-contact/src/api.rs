//! The Constant Contact API as the REST toolkit sees it: its errors and its pages.
//!
//! Errors come as an array of `{error_key, error_message}`, except authorization and rate-limit
//! errors, which come as one object; both limits answer 429, and only the key tells the daily
//! quota (`quota_exceeded`) and a full queue of bulk activities (`too_many_queued_activities`)
//! from the per-second throttle. Collections carry `_links.next.href`,
//! a path under the API host that starts with `/v3` (e.g. `/v3/contacts?cursor=...`).

use std::sync::LazyLock;

use plugboard_core::rest::{ErrorDetails, ErrorKind, ErrorMapping, Paging, RestApi};

/// Where a collection page holds the link to the next one.
pub(crate) const NEXT_LINK: &str = "_links.next.href";
/// The most pages one call follows: at 500 records a page, 20,000 pages is ten million records,
/// more than any account holds, so reaching it means the API is looping and the call stops.
pub(crate) const MAX_PAGES: u32 = 20_000;

/// How the connector reads the API's errors and follows its pages.
pub(crate) static API: LazyLock<RestApi> = LazyLock::new(|| {
    RestApi::new(
        ErrorMapping::new(ErrorDetails::fields("error_key", "error_message"))
            .on_key(429, "quota_exceeded", ErrorKind::QuotaExhausted)
            // More than 1,000 queued bulk activities: it clears only as they finish, so the
            // call fails with the API's reason instead of being retried like a throttle.
            .on_key(429, "too_many_queued_activities", ErrorKind::Api),
        Paging::body_link(NEXT_LINK)
            .base_url(crate::BASE_URL)
            .max_pages(MAX_PAGES),
    )
});
