//! Importing contacts as a CSV file (`POST /activities/contacts_file_import`, multipart): rows
//! keyed by the file's column headings, as a workflow's `read` step gives them, written into CSV
//! files within the API's line and size limits.

use plugboard_core::rest::excerpt;
use plugboard_core::{ConnectorError, Context, FormPart, HttpRequest, Result, input, method};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::import::{
    ImportContactsOutput, MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT, MAX_IMPORT_BODY_BYTES,
    SmsPermission, check_import, split_within, start_imports,
};
use super::wait_budget;

/// "The CSV file has a maximum of 40,000 lines including the header row (39,999 contacts)".
pub const MAX_ROWS_PER_CSV_IMPORT: usize = 39_999;
/// The column headings the operation documents; custom fields come as `cf:<name>`.
pub const CSV_COLUMNS: [&str; 17] = [
    "email",
    "sms_number",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "anniversary",
    "birthday_day",
    "birthday_month",
    "company_name",
    "street",
    "street2",
    "city",
    "state",
    "zip",
    "country",
    "sms_consent_date",
];
/// The prefix of a custom field's column heading.
const CUSTOM_FIELD_PREFIX: &str = "cf:";

/// An import's CSV files: one header line, and each file's records (with their line ends).
struct CsvFiles {
    header: Box<str>,
    files: Vec<Vec<Box<str>>>,
}

/// The rows of an import, checked and written as CSV records as they are read, under the
/// headings in the order they first appear.
#[derive(Debug, Default)]
pub struct CsvRows {
    headings: Vec<String>,
    /// Each row's values by heading index.
    rows: Vec<Vec<(usize, String)>>,
    /// The first row with an SMS number, and the first with one but no consent date: whether
    /// they are allowed depends on `sms_permission_to_send`, a sibling field.
    first_sms_row: Option<usize>,
    first_sms_row_without_consent: Option<usize>,
}

impl CsvRows {
    /// Reads one row: known headings only, scalar values, an email or SMS number, at most 25
    /// custom fields. Empty values are left out, as an empty cell imports nothing.
    fn push(&mut self, row: Map<String, Value>) -> std::result::Result<(), String> {
        let index = self.rows.len();
        let mut values = Vec::with_capacity(row.len());
        let mut custom_fields = 0;
        for (heading, value) in row {
            let known = CSV_COLUMNS.contains(&heading.as_str());
            let custom = heading
                .strip_prefix(CUSTOM_FIELD_PREFIX)
                .is_some_and(|name| !name.trim().is_empty());
            if !known && !custom {
                return Err(format!(
                    "rows[{index}] has the column `{}`, which the CSV import does not take; the \
                     columns are {} and `cf:<custom field name>`",
                    excerpt(&heading),
                    CSV_COLUMNS.join(", ")
                ));
            }
            let text = match value {
                Value::Null => continue,
                Value::String(text) => text,
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Array(_) | Value::Object(_) => {
                    return Err(format!(
                        "rows[{index}].{heading} is not a text or a number: a CSV cell holds one value"
                    ));
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            custom_fields += usize::from(custom);
            let column = match self.headings.iter().position(|known| *known == heading) {
                Some(column) => column,
                None => {
                    self.headings.push(heading);
                    self.headings.len() - 1
                }
            };
            values.push((column, text));
        }
        let has = |name: &str| {
            values
                .iter()
                .any(|(column, _)| self.headings[*column] == name)
        };
        if !has("email") && !has("sms_number") {
            return Err(format!("rows[{index}] needs an `email` or an `sms_number`"));
        }
        if custom_fields > MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT {
            return Err(format!(
                "rows[{index}] has {custom_fields} custom fields; the import takes at most \
                 {MAX_CUSTOM_FIELDS_PER_IMPORTED_CONTACT} per contact"
            ));
        }
        if has("sms_number") {
            self.first_sms_row.get_or_insert(index);
            if !has("sms_consent_date") {
                self.first_sms_row_without_consent.get_or_insert(index);
            }
        }
        self.rows.push(values);
        Ok(())
    }

    /// Checks what the rows ask of the SMS permission: "If adding an `sms_number`, you must also
    /// include the `sms_permission_to_send` parameter", and explicit consent needs each
    /// contact's `sms_consent_date`.
    fn check_sms(&self, permission: Option<SmsPermission>) -> Result<()> {
        let refuse = |message: String| Err(ConnectorError::InvalidInput { message });
        match (permission, self.first_sms_row) {
            (None, Some(row)) => refuse(format!(
                "rows[{row}] has an `sms_number`: set `sms_permission_to_send` to `not_set` or \
                 `explicit`"
            )),
            (Some(SmsPermission::Explicit), _) => match self.first_sms_row_without_consent {
                Some(row) => refuse(format!(
                    "rows[{row}] has an `sms_number` but no `sms_consent_date`, which explicit \
                     `sms_permission_to_send` requires"
                )),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The files to send: at most [`MAX_ROWS_PER_CSV_IMPORT`] rows and
    /// [`MAX_IMPORT_BODY_BYTES`] (header included) each.
    fn files(self) -> Result<CsvFiles> {
        let (header, records) = self.records()?;
        let files = split_within(
            "rows",
            records,
            header.len(),
            MAX_ROWS_PER_CSV_IMPORT,
            MAX_IMPORT_BODY_BYTES,
            0,
        )?;
        Ok(CsvFiles { header, files })
    }

    /// The header line and each row's CSV record (with its line end, quoted where a value
    /// needs it), as text: written through one CSV writer into one buffer, then cut at each
    /// record's end.
    fn records(self) -> Result<(Box<str>, Vec<Box<str>>)> {
        let cannot = |e: &dyn std::fmt::Display| ConnectorError::InvalidInput {
            message: format!("cannot write the CSV file: {e}"),
        };
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let mut ends = Vec::with_capacity(self.rows.len() + 1);
        let mut write = |fields: &[&str]| {
            writer.write_record(fields).map_err(|e| cannot(&e))?;
            writer.flush().map_err(|e| cannot(&e))?;
            ends.push(writer.get_ref().len());
            Ok::<_, ConnectorError>(())
        };
        let headings: Vec<&str> = self.headings.iter().map(String::as_str).collect();
        write(&headings)?;
        let mut line = vec![""; headings.len()];
        for values in &self.rows {
            line.fill("");
            for (column, text) in values {
                line[*column] = text;
            }
            write(&line)?;
        }
        let bytes = writer.into_inner().map_err(|e| cannot(&e))?;
        let text = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        let mut start = 0;
        let mut pieces = ends.into_iter().map(|end| {
            let piece: Box<str> = text[start..end].into();
            start = end;
            piece
        });
        let header = pieces.next().unwrap_or_default();
        Ok((header, pieces.collect()))
    }
}

impl<'de> Deserialize<'de> for CsvRows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Rows;

        impl<'de> serde::de::Visitor<'de> for Rows {
            type Value = CsvRows;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of rows (objects from column heading to value)")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<CsvRows, A::Error> {
                let mut rows = CsvRows::default();
                while let Some(row) = seq.next_element::<Map<String, Value>>()? {
                    rows.push(row).map_err(serde::de::Error::custom)?;
                }
                Ok(rows)
            }
        }

        deserializer.deserialize_seq(Rows)
    }
}

/// The rows' schema: objects of the documented headings and `cf:` custom fields, text or numbers.
fn rows_schema(_: &mut SchemaGenerator) -> Schema {
    let cell = json_schema!({"type": ["string", "number", "boolean", "null"]});
    let properties: Map<String, Value> = CSV_COLUMNS
        .iter()
        .map(|heading| ((*heading).to_owned(), cell.clone().to_value()))
        .collect();
    json_schema!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": properties,
            "patternProperties": {"^cf:.*\\S": cell.to_value()},
            "additionalProperties": false
        }
    })
}

