//! Segment criteria: the escaped JSON a segment's `segment_criteria` holds, parsed once and
//! evaluated per contact. The sandbox understands a useful subset of what the service accepts
//! and answers 400 naming anything else, instead of selecting the wrong contacts:
//!
//! ```json
//! {"version": "1.0.0", "criteria": {"type": "and", "group": [
//!   {"source": "contact", "field": "list_membership", "op": "contains-any", "const_value": "<list ids>"},
//!   {"source": "tags", "field": "tag", "op": "not-contains-any", "const_value": "<tag ids>"},
//!   {"source": "contact", "field": "first_name", "op": "eq", "const_value": "Ava"},
//!   {"source": "tracking", "field": "not_opened", "op": "contains-any",
//!    "const_value": "last-n-campaigns", "param": "5"},
//!   {"type": "or", "group": [ ... ]}
//! ]}}
//! ```
//!
//! Contact fields: `email_address`, `first_name`, `last_name`, `job_title`, `company_name`, with
//! `eq`, `ne`, `contains`, `not-contains`, `starts-with`, `ends-with`, `empty`, `not-empty`
//! (case-insensitive). Lists and tags: `contains-any`, `contains-all`, `not-contains-any` over a
//! comma-separated id list. Tracking: `sent`, `opened`, `not_opened`, `clicked`, `not_clicked`
//! over the last N sent campaigns (`last-n-campaigns`, N ≤ 500) or days (`last-n-days`,
//! ≤ 1825), with `contains-any` (in any of them) or `contains-all` (in each).

use std::collections::HashMap;

use serde_json::Value;

use crate::engagement;
use crate::store::{Contact, Store};

/// How many campaigns or days a tracking condition may look back (the spec's limits).
const MAX_CAMPAIGNS: usize = 500;
const MAX_DAYS: i64 = 1825;

/// A parsed criteria tree.
#[derive(Debug, Clone)]
pub struct Criteria {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Field {
        field: String,
        op: String,
        value: String,
    },
    Ids {
        tags: bool,
        op: String,
        ids: Vec<String>,
    },
    Tracking {
        field: String,
        all: bool,
        window: Window,
    },
}

#[derive(Debug, Clone, Copy)]
enum Window {
    Campaigns(usize),
    Days(i64),
}

const FIELDS: &[&str] = &[
    "email_address",
    "first_name",
    "last_name",
    "job_title",
    "company_name",
];
const TEXT_OPS: &[&str] = &[
    "eq",
    "ne",
    "contains",
    "not-contains",
    "starts-with",
    "ends-with",
    "empty",
    "not-empty",
];
const ID_OPS: &[&str] = &["contains-any", "contains-all", "not-contains-any"];
const TRACKING_FIELDS: &[&str] = &["sent", "opened", "not_opened", "clicked", "not_clicked"];

fn text<'v>(item: &'v Value, name: &str) -> Option<&'v str> {
    item.get(name).and_then(Value::as_str)
}

/// A `const_value` or `param` as text: strings as they are, numbers written out.
fn loose_text(item: &Value, name: &str) -> Option<String> {
    match item.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

impl Criteria {
    /// Parses `segment_criteria`; the error says what is wrong or not supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("segment_criteria is not valid JSON: {e}"))?;
        let criteria = value
            .get("criteria")
            .ok_or("segment_criteria needs a `criteria` object")?;
        Ok(Self {
            root: parse_group(criteria, "criteria", 0)?,
        })
    }

    /// The criteria bound to the account as it is now, ready to test contacts.
    pub fn prepare(&self, store: &Store) -> Prepared {
        let mut tracking = Vec::new();
        collect_windows(&self.root, &mut tracking);
        let history = if tracking.is_empty() {
            HashMap::new()
        } else {
            history(store)
        };
        Prepared {
            criteria: self.clone(),
            history,
            now: crate::util::now_ms(),
            sent: sent_activities(store),
        }
    }
}

