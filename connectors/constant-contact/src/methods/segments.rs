//! Segments: saved contact queries.

use plugboard_core::{
    ConnectorError, Context, HttpRequest, LogLevel, Method, MethodInfo, MethodKind, NoRecords,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::check;
use crate::pagination::{Pages, PagingLinks};

/// The page size `GET /segments` uses by default (the spec documents no maximum).
const PAGE_SIZE: u32 = 1000;

/// A segment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Segment {
    /// Unique id of the segment (a number).
    pub segment_id: i64,
    /// The segment's name.
    pub name: String,
    /// When the segment was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the name or criteria last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// The order of the segments.
    #[serde(default)]
    pub sort_by: Option<SortBy>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    segments: Vec<Segment>,
    #[serde(default, rename = "_links")]
    links: PagingLinks,
}

/// What `segments.list` returns once every segment has been streamed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListSummary {
    /// How many segments were streamed.
    pub count: u64,
}

/// `GET /segments`, every page.
pub struct List;

impl Method for List {
    type Input = ListInput;
    type Output = ListSummary;
    type Record = Segment;
    const INFO: MethodInfo = MethodInfo {
        id: "segments.list",
        name: "List Segments",
        category: "Segments",
        description: "Streams every segment, following the API's pages.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, Segment>,
        input: ListInput,
    ) -> Result<ListSummary, ConnectorError> {
        let sort_by = input.sort_by.map(|s| match s {
            SortBy::Name => "name",
            SortBy::Date => "date",
        });
        let mut pages = Pages::new(
            HttpRequest::get("/segments")
                .query("limit", PAGE_SIZE)
                .query_opt("sort_by", sort_by),
        );
        while let Some(request) = pages.next_request() {
            let page: Page = check(cx.send(request)?)?.decode()?;
            cx.log(
                LogLevel::Debug,
                &format!("segments.list: a page of {} segments", page.segments.len()),
            );
            for segment in &page.segments {
                cx.emit(segment)?;
            }
            pages.advance(&page.links)?;
        }
        Ok(ListSummary {
            count: cx.emitted(),
        })
    }
}

/// Input of `segments.get`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// The segment's id.
    pub segment_id: i64,
}

/// A segment with its criteria.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SegmentDetail {
    /// Unique id of the segment.
    pub segment_id: i64,
    /// The segment's name.
    pub name: String,
    /// The criteria as the API's JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_criteria: Option<String>,
    /// When the segment was created (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// When the name or criteria last changed (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
}

/// `GET /segments/{segment_id}`.
pub struct Get;

impl Method for Get {
    type Input = GetInput;
    type Output = SegmentDetail;
    type Record = NoRecords;
    const INFO: MethodInfo = MethodInfo {
        id: "segments.get",
        name: "Get Segment",
        category: "Segments",
        description: "Gets one segment by id, with its criteria.",
        kind: MethodKind::Action,
        idempotent: true,
    };

    fn call(
        &self,
        cx: &mut Context<'_, NoRecords>,
        input: GetInput,
    ) -> Result<SegmentDetail, ConnectorError> {
        // The id is a number, so it needs no encoding.
        let request = HttpRequest::get(format!("/segments/{}", input.segment_id));
        check(cx.send(request)?)?.decode()
    }
}
