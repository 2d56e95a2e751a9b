//! Contact exports: `POST /activities/contact_exports` selects the rows (contacts) and columns
//! (fields) of a CSV file and answers with its activity; once a read shows the activity
//! completed, its `_links.results.href` (`/v3/contact_exports/{file_export_id}`, the activity's
//! id) serves the file as `text/csv`, streamed in chunks so a 200,000-contact export is never
//! held in memory whole.
//!
//! Where the service is undocumented, the sandbox chooses: the rows are fixed when the export is
//! created and their values read when the file is fetched; columns are named by their `fields`
//! names (`contact_id` first by default, custom fields as `cf:<name>`, as in the JSON import);
//! multi-valued columns (`email_lists`, `tags`, `notes`) join their values with `; `.

use std::collections::HashSet;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::contacts::segment_members;
use crate::errors::{ApiError, ApiResult, parse_body};
use crate::state::{AppState, lock};
use crate::store::{Contact, ExportJob, Store};
use crate::util::format_ms;

/// The contact columns an export can have, in their default order.
const FIELDS: &[&str] = &[
    "contact_id",
    "email_address",
    "first_name",
    "last_name",
    "job_title",
    "company_name",
    "phone_number",
    "street",
    "city",
    "state",
    "zip",
    "country",
    "birthday_month",
    "birthday_day",
    "anniversary",
    "email_permission",
    "email_optin_source",
    "email_optin_date",
    "email_optout_source",
    "email_optout_date",
    "email_optout_reason",
    "email_lists",
    "tags",
    "notes",
    "source_name",
    "created_at",
    "updated_at",
];

/// Columns that need `email_address` in the same export (the spec's rule).
const NEEDS_EMAIL: &[&str] = &[
    "email_optin_source",
    "email_optin_date",
    "email_optout_source",
    "email_optout_date",
    "email_optout_reason",
];

/// Rows rendered per chunk of the streamed file.
const ROWS_PER_CHUNK: usize = 500;

#[derive(Deserialize, Default)]
struct ExcludeIn {
    contact_ids: Option<Vec<String>>,
}

/// The body of `POST /activities/contact_exports`.
#[derive(Deserialize, Default)]
struct ExportIn {
    contact_ids: Option<Vec<String>>,
    list_ids: Option<Vec<String>>,
    tag_ids: Option<Vec<String>>,
    new_subscriber: Option<bool>,
    segment_id: Option<i64>,
    fields: Option<Vec<String>>,
    status: Option<String>,
    exclude: Option<ExcludeIn>,
}