/// Input of `bulk.import_contacts_csv`.
#[input]
pub struct ImportContactsCsvInput {
    /// The contacts, one object per CSV row from column heading to value (what a `read` step
    /// with `"format": "csv"` gives): `email` or `sms_number`, then any of `first_name`,
    /// `last_name`, `phone`, `job_title`, `anniversary`, `birthday_day`, `birthday_month`,
    /// `company_name`, `street`, `street2`, `city`, `state`, `zip`, `country`,
    /// `sms_consent_date`, and custom fields as `cf:<name>` (at most 25 per contact; they must
    /// exist in the account). Any number of rows: they are split into files of at most 39,999
    /// rows and under 4 MB each.
    // Kept as the request's encoding when read (see `CsvRows`), never written back.
    #[serde(skip_serializing)]
    #[schemars(schema_with = "rows_schema")]
    pub rows: CsvRows,
    /// The lists every imported contact is added to (1-50 list ids).
    #[schemars(length(min = 1, max = 50))]
    pub list_ids: Vec<String>,
    /// How the contacts with an `sms_number` gave SMS consent (required when any row has one;
    /// `explicit` requires each such row's `sms_consent_date`).
    pub sms_permission_to_send: Option<SmsPermission>,
    /// Wait until every import is completed, failed, cancelled or timed out.
    #[serde(default)]
    pub wait: bool,
    /// With `wait`, how long to keep polling each import, in seconds (default 600, at most 3600).
    #[schemars(range(min = 0, max = 3600))]
    pub timeout_secs: Option<u64>,
}

