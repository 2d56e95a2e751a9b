//! What the sandbox catalogue tests share: a bearer-authenticated HTTP caller of one sandbox and
//! a checker that validates every answer against the official spec's response definition for
//! its operation and status (`plugboard_tests::openapi::response_problems`).

#![allow(dead_code, reason = "each test file uses a different part of these helpers")]

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use constant_contact_sandbox::{Sandbox, SandboxConfig};
use plugboard_tests::openapi::{load_spec, matching_template, response_problems};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

/// The spec, read once per test binary.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(load_spec)
}

/// A sandbox without rate limits (these tests make many calls quickly).
pub async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default().unlimited())
        .await
        .expect("the sandbox starts")
}

/// An answer: status, content type and body (as JSON when it is JSON, else as text).
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
    pub json: Value,
}

/// A caller of one sandbox's API with a valid token.
pub struct Api {
    http: Client,
    origin: String,
    token: String,
}

impl Api {
    pub fn new(sandbox: &Sandbox) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("the HTTP client builds"),
            origin: sandbox.url(),
            token: sandbox.mint_tokens().access_token,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request).await
    }

    /// POSTs a `multipart/form-data` body (a file upload).
    pub async fn send_form(&self, path: &str, form: reqwest::multipart::Form) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .multipart(form);
        Self::reply(request).await
    }

    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("the body arrives");
        let json = if content_type.starts_with("application/json") && !text.is_empty() {
            serde_json::from_str(&text).expect("a JSON body parses")
        } else {
            Value::Null
        };
        Reply {
            status,
            content_type,
            text,
            json,
        }
    }
}

/// Calls operations, asserts their statuses and collects every way their answers differ from
/// the spec, and which operations were called.
pub struct Checker<'a> {
    api: &'a Api,
    problems: Vec<String>,
    pub operations: BTreeSet<String>,
}

impl<'a> Checker<'a> {
    pub fn new(api: &'a Api) -> Self {
        Self {
            api,
            problems: Vec::new(),
            operations: BTreeSet::new(),
        }
    }

    /// Sends the request, asserts `expected`, validates the answer; returns the whole reply.
    pub async fn reply(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Reply {
        let reply = self.api.send(method.clone(), path, body.as_ref()).await;
        assert_eq!(
            reply.status.as_u16(),
            expected,
            "{method} {path} answered {}: {}",
            reply.status,
            excerpt(&reply.text)
        );
        let validated = if reply.content_type.starts_with("application/json") {
            reply.json.clone()
        } else if reply.text.is_empty() {
            Value::Null
        } else {
            Value::String(reply.text.clone())
        };
        self.problems.extend(response_problems(
            spec(),
            method.as_str(),
            path,
            reply.status.as_u16(),
            &validated,
        ));
        let concrete = path.split('?').next().unwrap_or(path);
        let concrete = concrete.strip_prefix("/v3").unwrap_or(concrete);
        let template = matching_template(spec(), concrete).unwrap_or(concrete);
        self.operations.insert(format!("{method} {template}"));
        reply
    }

    /// [`Checker::reply`]'s JSON body.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        self.reply(method, path, body, expected).await.json
    }

    pub async fn get(&mut self, path: &str) -> Value {
        self.call(Method::GET, path, None, 200).await
    }

    /// Schedules the campaign activity at `activity_path` (`/v3/emails/activities/{id}`) for
    /// `date` (`"0"`: now), expecting `status`.
    pub async fn schedule(&mut self, activity_path: &str, date: &str, status: u16) -> Value {
        let path = format!("{activity_path}/schedules");
        let body = serde_json::json!({ "scheduled_date": date });
        self.call(Method::POST, &path, Some(body), status).await
    }

    /// Every item under `key` of a paged collection, following `_links.next.href` (bounded).
    pub async fn all_pages(&mut self, first: &str, key: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut path = first.to_owned();
        for _ in 0..1_000 {
            let page = self.get(&path).await;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
            match page.pointer("/_links/next/href").and_then(Value::as_str) {
                Some(next) => path = next.to_owned(),
                None => return items,
            }
        }
        panic!("{first} has more than 1,000 pages");
    }

    /// Fails when any answer differed from the spec.
    pub fn assert_conforms(&self) {
        assert!(
            self.problems.is_empty(),
            "answers differ from the spec:\n{}",
            self.problems.join("\n")
        );
    }
}

/// The start of a long text, for assertion messages.
pub fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(400).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The string at `pointer`, or a failure naming it.
pub fn str_of<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is a string in {}", excerpt(&value.to_string())))
}

/// The number at `pointer`, or a failure naming it.
pub fn num_of(value: &Value, pointer: &str) -> i64 {
    value
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{pointer} is an integer in {}", excerpt(&value.to_string())))
}

/// Imports `count` new contacts named `<prefix>.<n>@example.com` into a new list; returns the
/// list id.
pub async fn list_of_new_contacts(c: &mut Checker<'_>, prefix: &str, count: usize) -> String {
    let list = c
        .call(
            Method::POST,
            "/v3/contact_lists",
            Some(serde_json::json!({"name": format!("{prefix} list")})),
            201,
        )
        .await;
    let list_id = str_of(&list, "/list_id").to_owned();
    let rows: Vec<Value> = (0..count)
        .map(|n| {
            serde_json::json!({"email": format!("{prefix}.{n}@example.com"),
                               "first_name": format!("First{n}"), "last_name": prefix})
        })
        .collect();
    let import = c
        .call(
            Method::POST,
            "/v3/activities/contacts_json_import",
            Some(serde_json::json!({"import_data": rows, "list_ids": [list_id]})),
            201,
        )
        .await;
    assert_eq!(num_of(&import, "/status/person_count"), count as i64);
    list_id
}

/// Creates a custom-code campaign; returns `(campaign_id, primary activity id)`.
pub async fn new_campaign(c: &mut Checker<'_>, name: &str, html: &str) -> (String, String) {
    let campaign = c
        .call(
            Method::POST,
            "/v3/emails",
            Some(
                serde_json::json!({"name": name, "email_campaign_activities": [{
                "format_type": 5, "from_name": "Sandbox Sender", "from_email": "sender@example.com",
                "reply_to_email": "reply@example.com", "subject": format!("About {name}"),
                "html_content": html}]}),
            ),
            200,
        )
        .await;
    let primary = campaign["campaign_activities"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["role"] == "primary_email")
        .and_then(|a| a["campaign_activity_id"].as_str())
        .expect("a primary_email activity")
        .to_owned();
    (str_of(&campaign, "/campaign_id").to_owned(), primary)
}

/// The body of a custom-code email with two links.
pub const HTML: &str = "<html><body>[[trackingImage]]<p>Hello [[FIRSTNAME]]!</p>\
    <a href=\"https://example.com/a\">A</a> <a href=\"https://example.com/b\">B</a></body></html>";

/// The PUT body that sends activity content to `lists`.
pub fn recipients(lists: &[&str]) -> Value {
    serde_json::json!({"from_name": "Sandbox Sender", "from_email": "sender@example.com",
                       "reply_to_email": "reply@example.com", "subject": "Hello",
                       "contact_list_ids": lists})
}
