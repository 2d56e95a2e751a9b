//! Segments: saved contact queries.

use plugboard_core::rest::Streamed;
use plugboard_core::{Context, HttpRequest, Result, choice, input, method, output};

use super::Deleted;
use crate::api::API;

/// The page size `GET /segments` uses by default (the spec documents no maximum).
const PAGE_SIZE: u32 = 1000;

/// A segment.
#[output]
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
#[choice]
pub enum SortBy {
    /// By name, ascending.
    Name,
    /// Most recently edited first (the API's default).
    Date,
}

/// Input of `segments.list`.
#[input]
#[derive(Default)]
pub struct ListInput {
    /// The order of the segments.
    pub sort_by: Option<SortBy>,
}

/// Streams every segment, following the API's pages.
#[method(
    id = "segments.list",
    name = "List Segments",
    idempotent,
    cost(per_page = PAGE_SIZE)
)]
pub fn list(cx: &mut Context<'_, Segment>, input: ListInput) -> Result<Streamed> {
    let first = HttpRequest::get("/segments").query("limit", PAGE_SIZE);
    API.stream(cx, first.query_from(&input)?, "segments")
}

/// Input of `segments.get` and `segments.delete`.
#[input]
pub struct GetInput {
    /// The segment's id.
    pub segment_id: i64,
}

/// A segment with its criteria.
#[output]
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

/// Input of `segments.create`.
#[input]
pub struct CreateInput {
    /// The segment's name, unique in the account.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Who belongs to the segment: the API's criteria JSON as one string (top-level group type
    /// `and`), e.g. from an existing segment's `segment_criteria`; at most 20,000 characters.
    #[schemars(length(min = 1, max = 20_000))]
    pub segment_criteria: String,
}

/// Creates a segment from its criteria; fails with `already_exists` when the name is taken.
#[method(id = "segments.create", name = "Create Segment")]
pub fn create(cx: &mut Context<'_>, input: CreateInput) -> Result<SegmentDetail> {
    let what = format!("a segment named `{}`", input.name);
    API.create(cx, HttpRequest::post("/segments").json(&input)?, &what)
}

/// Input of `segments.update`.
#[input]
pub struct UpdateInput {
    /// The segment's id.
    #[serde(skip_serializing)]
    pub segment_id: i64,
    /// The segment's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The new criteria, as for `segments.create` (at most 20,000 characters).
    #[schemars(length(min = 1, max = 20_000))]
    pub segment_criteria: String,
}

/// Replaces a segment's name and criteria.
#[method(id = "segments.update", name = "Update Segment", idempotent)]
pub fn update(cx: &mut Context<'_>, input: UpdateInput) -> Result<SegmentDetail> {
    let path = format!("/segments/{}", input.segment_id);
    API.call(cx, HttpRequest::put(path).json(&input)?)
}

/// Input of `segments.rename`.
#[input]
pub struct RenameInput {
    /// The segment's id.
    #[serde(skip_serializing)]
    pub segment_id: i64,
    /// The segment's new name, unique in the account.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Renames a segment, keeping its criteria.
#[method(id = "segments.rename", name = "Rename Segment", idempotent)]
pub fn rename(cx: &mut Context<'_>, input: RenameInput) -> Result<SegmentDetail> {
    let path = format!("/segments/{}/name", input.segment_id);
    API.call(cx, HttpRequest::patch(path).json(&input)?)
}

/// Deletes a segment (campaigns already sent to it keep their reports).
#[method(id = "segments.delete", name = "Delete Segment", idempotent)]
pub fn delete(cx: &mut Context<'_>, input: GetInput) -> Result<Deleted> {
    API.send(
        cx,
        HttpRequest::delete(format!("/segments/{}", input.segment_id)),
    )?;
    Ok(Deleted {
        id: input.segment_id.to_string(),
    })
}
