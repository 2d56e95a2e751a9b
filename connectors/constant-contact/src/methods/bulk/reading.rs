//! Reading bulk activities and what they produce: the account's recent activities, and the
//! contact export with the download of its CSV file.

use plugboard_core::rest::{Streamed, segment};
use plugboard_core::{ConnectorError, Context, HttpRequest, Result, choice, input, method};
use serde_json::{Map, Value};

use super::Activity;
use crate::api::API;

/// States the list of activities can be narrowed to.
#[choice]
pub enum ActivityState {
    /// Still running.
    Processing,
    /// Done.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Failed,
    /// Ran out of time.
    TimedOut,
}

/// Input of `bulk.list_activities`.
#[input]
#[derive(Default)]
pub struct ListActivitiesInput {
    /// Only activities in this state.
    pub state: Option<ActivityState>,
}

/// Activities per page of `bulk.list_activities`: the most the API serves.
const ACTIVITIES_PAGE_SIZE: u32 = 500;

/// Streams the account's recent bulk activities, newest first.
#[method(
    id = "bulk.list_activities",
    name = "List Bulk Activities",
    idempotent,
    cost(per_page = ACTIVITIES_PAGE_SIZE)
)]
pub fn list_activities(
    cx: &mut Context<'_, Activity>,
    input: ListActivitiesInput,
) -> Result<Streamed> {
    let first = HttpRequest::get("/activities").query("limit", ACTIVITIES_PAGE_SIZE);
    API.stream(cx, first.query_from(&input)?, "activities")
}

/// Which contacts to export; at most one kind of source (none: every contact).
#[input]
#[derive(Default)]
pub struct ExportInput {
    /// Up to 500 contacts by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub contact_ids: Vec<String>,
    /// The members of up to 50 lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub list_ids: Vec<String>,
    /// The contacts with any of up to 50 tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub tag_ids: Vec<String>,
    /// The contacts of one segment.
    pub segment_id: Option<i64>,
    /// Only contacts in this state, e.g. `active` or `unsubscribed`.
    pub status: Option<String>,
    /// The columns to export (the API's default set when empty), e.g. `email_address`,
    /// `first_name`, or `cf:<custom field name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// Starts a bulk activity exporting contacts to a CSV file; when it completes, its
/// `_links.results.href` names the file for `bulk.download_export`. One export costs a handful
/// of requests where reading 200,000 contacts page by page costs 400.
#[method(id = "bulk.export_contacts", name = "Export Contacts")]
pub fn export_contacts(cx: &mut Context<'_>, input: ExportInput) -> Result<Activity> {
    let sources = [
        !input.contact_ids.is_empty(),
        !input.list_ids.is_empty(),
        !input.tag_ids.is_empty(),
        input.segment_id.is_some(),
    ];
    if sources.iter().filter(|given| **given).count() > 1 {
        return Err(ConnectorError::InvalidInput {
            message: "give at most one of `contact_ids`, `list_ids`, `tag_ids` and `segment_id`"
                .into(),
        });
    }
    API.call(
        cx,
        HttpRequest::post("/activities/contact_exports").json(&input)?,
    )
}

/// Input of `bulk.download_export`.
#[input]
pub struct DownloadInput {
    /// The completed export's file id: the last segment of its `_links.results.href`, or the
    /// export activity's id.
    pub file_export_id: String,
}

/// Streams the rows of a completed contact export's CSV file, one record per contact keyed by
/// the file's header.
#[method(
    id = "bulk.download_export",
    name = "Download Contact Export",
    idempotent,
    cost(requests = 1)
)]
pub fn download_export(
    cx: &mut Context<'_, Map<String, Value>>,
    input: DownloadInput,
) -> Result<Streamed> {
    let path = format!(
        "/contact_exports/{}",
        segment("file_export_id", &input.file_export_id)?
    );
    // Read as it arrives: a 200,000-contact file is never held whole.
    let response = API.download(cx, HttpRequest::get(path).header("accept", "text/csv"))?;
    let mut rows = csv::Reader::from_reader(response.body);
    let header = rows
        .headers()
        .map_err(|e| csv_error(e, "the export's header"))?
        .clone();
    let mut row = csv::StringRecord::new();
    for index in 1.. {
        let more = rows
            .read_record(&mut row)
            .map_err(|e| csv_error(e, format_args!("row {index} of the export")))?;
        if !more {
            break;
        }
        let record: Map<String, Value> = (header.iter())
            .zip(row.iter())
            .map(|(column, value)| (column.to_owned(), Value::from(value)))
            .collect();
        cx.emit(&record)?;
    }
    Ok(Streamed {
        count: cx.emitted(),
        page: Default::default(),
    })
}

/// A CSV error at `place`: the host's own when reading the body failed (cancelled, a broken
/// connection), else a file that is not the CSV the API promises.
fn csv_error(error: csv::Error, place: impl std::fmt::Display) -> ConnectorError {
    match error.kind() {
        csv::ErrorKind::Io(io) => plugboard_core::body_error(io),
        _ => ConnectorError::unexpected_response(format_args!("{place}: {error}")),
    }
}