/// Imports or updates any number of contacts into lists as CSV files, split into files of at
/// most 39,999 rows and 4 MB; returns every import activity, optionally once done. Unlike
/// `bulk.import_contacts`, the rows keep a CSV file's column headings.
///
/// `POST /activities/contacts_file_import` (multipart), as many times as the limits require.
#[method(id = "bulk.import_contacts_csv", name = "Import Contacts from CSV")]
pub fn import_contacts_csv(
    cx: &mut Context<'_>,
    input: ImportContactsCsvInput,
) -> Result<ImportContactsOutput> {
    check_import("rows", input.rows.rows.len(), &input.list_ids)?;
    input.rows.check_sms(input.sms_permission_to_send)?;
    let budget = wait_budget(input.timeout_secs)?;
    let total = input.rows.rows.len() as u64;
    let CsvFiles { header, files } = input.rows.files()?;
    let list_ids = input.list_ids.join(",");
    let permission = input.sms_permission_to_send;
    let requests = files.into_iter().map(|records| {
        let mut csv = String::with_capacity(
            header.len() + records.iter().map(|record| record.len()).sum::<usize>(),
        );
        csv.push_str(&header);
        records.iter().for_each(|record| csv.push_str(record));
        let mut parts = vec![
            FormPart::text_file("file", "contacts.csv", "text/csv", csv),
            FormPart::field("list_ids", list_ids.as_str()),
        ];
        if let Some(permission) = permission {
            parts.push(FormPart::field(
                "sms_permission_to_send",
                permission.as_str(),
            ));
        }
        (
            records.len(),
            Ok(HttpRequest::post("/activities/contacts_file_import").multipart(parts)),
        )
    });
    start_imports(
        cx,
        "bulk.import_contacts_csv",
        requests,
        input.wait,
        budget,
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(value: Value) -> std::result::Result<CsvRows, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn rows_become_records_under_the_headings_in_order_of_appearance() {
        let rows = rows(serde_json::json!([
            {"email": "ada@example.com", "first_name": "Ada, Countess", "cf:shoe": 38},
            {"sms_number": "5551234567", "email": "", "last_name": "Hopper"}
        ]))
        .expect("reads");
        let (header, records) = rows.records().expect("writes");
        // An empty cell (row 1's email) imports nothing, so it adds no value.
        assert_eq!(
            &*header,
            "email,first_name,cf:shoe,sms_number,last_name\r\n"
        );
        assert_eq!(&*records[0], "ada@example.com,\"Ada, Countess\",38,,\r\n");
        assert_eq!(&*records[1], ",,,5551234567,Hopper\r\n");
    }

    #[test]
    fn files_keep_within_the_row_and_size_limits() {
        let many = rows(Value::Array(
            (0..MAX_ROWS_PER_CSV_IMPORT + 1)
                .map(|n| serde_json::json!({"email": format!("c{n}@example.com")}))
                .collect(),
        ))
        .expect("reads");
        let files = many.files().expect("splits").files;
        let sizes: Vec<usize> = files.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_ROWS_PER_CSV_IMPORT, 1]);

        // 1,000-character names: about 4,000 rows a file.
        let name = "n".repeat(1_000);
        let big = rows(Value::Array(
            (0..10_000)
                .map(|n| serde_json::json!({"email": format!("c{n}@example.com"), "first_name": name}))
                .collect(),
        ))
        .expect("reads");
        let CsvFiles { header, files } = big.files().expect("splits");
        assert_eq!(files.iter().map(Vec::len).sum::<usize>(), 10_000);
        assert_eq!(
            files.len(),
            3,
            "{:?}",
            files.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for file in &files {
            let bytes = header.len() + file.iter().map(|record| record.len()).sum::<usize>();
            assert!(bytes <= MAX_IMPORT_BODY_BYTES, "{bytes} bytes");
        }
    }

    #[test]
    fn a_row_without_an_address_an_unknown_column_or_too_many_custom_fields_is_refused() {
        let none = rows(serde_json::json!([{"first_name": "Ada"}])).expect_err("no address");
        assert!(
            none.to_string()
                .contains("rows[0] needs an `email` or an `sms_number`"),
            "{none}"
        );
        let unknown =
            rows(serde_json::json!([{"email": "a@b.co"}, {"email": "c@d.co", "shoe": 1}]))
                .expect_err("unknown column");
        assert!(
            unknown
                .to_string()
                .contains("rows[1] has the column `shoe`"),
            "{unknown}"
        );
        let fields: Map<String, Value> = (0..26)
            .map(|n| (format!("cf:f{n}"), Value::from("x")))
            .chain([("email".to_owned(), Value::from("a@b.co"))])
            .collect();
        let many = rows(Value::Array(vec![Value::Object(fields)])).expect_err("26 custom fields");
        assert!(many.to_string().contains("26 custom fields"), "{many}");
    }

    #[test]
    fn sms_numbers_need_a_permission_and_explicit_consent_a_date() {
        let rows = rows(serde_json::json!([
            {"email": "a@b.co"},
            {"sms_number": "5551234567"}
        ]))
        .expect("reads");
        let missing = rows.check_sms(None).expect_err("no permission");
        assert!(
            missing.to_string().contains("rows[1] has an `sms_number`"),
            "{missing}"
        );
        let explicit = rows
            .check_sms(Some(SmsPermission::Explicit))
            .expect_err("no consent date");
        assert!(
            explicit.to_string().contains("no `sms_consent_date`"),
            "{explicit}"
        );
        rows.check_sms(Some(SmsPermission::NotSet))
            .expect("not_set needs no date");
    }
}