fn parse_group(value: &Value, at: &str, depth: usize) -> Result<Node, String> {
    if depth > 8 {
        return Err(format!("{at}: groups are nested too deeply"));
    }
    let kind = text(value, "type").unwrap_or("and");
    let items = value
        .get("group")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{at} needs a `group` array"))?;
    let nodes = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = format!("{at}.group[{i}]");
            if item.get("group").is_some() {
                parse_group(item, &here, depth + 1)
            } else {
                parse_condition(item, &here)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    match kind {
        "and" => Ok(Node::All(nodes)),
        "or" => Ok(Node::Any(nodes)),
        other => Err(format!("{at}.type `{other}` must be and or or")),
    }
}

fn parse_condition(item: &Value, at: &str) -> Result<Node, String> {
    let source = text(item, "source").ok_or_else(|| format!("{at} needs a `source`"))?;
    let field = text(item, "field").unwrap_or_default().to_owned();
    let op = text(item, "op")
        .ok_or_else(|| format!("{at} needs an `op`"))?
        .to_owned();
    let value = loose_text(item, "const_value").unwrap_or_default();
    let ids = || -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    match source {
        "contact" | "list_membership" if field == "list_membership" || source != "contact" => {
            if !ID_OPS.contains(&op.as_str()) {
                return Err(format!(
                    "{at}: op `{op}` is not one of {}",
                    ID_OPS.join(", ")
                ));
            }
            Ok(Node::Ids {
                tags: false,
                op,
                ids: ids(),
            })
        }
        "tags" => {
            if !ID_OPS.contains(&op.as_str()) {
                return Err(format!(
                    "{at}: op `{op}` is not one of {}",
                    ID_OPS.join(", ")
                ));
            }
            Ok(Node::Ids {
                tags: true,
                op,
                ids: ids(),
            })
        }
        "contact" => {
            if !FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "{at}: contact field `{field}` is not supported by the sandbox (use one of {}, list_membership)",
                    FIELDS.join(", ")
                ));
            }
            if !TEXT_OPS.contains(&op.as_str()) {
                return Err(format!(
                    "{at}: op `{op}` is not one of {}",
                    TEXT_OPS.join(", ")
                ));
            }
            Ok(Node::Field {
                field,
                op,
                value: value.to_lowercase(),
            })
        }
        "tracking" => {
            if !TRACKING_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "{at}: tracking field `{field}` is not one of {}",
                    TRACKING_FIELDS.join(", ")
                ));
            }
            let all = match op.as_str() {
                "contains-any" => false,
                "contains-all" => true,
                other => {
                    return Err(format!(
                        "{at}: op `{other}` must be contains-any or contains-all"
                    ));
                }
            };
            let param = loose_text(item, "param").unwrap_or_default();
            let count: i64 = param
                .trim()
                .parse()
                .map_err(|_| format!("{at}: param `{param}` must be a whole number"))?;
            let window = match value.as_str() {
                "last-n-campaigns" if (1..=MAX_CAMPAIGNS as i64).contains(&count) => {
                    Window::Campaigns(usize::try_from(count).unwrap_or(1))
                }
                "last-n-days" if (1..=MAX_DAYS).contains(&count) => Window::Days(count),
                "last-n-campaigns" => {
                    return Err(format!(
                        "{at}: at most {MAX_CAMPAIGNS} email campaigns can be evaluated"
                    ));
                }
                "last-n-days" => {
                    return Err(format!(
                        "{at}: the date range cannot exceed {MAX_DAYS} days"
                    ));
                }
                other => {
                    return Err(format!(
                        "{at}: const_value `{other}` must be last-n-campaigns or last-n-days"
                    ));
                }
            };
            Ok(Node::Tracking { field, all, window })
        }
        other => Err(format!(
            "{at}: source `{other}` must be contact, list_membership, tags or tracking"
        )),
    }
}

fn collect_windows(node: &Node, out: &mut Vec<Window>) {
    match node {
        Node::All(nodes) | Node::Any(nodes) => nodes.iter().for_each(|n| collect_windows(n, out)),
        Node::Tracking { window, .. } => out.push(*window),
        _ => {}
    }
}

/// One sent primary activity: its id and when it was (last) sent.
type SentActivity = (String, i64);

/// Every sent primary activity, most recently sent first.
fn sent_activities(store: &Store) -> Vec<SentActivity> {
    let mut sent: Vec<SentActivity> = store
        .campaigns
        .iter()
        .flat_map(|c| &c.activities)
        .filter_map(|a| a.sends.last().map(|s| (a.id.clone(), s.at)))
        .collect();
    sent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sent
}

/// What each contact did with each sent activity: (sent, opened, clicked).
fn history(store: &Store) -> HashMap<String, HashMap<String, (bool, bool)>> {
    let mut out: HashMap<String, HashMap<String, (bool, bool)>> = HashMap::new();
    for activity in store.campaigns.iter().flat_map(|c| &c.activities) {
        let links = engagement::links_of(&activity.html_content).len();
        for send in &activity.sends {
            let window = engagement::window(send.at, send.settled_at);
            for recipient in &send.recipients {
                let outcome = engagement::outcome(
                    store.engagement_seed,
                    &activity.id,
                    &recipient.contact_id,
                    send.at,
                    window,
                    links,
                );
                out.entry(recipient.contact_id.clone()).or_default().insert(
                    activity.id.clone(),
                    (!outcome.opens.is_empty(), !outcome.clicks.is_empty()),
                );
            }
        }
    }
    out
}

/// Criteria bound to an account's sends as they were when prepared.
pub struct Prepared {
    criteria: Criteria,
    history: HashMap<String, HashMap<String, (bool, bool)>>,
    now: i64,
    sent: Vec<SentActivity>,
}

impl Prepared {
    /// Whether `contact` is in the segment (deleted contacts never are).
    pub fn matches(&self, contact: &Contact) -> bool {
        contact.deleted_at.is_none() && self.eval(&self.criteria.root, contact)
    }

