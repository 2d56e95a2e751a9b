//! The Constant Contact sandbox end to end, over real HTTP on 127.0.0.1: its responses validate
//! against the spec's response definitions; OAuth (PKCE, single-use codes, rotating single-use
//! refresh tokens, expiry, the token endpoint's 1/s); the API limits and their 429 bodies; cursor
//! paging and filters; the bulk JSON import; fault injection.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use constant_contact_sandbox::{Faults, Sandbox, SandboxConfig};
use plugboard_tests::openapi::{load_spec, response_problems};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("the HTTP client builds")
}

/// A bearer-authenticated caller of one sandbox.
struct Api {
    http: Client,
    origin: String,
    token: String,
}

impl Api {
    fn new(sandbox: &Sandbox) -> Self {
        Self {
            http: http(),
            origin: sandbox.url(),
            token: sandbox.mint_tokens().access_token,
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the sandbox answers");
        let status = response.status();
        let bytes = response.bytes().await.expect("the body arrives");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("the body is JSON")
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }
}

/// Calls operations and collects every way their responses differ from the spec.
struct Checker {
    spec: Value,
    problems: Vec<String>,
    operations: HashSet<String>,
}

impl Checker {
    async fn call(
        &mut self,
        api: &Api,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let (status, response) = api.send(method.clone(), path, body.as_ref()).await;
        assert_eq!(
            status.as_u16(),
            expected,
            "{method} {path} answered {status}: {response}"
        );
        self.problems.extend(response_problems(
            &self.spec,
            method.as_str(),
            path,
            status.as_u16(),
            &response,
        ));
        let template = path.split('?').next().unwrap_or(path);
        self.operations.insert(format!("{method} {template}"));
        response
    }
}

fn unlimited() -> SandboxConfig {
    SandboxConfig::default().unlimited()
}

fn str_of<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is a string in {value}"))
}

