//! Faithful outputs: the fields of an API object that its output type does not name.
//!
//! Invariant 7: every field the API returns reaches the workflow, including fields no output type
//! names. An output type names the fields a connector knows (and documents them in its schema);
//! APIs add fields faster than connectors follow, and a workflow may need one today. So every
//! type that holds an API object flattens an [`Unnamed`] into itself: decoding keeps the rest of
//! the object there, encoding writes it back beside the named fields, and the schema says
//! `"additionalProperties": true`, so the workflow validator treats a path into it as possible.
//!
//! [`macro@output`] does this by construction: on a struct, it adds the flattened
//! `pub unnamed: Unnamed` field, and writes the serde attributes every optional field of an API
//! object needs (absent or `null` reads as `None`, `None` is left out as the API left it out; a
//! list left out reads as empty), and derives what an output needs (`Debug`, `Clone`, serde's
//! `Serialize` and `Deserialize`, schemars' `JsonSchema`), so a type declares only what it names:
//!
//! ```
//! use plugboard_core::output;
//! use serde_json::json;
//!
//! /// A contact list.
//! #[output]
//! pub struct ContactList {
//!     /// Unique id of the list.
//!     pub list_id: String,
//!     /// Text describing the list.
//!     pub description: Option<String>,
//!     /// Number of members, when asked for. The API types it as `integer`: signed, so a
//!     /// negative value (whatever it means) cannot fail a whole page.
//!     pub membership_count: Option<i64>,
//!     /// Ids of the list's tags.
//!     pub tags: Vec<String>,
//! }
//!
//! let list: ContactList = serde_json::from_value(json!({"list_id": "l-1", "colour": "teal"}))?;
//! assert_eq!((list.description.as_deref(), list.tags.len()), (None, 0));
//! assert_eq!(
//!     serde_json::to_value(&list)?,
//!     json!({"list_id": "l-1", "tags": [], "colour": "teal"}),
//!     "the field no type names reaches the workflow; a list left out reads as empty"
//! );
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::ops::{Deref, DerefMut};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema keyword that marks an object as open because it keeps the unnamed fields of an API
/// object (as opposed to a free-form map): a path into it that is a near miss of a named field is
/// most likely a typo.
pub const UNNAMED_KEYWORD: &str = "x-plugboard-unnamed";

/// Every field of an API object that its output type does not name, kept as the API sent it.
///
/// ```
/// use plugboard_core::Unnamed;
/// use serde::{Deserialize, Serialize};
/// use serde_json::json;
///
/// /// A tag.
/// #[derive(Serialize, Deserialize, schemars::JsonSchema)]
/// struct Tag {
///     /// The tag's id.
///     tag_id: String,
///     /// Every field the API returned that this type does not name.
///     #[serde(flatten)]
///     unnamed: Unnamed,
/// }
///
/// let tag: Tag = serde_json::from_value(json!({"tag_id": "t-1", "tag_colour": "teal"}))?;
/// assert_eq!(tag.unnamed["tag_colour"], "teal");
/// assert_eq!(serde_json::to_value(&tag)?, json!({"tag_id": "t-1", "tag_colour": "teal"}));
///
/// let schema = schemars::schema_for!(Tag);
/// assert_eq!(schema.get("additionalProperties"), Some(&json!(true)));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unnamed(pub Map<String, Value>);

impl Deref for Unnamed {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Unnamed {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<Map<String, Value>> for Unnamed {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

impl JsonSchema for Unnamed {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Unnamed".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "additionalProperties": true,
            UNNAMED_KEYWORD: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An object with named fields of every kind the connectors use.
    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    struct Object {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<i64>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(flatten)]
        unnamed: Unnamed,
    }

    #[test]
    fn unnamed_fields_round_trip_beside_named_ones() {
        let input = json!({"id": "a", "count": -3, "type": "x", "new": {"deep": [1]}, "n": null});
        let object: Object = serde_json::from_value(input.clone()).expect("decodes");
        assert_eq!(object.count, Some(-3));
        assert_eq!(object.unnamed.len(), 2);
        assert_eq!(serde_json::to_value(&object).expect("encodes"), input);
    }

    #[test]
    fn the_schema_is_open_and_marked() {
        let schema = schemars::schema_for!(Object);
        assert_eq!(schema.get("additionalProperties"), Some(&json!(true)));
        assert_eq!(schema.get(UNNAMED_KEYWORD), Some(&json!(true)));
        assert!(schema.get("properties").and_then(|p| p.get("id")).is_some());
    }
}