impl ExportIn {
    /// Checks the spec's size limits and which criteria may be combined.
    fn check_combination(&self) -> Result<(), ApiError> {
        let sizes = [
            ("contact_ids", self.contact_ids.as_ref(), 500),
            ("list_ids", self.list_ids.as_ref(), 50),
            ("tag_ids", self.tag_ids.as_ref(), 50),
            (
                "exclude.contact_ids",
                self.exclude.as_ref().and_then(|e| e.contact_ids.as_ref()),
                50,
            ),
        ];
        for (name, ids, max) in sizes {
            if let Some(ids) = ids
                && (ids.is_empty() || ids.len() > max)
            {
                return Err(ApiError::validation(format!(
                    "{name} requires 1 to {max} ids."
                )));
            }
        }
        let new_subscriber = self.new_subscriber == Some(true);
        let given: Vec<&str> = [
            ("contact_ids", self.contact_ids.is_some()),
            ("list_ids", self.list_ids.is_some()),
            ("tag_ids", self.tag_ids.is_some()),
            ("segment_id", self.segment_id.is_some()),
            ("new_subscriber", new_subscriber),
            ("status", self.status.is_some()),
            ("exclude", self.exclude.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        // What each criterion may be combined with, from the spec's property descriptions.
        let allowed_with = |name: &str| -> &[&str] {
            match name {
                "contact_ids" => &["status"],
                "list_ids" => &["status", "exclude", "new_subscriber"],
                "new_subscriber" => &["list_ids", "exclude"],
                "status" => &["contact_ids", "list_ids"],
                "exclude" => &["list_ids", "new_subscriber"],
                _ => &[],
            }
        };
        for name in &given {
            if let Some(other) = given
                .iter()
                .find(|o| *o != name && !allowed_with(name).contains(o))
            {
                return Err(ApiError::validation(format!(
                    "{name} cannot be combined with {other}."
                )));
            }
        }
        Ok(())
    }

    /// The columns, checked: the default set plus every custom field when none are named.
    fn columns(&self, store: &Store) -> Result<Vec<String>, ApiError> {
        let custom: Vec<String> = store
            .custom_fields
            .iter()
            .map(|f| format!("cf:{}", f.name))
            .collect();
        let Some(fields) = &self.fields else {
            return Ok(FIELDS
                .iter()
                .map(|f| (*f).to_owned())
                .chain(custom)
                .collect());
        };
        if fields.is_empty() {
            return Err(ApiError::validation("fields must name at least one field."));
        }
        if let Some(bad) = fields
            .iter()
            .find(|f| !FIELDS.contains(&f.as_str()) && !custom.contains(f))
        {
            return Err(ApiError::validation(format!(
                "fields: `{bad}` is not a contact field (one of {}, or cf:<custom field name>).",
                FIELDS.join(", ")
            )));
        }
        if !fields.iter().any(|f| f == "email_address")
            && let Some(needs) = fields.iter().find(|f| NEEDS_EMAIL.contains(&f.as_str()))
        {
            return Err(ApiError::validation(format!(
                "fields: exporting {needs} needs email_address too."
            )));
        }
        let mut seen = HashSet::new();
        Ok(fields
            .iter()
            .filter(|f| seen.insert(f.as_str()))
            .cloned()
            .collect())
    }

    /// The contacts exported, in the account's `(updated_at, id)` order.
    fn rows(&self, store: &Store) -> Result<Vec<String>, ApiError> {
        let status = self.status.as_deref();
        if let Some(status) = status
            && !matches!(status, "active" | "unsubscribed" | "removed")
        {
            return Err(ApiError::validation(format!(
                "status `{status}` must be active, unsubscribed or removed."
            )));
        }
        let status_ok = |c: &Contact| match status {
            None => c.deleted_at.is_none(),
            Some("removed") => c.deleted_at.is_some(),
            Some("unsubscribed") => c.deleted_at.is_none() && c.status() == "unsubscribed",
            Some(_) => {
                c.deleted_at.is_none() && !matches!(c.status(), "unsubscribed" | "temp_hold")
            }
        };
        let unknown = |kind: &str, ids: &[String], exists: &dyn Fn(&String) -> bool| match ids
            .iter()
            .find(|id| !exists(id))
        {
            Some(id) => Err(ApiError::validation(format!(
                "{kind}: `{id}` does not exist."
            ))),
            None => Ok(()),
        };
        if let Some(lists) = &self.list_ids {
            unknown("list_ids", lists, &|id| store.list(id).is_some())?;
        }
        if let Some(tags) = &self.tag_ids {
            unknown("tag_ids", tags, &|id| {
                store.tags.iter().any(|t| &t.id == id)
            })?;
        }
        let segment = self
            .segment_id
            .map(|id| segment_members(store, id))
            .transpose()?;
        let ids: Option<HashSet<&String>> = self.contact_ids.as_ref().map(|i| i.iter().collect());
        let excluded: HashSet<&String> = self
            .exclude
            .as_ref()
            .and_then(|e| e.contact_ids.as_ref())
            .map(|i| i.iter().collect())
            .unwrap_or_default();
        let since = crate::util::now_ms() - 30 * 86_400_000;
        let selected = |c: &Contact| {
            status_ok(c)
                && !excluded.contains(&c.id)
                && ids.as_ref().is_none_or(|i| i.contains(&c.id))
                && self
                    .list_ids
                    .as_ref()
                    .is_none_or(|l| c.list_memberships.iter().any(|m| l.contains(m)))
                && self
                    .tag_ids
                    .as_ref()
                    .is_none_or(|t| c.taggings.iter().any(|m| t.contains(m)))
                && segment.as_ref().is_none_or(|s| s.matches(c))
                && (self.new_subscriber != Some(true) || c.created_at >= since)
        };
        Ok(store
            .by_updated
            .iter()
            .filter_map(|(_, id)| store.contacts.get(id))
            .filter(|c| selected(c))
            .map(|c| c.id.clone())
            .collect())
    }
}

/// `POST /activities/contact_exports`: 201 with the export's activity.
pub(crate) async fn create(State(shared): State<AppState>, body: Bytes) -> ApiResult {
    let input: ExportIn = parse_body(&body)?;
    input.check_combination()?;
    let mut store = lock(&shared.store);
    let fields = input.columns(&store)?;
    let contact_ids = input.rows(&store)?;
    let count = contact_ids.len();
    let index = store.add_activity(
        json!({"items_total_count": count, "items_completed_count": count}),
        Vec::new(),
    );
    store.activities[index].export = Some(ExportJob {
        contact_ids,
        fields,
    });
    let activity = super::activities::render(&mut store, index, false);
    Ok(super::json(StatusCode::CREATED, activity))
}

/// `GET /contact_exports/{file_export_id}`: the CSV file of a completed export.
pub(crate) async fn file(State(shared): State<AppState>, Path(id): Path<String>) -> ApiResult {
    {
        let store = lock(&shared.store);
        let activity = store
            .activities
            .iter()
            .find(|a| a.id == id && a.export.is_some())
            .ok_or_else(|| ApiError::not_found("export file"))?;
        if !activity.completed_seen {
            return Err(ApiError::array(
                StatusCode::NOT_FOUND,
                "api.not_found",
                "The export file is not ready: read the activity until its state is completed.",
            ));
        }
    }
    let stream = ExportStream {
        shared,
        id: id.clone(),
        next_row: None,
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"contacts_export_{id}.csv\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// The file, a chunk at a time: the header line, then [`ROWS_PER_CHUNK`] rows per poll, each
/// chunk rendered under a short hold of the account's lock.
struct ExportStream {
    shared: AppState,
    id: String,
    /// The next row to render; `None` before the header line.
    next_row: Option<usize>,
}

impl futures_core::Stream for ExportStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let store = lock(&self.shared.store);
        let Some(job) = store
            .activities
            .iter()
            .find(|a| a.id == self.id)
            .and_then(|a| a.export.as_ref())
        else {
            return Poll::Ready(None);
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        let written = match self.next_row {
            None => out.write_record(&job.fields).map(|()| 0),
            Some(start) if start >= job.contact_ids.len() => return Poll::Ready(None),
            Some(start) => {
                let end = (start + ROWS_PER_CHUNK).min(job.contact_ids.len());
                job.contact_ids[start..end]
                    .iter()
                    .filter_map(|id| store.contacts.get(id))
                    .try_for_each(|c| out.write_record(row(&store, c, &job.fields)))
                    .map(|()| end - start)
            }
        };
        drop(store);
        let chunk = written.map_err(std::io::Error::other).and_then(|n| {
            out.into_inner()
                .map(|bytes| (n, bytes))
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        match chunk {
            Ok((n, bytes)) => {
                self.next_row = Some(self.next_row.map_or(0, |r| r + n));
                Poll::Ready(Some(Ok(Bytes::from(bytes))))
            }
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }
}

/// One contact's values for `fields`.
fn row(store: &Store, contact: &Contact, fields: &[String]) -> Vec<String> {
    let email = contact.email.as_ref();
    let address = contact.street_addresses.first();
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let date = |value: Option<i64>| value.map(format_ms).unwrap_or_default();
    fields
        .iter()
        .map(|field| match field.as_str() {
            "contact_id" => contact.id.clone(),
            "email_address" => email.map(|e| e.address.clone()).unwrap_or_default(),
            "first_name" => text(&contact.first_name),
            "last_name" => text(&contact.last_name),
            "job_title" => text(&contact.job_title),
            "company_name" => text(&contact.company_name),
            "phone_number" => contact
                .phone_numbers
                .first()
                .map(|p| p.number.clone())
                .unwrap_or_default(),
            "street" => address.and_then(|a| a.street.clone()).unwrap_or_default(),
            "city" => address.and_then(|a| a.city.clone()).unwrap_or_default(),
            "state" => address.and_then(|a| a.state.clone()).unwrap_or_default(),
            "zip" => address
                .and_then(|a| a.postal_code.clone())
                .unwrap_or_default(),
            "country" => address.and_then(|a| a.country.clone()).unwrap_or_default(),
            "birthday_month" => contact
                .birthday_month
                .map(|m| m.to_string())
                .unwrap_or_default(),
            "birthday_day" => contact
                .birthday_day
                .map(|d| d.to_string())
                .unwrap_or_default(),
            "anniversary" => text(&contact.anniversary),
            "email_permission" => email
                .map(|e| e.permission_to_send.clone())
                .unwrap_or_default(),
            "email_optin_source" => email
                .and_then(|e| e.opt_in_source.clone())
                .unwrap_or_default(),
            "email_optin_date" => date(email.and_then(|e| e.opt_in_date)),
            "email_optout_source" => email
                .and_then(|e| e.opt_out_source.clone())
                .unwrap_or_default(),
            "email_optout_date" => date(email.and_then(|e| e.opt_out_date)),
            "email_optout_reason" => email
                .and_then(|e| e.opt_out_reason.clone())
                .unwrap_or_default(),
            "email_lists" => contact
                .list_memberships
                .iter()
                .filter_map(|id| store.list(id).map(|l| l.name.clone()))
                .collect::<Vec<_>>()
                .join("; "),
            "tags" => contact
                .taggings
                .iter()
                .filter_map(|id| store.tags.iter().find(|t| &t.id == id))
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
                .join("; "),
            "notes" => contact
                .notes
                .iter()
                .map(|n| n.content.clone())
                .collect::<Vec<_>>()
                .join("; "),
            "source_name" => contact.create_source.clone(),
            "created_at" => format_ms(contact.created_at),
            "updated_at" => format_ms(contact.updated_at),
            other => other
                .strip_prefix("cf:")
                .and_then(|name| store.custom_fields.iter().find(|f| f.name == name))
                .and_then(|f| contact.custom_fields.iter().find(|(id, _)| *id == f.id))
                .map(|(_, value)| value.clone())
                .unwrap_or_default(),
        })
        .collect()
}