#[tokio::test]
async fn every_served_operation_answers_as_the_spec_declares() {
    let sandbox = Sandbox::start(unlimited())
        .await
        .expect("the sandbox starts");
    let api = Api::new(&sandbox);
    let mut c = Checker {
        spec: load_spec(),
        problems: Vec::new(),
        operations: HashSet::new(),
    };
    use Method as M;
    c.call(
        &api,
        M::GET,
        "/v3/account/summary?extra_fields=physical_address",
        None,
        200,
    )
    .await;
    c.call(&api, M::GET, "/v3/account/user/privileges", None, 200)
        .await;

    let all = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes";
    let page = c
        .call(
            &api,
            M::GET,
            &format!("/v3/contacts?include={all}&include_count=true&limit=5"),
            None,
            200,
        )
        .await;
    assert_eq!(page["contacts"].as_array().map(Vec::len), Some(5));
    assert_eq!(page["contacts_count"], 250);
    let next = str_of(&page, "/_links/next/href").to_owned();
    c.call(&api, M::GET, &next, None, 200).await;
    c.call(
        &api,
        M::GET,
        "/v3/contacts/counts?include=new_subscriber",
        None,
        200,
    )
    .await;

    let lists = c
        .call(
            &api,
            M::GET,
            "/v3/contact_lists?include_membership_count=all&include_count=true&limit=2",
            None,
            200,
        )
        .await;
    let list_id = str_of(&lists, "/lists/0/list_id").to_owned();
    assert!(
        lists["_links"]["next"]["href"].is_string(),
        "5 lists, 2 a page"
    );
    let created = c
        .call(
            &api,
            M::POST,
            "/v3/contact_lists",
            Some(json!({"name": "Spec check", "favorite": true})),
            201,
        )
        .await;
    let new_list = str_of(&created, "/list_id").to_owned();
    c.call(
        &api,
        M::POST,
        "/v3/contact_lists",
        Some(json!({"name": "Spec check"})),
        409,
    )
    .await;
    c.call(
        &api,
        M::GET,
        &format!("/v3/contact_lists/{new_list}?include_membership_count=active"),
        None,
        200,
    )
    .await;
    c.call(
        &api,
        M::PUT,
        &format!("/v3/contact_lists/{new_list}"),
        Some(json!({"name": "Spec check 2"})),
        200,
    )
    .await;

    let contact = c
        .call(
            &api,
            M::POST,
            "/v3/contacts",
            Some(json!({
                "email_address": {"address": "spec.check@example.com", "permission_to_send": "implicit"},
                "first_name": "Spec", "last_name": "Check", "create_source": "Account",
                "list_memberships": [list_id], "phone_numbers": [{"phone_number": "555-0100", "kind": "work"}],
                "street_addresses": [{"kind": "home", "city": "Boston"}],
            })),
            201,
        )
        .await;
    let contact_id = str_of(&contact, "/contact_id").to_owned();
    let duplicate = c
        .call(
            &api,
            M::POST,
            "/v3/contacts",
            Some(json!({"email_address": {"address": "SPEC.check@example.com"}, "create_source": "Account"})),
            409,
        )
        .await;
    assert!(duplicate[0]["error_key"].is_string(), "{duplicate}");
    let missing_source = c
        .call(
            &api,
            M::POST,
            "/v3/contacts",
            Some(json!({"email_address": {"address": "x@example.com"}})),
            400,
        )
        .await;
    assert!(missing_source[0]["error_message"].is_string());
    c.call(
        &api,
        M::GET,
        &format!("/v3/contacts/{contact_id}?include={all}"),
        None,
        200,
    )
    .await;
    let put = c
        .call(
            &api,
            M::PUT,
            &format!("/v3/contacts/{contact_id}"),
            Some(json!({"email_address": {"address": "spec.check@example.com"}, "first_name": "Changed",
                        "update_source": "Account"})),
            200,
        )
        .await;
    assert_eq!(put["first_name"], "Changed");
    assert!(
        put.get("last_name").is_none(),
        "PUT replaces: omitted fields are cleared"
    );
    c.call(
        &api,
        M::DELETE,
        &format!("/v3/contacts/{contact_id}"),
        None,
        204,
    )
    .await;
    c.call(
        &api,
        M::GET,
        "/v3/contacts/00000000-0000-4000-8000-000000000000",
        None,
        404,
    )
    .await;

    let signup = json!({"email_address": "signup@example.com", "first_name": "Sign", "list_memberships": [list_id]});
    let first = c
        .call(
            &api,
            M::POST,
            "/v3/contacts/sign_up_form",
            Some(signup.clone()),
            201,
        )
        .await;
    assert_eq!(first["action"], "created");
    let again = c
        .call(
            &api,
            M::POST,
            "/v3/contacts/sign_up_form",
            Some(signup),
            200,
        )
        .await;
    assert_eq!(again["action"], "updated");
    assert_eq!(again["contact_id"], first["contact_id"]);
    let other = c
        .call(
            &api,
            M::POST,
            "/v3/contacts/sign_up_form",
            Some(json!({"email_address": "signup-2@example.com", "list_memberships": [list_id]})),
            201,
        )
        .await;
    assert_eq!(other["action"], "created");
    assert_ne!(
        other["contact_id"], first["contact_id"],
        "each new sign-up is a new contact"
    );
    let found = c
        .call(
            &api,
            M::GET,
            &format!("/v3/contacts/{}", str_of(&first, "/contact_id")),
            None,
            200,
        )
        .await;
    assert_eq!(found["email_address"]["address"], "signup@example.com");

    c.call(
        &api,
        M::GET,
        "/v3/contact_tags?include_count=true",
        None,
        200,
    )
    .await;
    let tag = c
        .call(
            &api,
            M::POST,
            "/v3/contact_tags",
            Some(json!({"name": "spec-tag", "tag_source": "Contact"})),
            201,
        )
        .await;
    let tag_id = str_of(&tag, "/tag_id").to_owned();
    c.call(
        &api,
        M::GET,
        &format!("/v3/contact_tags/{tag_id}?include_count=true"),
        None,
        200,
    )
    .await;
    c.call(
        &api,
        M::PUT,
        &format!("/v3/contact_tags/{tag_id}"),
        Some(json!({"name": "spec-tag-2"})),
        200,
    )
    .await;
    c.call(
        &api,
        M::DELETE,
        &format!("/v3/contact_tags/{tag_id}"),
        None,
        202,
    )
    .await;

    c.call(&api, M::GET, "/v3/contact_custom_fields?limit=2", None, 200)
        .await;
    let field = c
        .call(
            &api,
            M::POST,
            "/v3/contact_custom_fields",
            Some(json!({"label": "Shoe Size", "type": "string"})),
            201,
        )
        .await;
    let field_id = str_of(&field, "/custom_field_id").to_owned();
    c.call(
        &api,
        M::GET,
        &format!("/v3/contact_custom_fields/{field_id}"),
        None,
        200,
    )
    .await;
    c.call(
        &api,
        M::PUT,
        &format!("/v3/contact_custom_fields/{field_id}"),
        Some(json!({"label": "Shoe size"})),
        200,
    )
    .await;
    c.call(
        &api,
        M::DELETE,
        &format!("/v3/contact_custom_fields/{field_id}"),
        None,
        204,
    )
    .await;

    c.call(&api, M::GET, "/v3/segments", None, 200).await;
    c.call(&api, M::GET, "/v3/segments/1", None, 200).await;

    let import = c
        .call(
            &api,
            M::POST,
            "/v3/activities/contacts_json_import",
            Some(json!({"import_data": [{"email": "imported@example.com", "first_name": "Im", "home_city": "Austin",
                                         "cf:favorite_color": "blue"}],
                        "list_ids": [list_id]})),
            201,
        )
        .await;
    let import_id = str_of(&import, "/activity_id").to_owned();
    let add = c
        .call(
            &api,
            M::POST,
            "/v3/activities/add_list_memberships",
            Some(json!({"source": {"list_ids": [list_id]}, "list_ids": [new_list]})),
            201,
        )
        .await;
    assert!(
        add["status"]["items_total_count"].as_u64() > Some(0),
        "{add}"
    );
    c.call(
        &api,
        M::POST,
        "/v3/activities/remove_list_memberships",
        Some(json!({"source": {"list_ids": [list_id]}, "list_ids": [new_list]})),
        201,
    )
    .await;
    let signup_id = str_of(&first, "/contact_id").to_owned();
    c.call(
        &api,
        M::POST,
        "/v3/activities/contact_delete",
        Some(json!({"contact_ids": [signup_id]})),
        201,
    )
    .await;
    c.call(
        &api,
        M::GET,
        &format!("/v3/activities/{import_id}"),
        None,
        200,
    )
    .await;
    c.call(&api, M::GET, "/v3/activities?limit=10", None, 200)
        .await;
    c.call(
        &api,
        M::DELETE,
        &format!("/v3/contact_lists/{new_list}"),
        None,
        202,
    )
    .await;

    c.call(&api, M::GET, "/v3/emails?limit=2", None, 200).await;
    let campaign = c
        .call(
            &api,
            M::POST,
            "/v3/emails",
            Some(
                json!({"name": "Spec campaign", "email_campaign_activities": [{
                "format_type": 5, "from_name": "Me", "from_email": "me@example.com",
                "reply_to_email": "me@example.com", "subject": "Hi",
                "html_content": "<html><body>[[trackingImage]]Hi</body></html>"}]}),
            ),
            200,
        )
        .await;
    let campaign_id = str_of(&campaign, "/campaign_id").to_owned();
    let activity_id = str_of(&campaign, "/campaign_activities/0/campaign_activity_id").to_owned();
    c.call(
        &api,
        M::GET,
        &format!("/v3/emails/{campaign_id}"),
        None,
        200,
    )
    .await;
    c.call(
        &api,
        M::GET,
        &format!("/v3/emails/activities/{activity_id}?include=html_content"),
        None,
        200,
    )
    .await;
    // An activity is scheduled only once it has recipients, as the service requires.
    c.call(
        &api,
        M::PUT,
        &format!("/v3/emails/activities/{activity_id}"),
        Some(json!({"from_name": "Me", "from_email": "me@example.com",
                    "reply_to_email": "me@example.com", "subject": "Hi",
                    "contact_list_ids": [list_id]})),
        200,
    )
    .await;
    c.call(
        &api,
        M::POST,
        &format!("/v3/emails/activities/{activity_id}/schedules"),
        Some(json!({"scheduled_date": "2031-05-17T16:37:59.091Z"})),
        201,
    )
    .await;
    c.call(
        &api,
        M::GET,
        &format!("/v3/emails/activities/{activity_id}/schedules"),
        None,
        200,
    )
    .await;
    c.call(
        &api,
        M::GET,
        "/v3/reports/summary_reports/email_campaign_summaries",
        None,
        200,
    )
    .await;

    // A body that is not declared as JSON gets 415, as the spec declares for POST /contacts.
    let response = api
        .http
        .post(format!("{}/v3/contacts", api.origin))
        .bearer_auth(&api.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    c.problems.extend(response_problems(
        &c.spec,
        "POST",
        "/v3/contacts",
        415,
        &Value::Null,
    ));

    let too_many = c
        .call(&api, M::GET, "/v3/contacts?limit=501", None, 400)
        .await;
    assert!(too_many[0]["error_key"].is_string(), "{too_many}");
    let (status, unknown) = api.get("/v3/no_such_thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(unknown[0]["error_key"].is_string(), "{unknown}");

    assert!(
        c.problems.is_empty(),
        "responses differ from the spec:\n{}",
        c.problems.join("\n")
    );
    assert!(
        c.operations.len() >= 40,
        "{} operations called",
        c.operations.len()
    );
    sandbox.stop().await;
}

/// Runs the browser step: GET authorize, return the redirect's query parameters.
async fn authorize(
    http: &Client,
    sandbox: &Sandbox,
    extra: &[(&str, &str)],
) -> (StatusCode, Vec<(String, String)>) {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", sandbox.client_id()),
        ("redirect_uri", "http://127.0.0.1:9/callback"),
        ("scope", "contact_data offline_access"),
        ("state", "st4te"),
    ];
    query.extend_from_slice(extra);
    let response = http
        .get(sandbox.authorize_url())
        .query(&query)
        .send()
        .await
        .expect("the authorize endpoint answers");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let params = location
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
                .collect()
        })
        .unwrap_or_default();
    (status, params)
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn token_request(
    http: &Client,
    sandbox: &Sandbox,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = http
        .post(sandbox.token_url())
        .basic_auth(sandbox.client_id(), Some(sandbox.client_secret()))
        .form(form)
        .send()
        .await
        .expect("the token endpoint answers");
    let status = response.status();
    (
        status,
        response
            .json()
            .await
            .expect("the token endpoint answers JSON"),
    )
}

fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[tokio::test]
async fn oauth_code_flow_with_pkce_single_use_codes_and_rotating_refresh_tokens() {
    let sandbox = Sandbox::start(unlimited())
        .await
        .expect("the sandbox starts");
    let http = http();
    let verifier = "a-sufficiently-long-pkce-code-verifier-of-forty-three-chars-or-more";
    let challenge = s256(verifier);
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    // Invalid requests: an unregistered redirect gets 400; a wrong response_type is redirected.
    let bad = http
        .get(sandbox.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", sandbox.client_id()),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", "contact_data"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let (status, params) = authorize(&http, &sandbox, &[("response_type", "token")]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        params
            .iter()
            .any(|(k, v)| k == "error" && v == "unsupported_response_type"),
        "{params:?}"
    );

    // A wrong verifier fails, and burns the code.
    let (status, params) = authorize(&http, &sandbox, &pkce).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(param(&params, "state"), Some("st4te"));
    let code = param(&params, "code").expect("a code").to_owned();
    let exchange = |code: String, verifier: &'static str| {
        let http = http.clone();
        let sandbox = &sandbox;
        async move {
            token_request(
                &http,
                sandbox,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "http://127.0.0.1:9/callback"),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body) = exchange(
        code.clone(),
        "not-the-verifier-not-the-verifier-not-the-verifier",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // The right verifier works once; reusing the code fails.
    let (_, params) = authorize(&http, &sandbox, &pkce).await;
    let code = param(&params, "code").expect("a code").to_owned();
    let (status, tokens) = exchange(code.clone(), verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 86_400);
    assert!(
        tokens["scope"]
            .as_str()
            .is_some_and(|s| s.contains("offline_access"))
    );
    let (status, body) = exchange(code, verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The access token works.
    let access = str_of(&tokens, "/access_token").to_owned();
    let api = Api {
        http: http.clone(),
        origin: sandbox.url(),
        token: access,
    };
    assert_eq!(api.get("/v3/contact_lists").await.0, StatusCode::OK);
    // It was granted contact_data, not account_read: the account summary is forbidden.
    let (status, body) = api.get("/v3/account/summary").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body[0]["error_key"].is_string(), "{body}");

    // Refresh rotates; the old refresh token is then dead; the new one works.
    let first_refresh = str_of(&tokens, "/refresh_token").to_owned();
    let (status, rotated) = token_request(
        &http,
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second_refresh = str_of(&rotated, "/refresh_token").to_owned();
    assert_ne!(second_refresh, first_refresh);
    let (status, reuse) = token_request(
        &http,
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse["error"], "invalid_grant");
    let (status, _) = token_request(
        &http,
        &sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A wrong client secret is invalid_client.
    let response = http
        .post(sandbox.token_url())
        .basic_auth(sandbox.client_id(), Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Expiring every token: the API answers 401 with the single-object body.
    sandbox.expire_all_tokens();
    let (status, body) = api.get("/v3/contact_lists").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error_key": "unauthorized", "error_message": "Unauthorized"})
    );

    let stats = sandbox.stats();
    assert_eq!(stats.code_exchanges, 1);
    assert_eq!(stats.refreshes, 2);
    assert_eq!(stats.invalid_grants, 3);
    assert_eq!(stats.unauthorized_401, 1);
    assert_eq!(stats.forbidden_403, 1);
    sandbox.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_after_their_ttl_and_missing_ones_get_401() {
    let config = SandboxConfig {
        access_token_ttl: Duration::from_secs(1),
        ..unlimited()
    };
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let api = Api::new(&sandbox);
    assert_eq!(api.get("/v3/contact_lists").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = api.get("/v3/contact_lists").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_key"], "unauthorized");
    let anonymous = http()
        .get(format!("{}/contact_lists", sandbox.api_base_url()))
        .send()
        .await
        .expect("answers");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    sandbox.stop().await;
}

#[tokio::test]
async fn the_token_endpoint_allows_one_request_per_second() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let http = http();
    let refresh = sandbox.mint_tokens().refresh_token.expect("offline_access");
    let (first, rotated) = token_request(
        &http,
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(first, StatusCode::OK, "{rotated}");
    let next = str_of(&rotated, "/refresh_token").to_owned();
    let (second, body) = token_request(
        &http,
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
    )
    .await;
    assert_eq!(second, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(sandbox.stats().token_throttled_429, 1);
    // The throttled request did not consume the refresh token.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (third, _) = token_request(
        &http,
        &sandbox,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
    )
    .await;
    assert_eq!(third, StatusCode::OK);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_four_per_second_is_throttled() {
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let api = std::sync::Arc::new(Api::new(&sandbox));
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.get("/v3/contact_lists").await })
        })
        .collect();
    let mut ok = 0;
    let mut throttled = 0;
    for call in calls {
        let (status, body) = call.await.expect("the call completes");
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(
                    body,
                    json!({"error_key": "throttled", "error_message": "Too Many Requests"})
                );
                throttled += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let stats = sandbox.stats();
    assert!(throttled >= 1, "12 requests at once, 4/s allowed: {ok} ok");
    assert_eq!(stats.throttled_429, throttled);
    // However the requests spread in time, no rolling second ever admitted more than 4.
    assert!(stats.peak_per_second <= 4, "{stats:?}");
    assert_eq!(stats.api_served, ok);
    sandbox.stop().await;
}

#[tokio::test]
async fn the_daily_cap_answers_quota_exceeded() {
    let config = SandboxConfig {
        per_second_limit: None,
        daily_limit: Some(5),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let api = Api::new(&sandbox);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (status, body) = api.get("/v3/account/summary").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                body,
                json!({"error_key": "quota_exceeded", "error_message": "Limit Exceeded"})
            );
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    assert_eq!(sandbox.stats().quota_429, 2);
    // The stats are also served over HTTP.
    let stats: Value = http()
        .get(format!("{}/__sandbox/stats", sandbox.url()))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stats["quota_429"], 2);
    sandbox.stop().await;
}

/// Every contact of a query, following `_links.next.href` alone (bounded).
async fn all_pages(api: &Api, first: &str) -> Vec<Value> {
    let mut contacts = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        contacts.extend(page["contacts"].as_array().cloned().unwrap_or_default());
        match page.pointer("/_links/next/href").and_then(Value::as_str) {
            Some(next) => {
                assert!(next.starts_with("/v3/contacts?cursor="), "{next}");
                path = next.to_owned();
            }
            None => return contacts,
        }
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn paging_returns_every_contact_once_and_filters_work() {
    let config = SandboxConfig {
        contacts: 1200,
        ..unlimited()
    };
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    let api = Api::new(&sandbox);
    let all = all_pages(
        &api,
        "/v3/contacts?status=all&limit=500&include=list_memberships",
    )
    .await;
    let ids: HashSet<&str> = all.iter().map(|c| str_of(c, "/contact_id")).collect();
    assert_eq!(all.len(), 1200);
    assert_eq!(ids.len(), 1200, "each contact exactly once");

    // email
    let email = str_of(&all[17], "/email_address/address").to_owned();
    let (_, found) = api.get(&format!("/v3/contacts?email={email}")).await;
    assert_eq!(found["contacts"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["contacts"][0]["contact_id"], all[17]["contact_id"]);

    // updated_after: exactly the contacts updated later, in (updated_at, id) order
    let mut stamps: Vec<&str> = all.iter().map(|c| str_of(c, "/updated_at")).collect();
    stamps.sort_unstable();
    let pivot = stamps[600];
    let expected = stamps.iter().filter(|s| **s > pivot).count();
    let later = all_pages(
        &api,
        &format!("/v3/contacts?status=all&limit=100&updated_after={pivot}"),
    )
    .await;
    assert_eq!(later.len(), expected);
    assert!(later.iter().all(|c| str_of(c, "/updated_at") > pivot));

    // updated_after with updated_before: exactly the window between, both ends excluded (the
    // poll trigger bounds its walks this way)
    let upper = stamps[900];
    let expected = stamps.iter().filter(|s| **s > pivot && **s < upper).count();
    let window = all_pages(
        &api,
        &format!("/v3/contacts?status=all&limit=100&updated_after={pivot}&updated_before={upper}"),
    )
    .await;
    assert_eq!(window.len(), expected);
    assert!(expected > 250, "the window spans several pages");
    assert!(
        window
            .iter()
            .all(|c| str_of(c, "/updated_at") > pivot && str_of(c, "/updated_at") < upper)
    );

    // lists
    let list = str_of(&all[0], "/list_memberships/0").to_owned();
    let expected = all
        .iter()
        .filter(|c| {
            c["list_memberships"]
                .as_array()
                .is_some_and(|l| l.iter().any(|x| x == list.as_str()))
        })
        .count();
    let members = all_pages(
        &api,
        &format!("/v3/contacts?status=all&lists={list}&include=list_memberships&limit=50"),
    )
    .await;
    assert_eq!(members.len(), expected);
    assert!(expected > 0 && expected < 1200);

    // default status excludes deleted contacts
    let victim = str_of(&all[3], "/contact_id").to_owned();
    assert_eq!(
        api.send(Method::DELETE, &format!("/v3/contacts/{victim}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, counted) = api.get("/v3/contacts?include_count=true&limit=1").await;
    assert_eq!(counted["contacts_count"], 1199);
    sandbox.stop().await;
}

#[tokio::test]
async fn a_custom_field_put_replaces_the_field_so_it_needs_a_label() {
    let sandbox = Sandbox::start(unlimited())
        .await
        .expect("the sandbox starts");
    let api = Api::new(&sandbox);
    let (status, field) = api
        .send(
            Method::POST,
            "/v3/contact_custom_fields",
            Some(&json!({"label": "Shoe Size", "type": "string"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{field}");
    let path = format!(
        "/v3/contact_custom_fields/{}",
        str_of(&field, "/custom_field_id")
    );
    // The spec: "Any properties omitted in the PUT request are overwritten with a null value";
    // a custom field cannot be without a label.
    let (status, errors) = api.send(Method::PUT, &path, Some(&json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{errors}");
    assert!(errors.to_string().contains("label is required"), "{errors}");
    let (_, unchanged) = api.get(&path).await;
    assert_eq!(unchanged["label"], "Shoe Size");
    let (status, replaced) = api
        .send(
            Method::PUT,
            &path,
            Some(&json!({"label": "Shoe size (EU)"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["label"], "Shoe size (EU)");
    sandbox.stop().await;
}

#[tokio::test]
async fn bulk_json_import_creates_contacts_and_its_activity_completes() {
    let sandbox = Sandbox::start(unlimited())
        .await
        .expect("the sandbox starts");
    let api = Api::new(&sandbox);
    let (_, lists) = api.get("/v3/contact_lists").await;
    let list = str_of(&lists, "/lists/1/list_id").to_owned();
    let rows: Vec<Value> = (0..300)
        .map(|n| json!({"email": format!("bulk{n}@example.com"), "first_name": format!("Bulk{n}"), "work_phone": "555-0199"}))
        .collect();
    let before = sandbox.contact_count();
    let (status, activity) = api
        .send(
            Method::POST,
            "/v3/activities/contacts_json_import",
            Some(&json!({"import_data": rows, "list_ids": [list]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{activity}");
    assert_eq!(activity["state"], "initialized");
    assert_eq!(sandbox.contact_count(), before + 300);
    let href = str_of(&activity, "/_links/self/href").to_owned();
    let mut states = Vec::new();
    for _ in 0..20 {
        let (_, polled) = api.get(&href).await;
        states.push(polled["state"].as_str().unwrap_or_default().to_owned());
        if polled["state"] == "completed" {
            assert_eq!(polled["status"]["person_count"], 300);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some("completed"),
        "{states:?}"
    );
    let (_, found) = api
        .get("/v3/contacts?email=bulk7@example.com&include=list_memberships,phone_numbers")
        .await;
    let contact = &found["contacts"][0];
    assert_eq!(contact["first_name"], "Bulk7");
    assert_eq!(contact["list_memberships"], json!([list]));
    assert_eq!(contact["email_address"]["permission_to_send"], "implicit");
    assert_eq!(contact["phone_numbers"][0]["kind"], "work");

    // More than 40,000 contacts, or no list, is a 400 with the error array.
    let rows: Vec<Value> = (0..40_001)
        .map(|n| json!({"email": format!("x{n}@example.com")}))
        .collect();
    let (status, body) = api
        .send(
            Method::POST,
            "/v3/activities/contacts_json_import",
            Some(&json!({"import_data": rows, "list_ids": [list]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body[0]["error_key"].is_string());
    let (status, _) = api
        .send(
            Method::POST,
            "/v3/activities/contacts_json_import",
            Some(&json!({"import_data": [{"email": "a@example.com"}], "list_ids": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sandbox.stop().await;
}

#[tokio::test]
async fn injected_faults_are_served_and_counted() {
    let sandbox = Sandbox::start(unlimited())
        .await
        .expect("the sandbox starts");
    let api = Api::new(&sandbox);

    sandbox.set_faults(Faults {
        error_rate: 1.0,
        seed: 3,
        ..Faults::default()
    });
    for _ in 0..3 {
        let (status, body) = api.get("/v3/contact_lists").await;
        assert!(status.is_server_error(), "{status}");
        assert!(matches!(status.as_u16(), 500 | 503));
        assert!(body[0]["error_key"].is_string());
    }
    assert_eq!(sandbox.stats().injected_5xx, 3);

    sandbox.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    for _ in 0..2 {
        let error = api
            .http
            .get(format!("{}/contact_lists", sandbox.api_base_url()))
            .bearer_auth(&api.token)
            .send()
            .await
            .expect_err("the connection is closed without a response");
        assert!(!error.is_status() && !error.is_timeout(), "{error:?}");
    }
    assert_eq!(sandbox.stats().dropped, 2);

    // Faults are also set over HTTP: two forced 429s, then normal service.
    let response = api
        .http
        .post(format!("{}/__sandbox/faults", sandbox.url()))
        .json(&json!({"force_throttle": 2}))
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let statuses = [
        api.get("/v3/contact_lists").await.0.as_u16(),
        api.get("/v3/contact_lists").await.0.as_u16(),
        api.get("/v3/contact_lists").await.0.as_u16(),
    ];
    assert_eq!(statuses, [429, 429, 200]);
    let expire = api
        .http
        .post(format!("{}/__sandbox/expire_tokens", sandbox.url()))
        .send()
        .await
        .expect("answers");
    assert_eq!(expire.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v3/contact_lists").await.0,
        StatusCode::UNAUTHORIZED
    );
    sandbox.stop().await;
}

#[test]
fn a_spawned_sandbox_serves_sync_callers_and_shuts_down() {
    use std::io::{Read as _, Write as _};
    let sandbox = Sandbox::spawn(SandboxConfig {
        contacts: 10,
        ..SandboxConfig::default()
    })
    .expect("the sandbox starts");
    let addr = sandbox.url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout set");
    stream
        .write_all(b"GET /__sandbox/stats HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
        .expect("writes");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"requests\":1"), "{answer}");
    sandbox.shutdown();
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the port is closed after shutdown"
    );
}
