//! `POST /activities/contacts_file_import`: the CSV file import. A `multipart/form-data` form
//! with the `file` (a `.csv` whose header row names the columns), `list_ids` (comma-separated)
//! and `sms_permission_to_send`; its rows are imported as the JSON import's are.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::import::{MAX_IMPORT_BYTES, import_rows};
use crate::errors::{ApiError, ApiResult};
use crate::state::AppState;

/// "The CSV file has a maximum of 40,000 lines including the header row": lines beyond are not
/// processed, as the service documents.
const MAX_CSV_LINES: usize = 40_000;

/// 415, as the spec answers a request that is not a multipart form or a file that is not a CSV.
fn unsupported(message: &str) -> ApiError {
    ApiError::array(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "api.unsupported_media_type",
        message,
    )
}

/// The form's fields as they arrived.
#[derive(Default)]
struct Form {
    /// The file's name and bytes.
    file: Option<(String, Vec<u8>)>,
    list_ids: Option<String>,
    sms_permission_to_send: Option<String>,
}

async fn read_form(mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let malformed = |e: axum::extract::multipart::MultipartError| {
        ApiError::validation(format!("The multipart body cannot be read: {e}"))
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(malformed)?;
                form.file = Some((name, bytes.to_vec()));
            }
            "list_ids" => form.list_ids = Some(field.text().await.map_err(malformed)?),
            "sms_permission_to_send" => {
                form.sms_permission_to_send = Some(field.text().await.map_err(malformed)?);
            }
            other => {
                return Err(ApiError::validation(format!(
                    "`{other}` is not a field of the CSV import."
                )));
            }
        }
    }
    Ok(form)
}

/// The file's rows as objects from column heading to value, empty cells left out; at most
/// 39,999 rows after the header.
fn csv_rows(bytes: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headings: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::validation(format!("The CSV file has no header row: {e}")))?
        .iter()
        .map(|heading| heading.trim().to_owned())
        .collect();
    if !headings.iter().any(|h| h == "email" || h == "sms_number") {
        return Err(ApiError::validation(
            "The CSV file must have an email or sms_number column.",
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records().take(MAX_CSV_LINES - 1) {
        let record = record.map_err(|e| ApiError::validation(format!("The CSV file: {e}")))?;
        let row = headings
            .iter()
            .zip(record.iter())
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(heading, value)| (heading.clone(), Value::String(value.to_owned())))
            .collect();
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ApiError::validation("The CSV file has no contacts."));
    }
    Ok(rows)
}

/// `POST /activities/contacts_file_import`.
pub(crate) async fn csv_import(
    State(shared): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    let multipart =
        multipart.map_err(|_| unsupported("This endpoint requires a multipart/form-data body."))?;
    let form = read_form(multipart).await?;
    let (name, bytes) = form
        .file
        .ok_or_else(|| ApiError::validation("file is required."))?;
    if !name.to_ascii_lowercase().ends_with(".csv") {
        return Err(unsupported(
            "Wrong file format, upload file must be of type .csv",
        ));
    }
    if bytes.len() >= MAX_IMPORT_BYTES {
        return Err(ApiError::validation(
            "The file exceeds the maximum size of 4 MB.",
        ));
    }
    let list_ids: Vec<String> = form
        .list_ids
        .ok_or_else(|| ApiError::validation("list_ids is required."))?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    let sms_permission = form
        .sms_permission_to_send
        .unwrap_or_else(|| "not_set".into());
    if !matches!(sms_permission.as_str(), "not_set" | "explicit") {
        return Err(ApiError::validation(format!(
            "sms_permission_to_send `{sms_permission}` is not one of not_set, explicit."
        )));
    }
    let rows = csv_rows(&bytes)?;
    import_rows(&shared, &rows, &list_ids, &sms_permission)
}
