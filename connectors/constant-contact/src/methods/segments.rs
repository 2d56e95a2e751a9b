//! Segments: saved contact queries.

use plugboard_core::rest::Streamed;
use plugboard_core::{Context, HttpRequest, Result, input, method, output};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::API;

/// The page size `GET /segments` uses by default (the spec documents no maximum).
const PAGE_SIZE: u32 = 1000;

/// A segment.
#[output]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Segment {
    /// Unique id of the segment (a number).
    pub segment_id: i64,
    /// The segment's name.
    pub name: String,
    /// When the segment was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the name or criteria last changed (ISO-8601).
    pub edited_at: Option<String>,
}

/// Orders of the segment list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// By name, ascending.
    Name,
    /// Most recently edited first (the API's default).
    Date,
}

/// Input of `segments.list`.
#[input]
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct ListInput {
    /// The order of the segments.
    pub sort_by: Option<SortBy>,
}

/// Streams every segment, following the API's pages.
#[method(id = "segments.list", name = "List Segments", idempotent)]
pub fn list(cx: &mut Context<'_, Segment>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/segments").query("limit", PAGE_SIZE);
    API.stream(cx, first.query_from(&input)?, "segments")
}

/// Input of `segments.get`.
#[input]
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetInput {
    /// The segment's id.
    pub segment_id: i64,
}

/// A segment with its criteria.
#[output]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SegmentDetail {
    /// Unique id of the segment.
    pub segment_id: i64,
    /// The segment's name.
    pub name: String,
    /// The criteria as the API's JSON text.
    pub segment_criteria: Option<String>,
    /// When the segment was created (ISO-8601).
    pub created_at: Option<String>,
    /// When the name or criteria last changed (ISO-8601).
    pub edited_at: Option<String>,
}

/// Gets one segment by id, with its criteria.
#[method(id = "segments.get", name = "Get Segment", idempotent)]
pub fn get(cx: &mut Context<'_>, input: GetInput) -> Result<SegmentDetail> {
    // The id is a number, so it needs no encoding.
    API.call(
        cx,
        HttpRequest::get(format!("/segments/{}", input.segment_id)),
    )
}
