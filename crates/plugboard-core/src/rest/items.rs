//! Finding things in a response body: the items of a page, a cursor, a next-page link.
//!
//! APIs put a page's items at the top (`[...]`), under a key (`{"data": [...]}`) or deeper
//! (`{"result": {"items": [...]}}`). A location is written as dot-separated keys (`result.items`)
//! or as a JSON pointer (`/result/items`, for keys that contain dots).

use serde_json::Value;

use crate::error::ConnectorError;

/// The value at `field` (dot-separated keys, or a JSON pointer starting with `/`).
///
/// ```
/// use plugboard_core::rest::value_at;
/// use serde_json::json;
///
/// let body = json!({"_links": {"next": {"href": "/v3/contacts?cursor=a"}}});
/// assert_eq!(value_at(&body, "_links.next.href"), Some(&json!("/v3/contacts?cursor=a")));
/// assert_eq!(value_at(&body, "/_links/next/href"), Some(&json!("/v3/contacts?cursor=a")));
/// assert_eq!(value_at(&body, "_links.prev.href"), None);
/// ```
pub fn value_at<'v>(body: &'v Value, field: &str) -> Option<&'v Value> {
    if field.starts_with('/') {
        return body.pointer(field);
    }
    field
        .split('.')
        .try_fold(body, |value, key| value.as_object()?.get(key))
}

/// The text at `field`: a non-empty string, or a number written as text (some APIs send numeric
/// cursors). `None` for anything else, which pagination reads as "no next page".
pub fn text_at(body: &Value, field: &str) -> Option<String> {
    match value_at(body, field)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The items of a page, taken out of `body`: at `field`, or the body itself when `field` is
/// `None`. A missing or `null` field is an empty page (last pages often leave it out); anything
/// but an array there is an error that names the field.
pub fn take_items(body: &mut Value, field: Option<&str>) -> Result<Vec<Value>, ConnectorError> {
    let found = match field {
        None => Some(body),
        Some(field) if field.starts_with('/') => body.pointer_mut(field),
        Some(field) => field
            .split('.')
            .try_fold(body, |value, key| value.as_object_mut()?.get_mut(key)),
    };
    match found {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(std::mem::take(items)),
        Some(_) => Err(ConnectorError::unexpected_response(match field {
            None => "the page is not a JSON array; say where its items are".to_owned(),
            Some(field) => format!(
                "`{}` in the page is not an array",
                crate::rest::excerpt(field)
            ),
        })),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn items_and_cursors_are_found_by_keys_or_pointer() {
        let body = json!({"data": {"items": [1, 2]}, "meta": {"next": "c2", "n": 7, "empty": ""}});
        assert_eq!(
            take_items(&mut body.clone(), Some("data.items")),
            Ok(vec![json!(1), json!(2)])
        );
        assert_eq!(
            take_items(&mut body.clone(), Some("/data/items")),
            Ok(vec![json!(1), json!(2)])
        );
        assert_eq!(take_items(&mut body.clone(), Some("missing")), Ok(vec![]));
        assert!(take_items(&mut body.clone(), Some("meta")).is_err());
        assert!(take_items(&mut body.clone(), None).is_err());
        assert_eq!(take_items(&mut json!([3]), None), Ok(vec![json!(3)]));
        assert_eq!(text_at(&body, "meta.next").as_deref(), Some("c2"));
        assert_eq!(text_at(&body, "meta.n").as_deref(), Some("7"));
        assert_eq!(text_at(&body, "meta.empty"), None);
        assert_eq!(text_at(&body, "meta.none"), None);
    }

    #[test]
    fn a_null_items_field_is_an_empty_page() {
        assert_eq!(
            take_items(&mut json!({"data": null}), Some("data")),
            Ok(vec![])
        );
    }
}