    fn eval(&self, node: &Node, contact: &Contact) -> bool {
        match node {
            Node::All(nodes) => nodes.iter().all(|n| self.eval(n, contact)),
            Node::Any(nodes) => nodes.iter().any(|n| self.eval(n, contact)),
            Node::Field { field, op, value } => {
                let actual = match field.as_str() {
                    "email_address" => contact.email.as_ref().map(|e| e.address.clone()),
                    "first_name" => contact.first_name.clone(),
                    "last_name" => contact.last_name.clone(),
                    "job_title" => contact.job_title.clone(),
                    _ => contact.company_name.clone(),
                }
                .unwrap_or_default()
                .to_lowercase();
                match op.as_str() {
                    "eq" => actual == *value,
                    "ne" => actual != *value,
                    "contains" => actual.contains(value.as_str()),
                    "not-contains" => !actual.contains(value.as_str()),
                    "starts-with" => actual.starts_with(value.as_str()),
                    "ends-with" => actual.ends_with(value.as_str()),
                    "empty" => actual.is_empty(),
                    _ => !actual.is_empty(),
                }
            }
            Node::Ids { tags, op, ids } => {
                let held = if *tags {
                    &contact.taggings
                } else {
                    &contact.list_memberships
                };
                match op.as_str() {
                    "contains-any" => ids.iter().any(|id| held.contains(id)),
                    "contains-all" => ids.iter().all(|id| held.contains(id)),
                    _ => !ids.iter().any(|id| held.contains(id)),
                }
            }
            Node::Tracking { field, all, window } => {
                let considered: Vec<&SentActivity> = match window {
                    Window::Campaigns(n) => self.sent.iter().take(*n).collect(),
                    Window::Days(days) => self
                        .sent
                        .iter()
                        .filter(|(_, at)| *at >= self.now - days * 86_400_000)
                        .collect(),
                };
                let mine = self.history.get(&contact.id);
                let test = |(id, _): &&SentActivity| {
                    let seen = mine.and_then(|m| m.get(id));
                    match (field.as_str(), seen) {
                        ("sent", Some(_)) => true,
                        ("opened", Some((opened, _))) => *opened,
                        ("not_opened", Some((opened, _))) => !opened,
                        ("clicked", Some((_, clicked))) => *clicked,
                        ("not_clicked", Some((_, clicked))) => !clicked,
                        _ => false,
                    }
                };
                if *all {
                    !considered.is_empty() && considered.iter().all(test)
                } else {
                    considered.iter().any(test)
                }
            }
        }
    }
}

/// The criteria the sandbox seeds for a segment of one list's members.
pub fn list_criteria(list_id: &str) -> String {
    serde_json::json!({"version": "1.0.0", "criteria": {"type": "and", "group": [
        {"source": "contact", "field": "list_membership", "op": "contains-any",
         "const_value": list_id}]}})
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_parts_are_named() {
        let bad = Criteria::parse(
            r#"{"criteria": {"type": "and", "group": [{"source": "contact", "field": "shoe", "op": "eq"}]}}"#,
        )
        .expect_err("unsupported field");
        assert!(
            bad.contains("criteria.group[0]") && bad.contains("shoe"),
            "{bad}"
        );
        let bad = Criteria::parse("{not json").expect_err("not JSON");
        assert!(bad.contains("not valid JSON"), "{bad}");
        let too_far = Criteria::parse(
            r#"{"criteria": {"group": [{"source": "tracking", "field": "opened", "op": "contains-any",
                "const_value": "last-n-days", "param": "1826"}]}}"#,
        )
        .expect_err("too many days");
        assert!(too_far.contains("1825"), "{too_far}");
    }

    #[test]
    fn contacts_are_matched_by_lists_tags_and_fields() {
        let criteria = Criteria::parse(
            r#"{"criteria": {"type": "and", "group": [
                {"source": "contact", "field": "list_membership", "op": "contains-any", "const_value": "l1,l2"},
                {"type": "or", "group": [
                    {"source": "tags", "field": "tag", "op": "contains-any", "const_value": ["t1"]},
                    {"source": "contact", "field": "first_name", "op": "eq", "const_value": "AVA"}]}]}}"#,
        )
        .expect("valid criteria");
        let store = Store::new(1);
        let prepared = criteria.prepare(&store);
        let contact = |lists: &[&str], tags: &[&str], name: &str| Contact {
            list_memberships: lists.iter().map(|s| (*s).to_owned()).collect(),
            taggings: tags.iter().map(|s| (*s).to_owned()).collect(),
            first_name: Some(name.into()),
            ..Contact::default()
        };
        assert!(prepared.matches(&contact(&["l2"], &["t1"], "Bo")));
        assert!(prepared.matches(&contact(&["l1"], &[], "Ava")));
        assert!(!prepared.matches(&contact(&["l1"], &[], "Bo")));
        assert!(!prepared.matches(&contact(&["l3"], &["t1"], "Ava")));
        let mut deleted = contact(&["l1"], &["t1"], "Ava");
        deleted.deleted_at = Some(1);
        assert!(!prepared.matches(&deleted));
    }
}
