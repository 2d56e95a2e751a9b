//! Reading a record file (`read` steps and resumed streams) one record at a time.

use std::fs::File;
use std::io::{BufRead, BufReader};

use plugboard_core::ConnectorError;
use serde_json::{Map, Value};

use crate::excerpt::excerpt;
use crate::model::RecordFormat;

use super::Failure;

/// Reads a record file incrementally, handing each record to `emit`; returns the record count.
pub(crate) fn read_records(
    path: &str,
    format: RecordFormat,
    emit: &mut dyn FnMut(Value) -> Result<(), ConnectorError>,
) -> Result<u64, Failure> {
    // The path comes from the workflow or its inputs: quoted by an excerpt.
    let shown = excerpt(path);
    let file =
        File::open(path).map_err(|e| Failure::File(format!("cannot open `{shown}`: {e}")))?;
    let reader = BufReader::new(file);
    let stopped = |e: ConnectorError| match e {
        ConnectorError::Cancelled => Failure::Cancelled,
        other => Failure::Connector(other),
    };
    let mut count = 0u64;
    match format {
        RecordFormat::Jsonl => {
            for (n, line) in reader.lines().enumerate() {
                let line =
                    line.map_err(|e| Failure::File(format!("cannot read `{shown}`: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let record: Value = serde_json::from_str(&line).map_err(|e| {
                    Failure::File(format!("`{shown}` line {}: not JSON: {e}", n + 1))
                })?;
                count += 1;
                emit(record).map_err(stopped)?;
            }
        }
        RecordFormat::Csv => {
            let mut csv = csv::Reader::from_reader(reader);
            let headers = csv
                .headers()
                .map_err(|e| Failure::File(format!("`{shown}`: {e}")))?
                .clone();
            for row in csv.records() {
                let row = row.map_err(|e| Failure::File(format!("`{shown}`: {e}")))?;
                let record: Map<String, Value> = headers
                    .iter()
                    .zip(row.iter())
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect();
                count += 1;
                emit(Value::Object(record)).map_err(stopped)?;
            }
        }
        RecordFormat::JsonArray => {
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            let mut visitor = ArrayVisitor {
                emit,
                count: 0,
                stopped: None,
            };
            let parsed = serde::Deserializer::deserialize_seq(&mut deserializer, &mut visitor);
            if let Some(error) = visitor.stopped.take() {
                return Err(stopped(error));
            }
            parsed
                .and_then(|()| deserializer.end())
                .map_err(|e| Failure::File(format!("`{shown}`: {e}")))?;
            count = visitor.count;
        }
    }
    Ok(count)
}

/// Visits the elements of a JSON array one at a time, so the array is never held in memory.
struct ArrayVisitor<'f> {
    emit: &'f mut dyn FnMut(Value) -> Result<(), ConnectorError>,
    count: u64,
    stopped: Option<ConnectorError>,
}

impl<'de> serde::de::Visitor<'de> for &mut ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Value>()? {
            self.count += 1;
            if let Err(e) = (self.emit)(record) {
                self.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}
