//! Hosted installs of `plugboard serve --sandbox` through the real binary and HTTP: apps,
//! tenant connections finished at `/connector/callback`, isolation between tenants, refused
//! callbacks, connect links and their page, and no secret anywhere a user or a log can see.
//!
//! The test plays the browser: it opens the provider's authorization URL (the sandbox consents
//! at once and redirects) and follows the redirect to the service's callback.

use std::collections::BTreeSet;
use std::path::Path;

use constant_contact_sandbox::SandboxConfig;
use plugboard_tests::service::{RawResponse, ServiceProcess, query_param};
use plugboard_tests::{chaos, temp_dir};
use serde_json::{Value, json};

const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";

/// Everything the test saw: every response body and header, to search for secrets at the end.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn json(&mut self, (status, body): (u16, Value)) -> (u16, Value) {
        self.0.push(body.to_string());
        (status, body)
    }

    fn raw(&mut self, response: RawResponse) -> RawResponse {
        self.0.push(format!("{:?}", response.headers));
        self.0.push(response.body.clone());
        response
    }
}

fn create_tenant(service: &ServiceProcess, seen: &mut Seen, id: &str) -> String {
    let (status, body) =
        seen.json(service.json("POST", "/v1/tenants", Some(ADMIN_KEY), &json!({"id": id})));
    assert_eq!(status, 201, "{body}");
    body["api_key"].as_str().expect("a key").to_owned()
}

/// Starts an install of Constant Contact as `name` for `tenant`; returns the authorization URL.
fn start_install(
    service: &ServiceProcess,
    seen: &mut Seen,
    tenant: &str,
    key: &str,
    name: &str,
) -> String {
    let (status, body) = seen.json(service.json(
        "POST",
        &format!("/v1/tenants/{tenant}/connections"),
        Some(key),
        &json!({"connector": "constant-contact", "name": name}),
    ));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "authorization_required", "{body}");
    let url = body["authorization_url"]
        .as_str()
        .expect("an authorization URL")
        .to_owned();
    assert!(
        url.contains("code_challenge_method=S256"),
        "PKCE S256: {url}"
    );
    assert!(url.contains("code_challenge="), "{url}");
    assert!(url.contains("state="), "{url}");
    let callback = format!("{}/connector/callback", service.base_url);
    assert!(
        url.contains(&format!("redirect_uri={}", encode(&callback))),
        "the hosted callback is the redirect URI: {url}"
    );
    assert!(
        !url.contains("code_verifier"),
        "the verifier stays on the server"
    );
    url
}

/// The sandbox's consent: GET the authorization URL, which redirects to the service's callback
/// with `code` and `state`. Returns that callback URL (not yet visited).
fn consent(service: &ServiceProcess, seen: &mut Seen, authorization_url: &str) -> String {
    let consent = seen.raw(service.browse("GET", authorization_url, None));
    assert_eq!(consent.status, 302, "{consent:?}");
    let location = consent.header("location").expect("a redirect").to_owned();
    assert!(
        location.starts_with(&format!("{}/connector/callback?", service.base_url)),
        "{location}"
    );
    location
}

/// Consents and visits the callback: what the user's browser does.
fn finish(service: &ServiceProcess, seen: &mut Seen, authorization_url: &str) -> RawResponse {
    let callback = consent(service, seen, authorization_url);
    seen.raw(service.browse("GET", &callback, None))
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The connection names in the runner's state file, read directly.
fn runner_connections(state: &Path) -> Vec<String> {
    let connection = chaos::open(state);
    let mut statement = connection
        .prepare("SELECT name FROM connections ORDER BY name")
        .expect("the query prepares");
    statement
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("names")
}

fn names(listing: &Value) -> Vec<String> {
    listing
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// Fails naming where a secret appeared.
fn assert_nowhere(secrets: &BTreeSet<String>, place: &str, text: &str) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) appears in {place}",
            &secret[..secret.len().min(6)]
        );
    }
}

fn assert_no_secret_leaked(
    service: &ServiceProcess,
    state: &Path,
    seen: &Seen,
    secrets: &BTreeSet<String>,
) {
    assert!(!secrets.is_empty());
    for (index, text) in seen.0.iter().enumerate() {
        assert_nowhere(secrets, &format!("response {index}"), text);
    }
    assert_nowhere(secrets, "the service's log (stderr)", &service.stderr());
    let store = std::fs::read(ServiceProcess::store_file(state)).expect("the service store");
    assert_nowhere(
        secrets,
        "the service's store file",
        &String::from_utf8_lossy(&store),
    );
    let wal = ServiceProcess::store_file(state).with_extension("db-wal");
    if let Ok(bytes) = std::fs::read(&wal) {
        assert_nowhere(
            secrets,
            "the service store's WAL",
            &String::from_utf8_lossy(&bytes),
        );
    }
}

#[test]
fn two_tenants_install_through_the_hosted_callback_and_never_see_each_other() {
    let dir = temp_dir("service-install-two-tenants");
    let state = dir.join("state.db");
    let service = ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &[]);
    let mut seen = Seen::default();
    let mut secrets = BTreeSet::from([SandboxConfig::default().client.client_secret]);

    // The sandbox's app is the connector's app; its secret is only ever "set".
    let (status, apps) = seen.json(service.call("GET", "/v1/apps", Some(ADMIN_KEY), None));
    assert_eq!(status, 200, "{apps}");
    let app = apps
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["connector"] == "constant-contact"))
        .expect("the Constant Contact app");
    assert_eq!(app["settings"]["client_secret"], json!({"set": true}));
    assert_eq!(app["settings"]["client_id"], "sandbox-client");
    let callback = format!("{}/connector/callback", service.base_url);
    assert_eq!(app["callback_url"], callback.as_str());
    assert_eq!(app["settings"]["redirect_uri"], callback.as_str());

    let alpha = create_tenant(&service, &mut seen, "alpha");
    let beta = create_tenant(&service, &mut seen, "beta");
    for (tenant, key) in [("alpha", &alpha), ("beta", &beta)] {
        let url = start_install(&service, &mut seen, tenant, key, "cc");
        let page = finish(&service, &mut seen, &url);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Constant Contact connected"),
            "{}",
            page.body
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    }
    assert_eq!(runner_connections(&state), ["alpha/cc", "beta/cc"]);
    let tokens = chaos::stored_tokens(&state);
    assert_eq!(tokens.len(), 4, "an access and a refresh token per tenant");
    secrets.extend(tokens);

    // Each lists only its own connection, without secrets.
    for (tenant, key) in [("alpha", &alpha), ("beta", &beta)] {
        let (status, listing) = seen.json(service.call(
            "GET",
            &format!("/v1/tenants/{tenant}/connections"),
            Some(key),
            None,
        ));
        assert_eq!(status, 200, "{listing}");
        assert_eq!(names(&listing), ["cc"], "{tenant}: {listing}");
        let connection = &listing[0];
        assert_eq!(connection["connector"], "constant-contact");
        assert_eq!(connection["tokens"]["present"], true);
        assert!(connection["tokens"]["expires_at"].as_i64().is_some());
        assert!(
            connection["endpoints"]["base_url"]
                .as_str()
                .is_some_and(|url| url.starts_with("http://127.0.0.1:")),
            "the sandbox's endpoints: {connection}"
        );
        let (status, one) = seen.json(service.call(
            "GET",
            &format!("/v1/tenants/{tenant}/connections/cc"),
            Some(key),
            None,
        ));
        assert_eq!((status, &one), (200, connection));
    }

    // Every connection route with the other tenant's key: 404, as if nothing existed.
    for (own_key, other) in [(&alpha, "beta"), (&beta, "alpha")] {
        let key = Some(own_key.as_str());
        let base = format!("/v1/tenants/{other}");
        let attempts: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("{base}/connections"), None),
            ("GET", format!("{base}/connections/cc"), None),
            ("POST", format!("{base}/connections/cc/test"), None),
            ("DELETE", format!("{base}/connections/cc"), None),
            (
                "POST",
                format!("{base}/connections"),
                Some(json!({"connector": "constant-contact", "name": "mine"})),
            ),
            (
                "POST",
                format!("{base}/connect-links"),
                Some(json!({"connector": "constant-contact", "name": "mine"})),
            ),
        ];
        for (method, path, body) in attempts {
            let (status, answer) = seen.json(match &body {
                Some(body) => service.json(method, &path, key, body),
                None => service.call(method, &path, key, None),
            });
            assert_eq!(status, 404, "{method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "not_found");
        }
        // The other tenant's runner name smuggled into one's own tenant: not a connection name.
        let own = if other == "alpha" { "beta" } else { "alpha" };
        for path in [
            format!("/v1/tenants/{own}/connections/{other}%2Fcc"),
            format!("/v1/tenants/{own}/connections/..%2F{other}%2Fcc"),
        ] {
            let (status, answer) = seen.json(service.call("GET", &path, key, None));
            assert_eq!(status, 404, "GET {path}: {answer}");
        }
    }
    // A tenant key cannot read or change apps.
    assert_eq!(
        seen.json(service.call("GET", "/v1/apps", Some(alpha.as_str()), None))
            .0,
        403
    );
    assert_eq!(
        seen.json(service.json(
            "PUT",
            "/v1/apps/constant-contact",
            Some(alpha.as_str()),
            &json!({"client_id": "mine"})
        ))
        .0,
        403
    );
    // Nothing above changed anything.
    assert_eq!(runner_connections(&state), ["alpha/cc", "beta/cc"]);

    // The test refreshes the tokens with the provider: the grant works.
    let (status, tested) = seen.json(service.call(
        "POST",
        "/v1/tenants/alpha/connections/cc/test",
        Some(&alpha),
        None,
    ));
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["check"], "token_refresh");
    let rotated = chaos::stored_tokens(&state);
    assert!(
        rotated.iter().any(|token| !secrets.contains(token)),
        "the refresh stored new tokens"
    );
    secrets.extend(rotated);

    // Deleting a tenant removes its connections and tokens from the runner's store.
    assert_eq!(
        seen.json(service.call("DELETE", "/v1/tenants/beta", Some(ADMIN_KEY), None))
            .0,
        204
    );
    assert_eq!(runner_connections(&state), ["alpha/cc"]);
    assert_eq!(
        chaos::stored_tokens(&state).len(),
        2,
        "alpha's access and refresh token"
    );

    // A tenant's own delete removes its connection.
    assert_eq!(
        seen.json(service.call(
            "DELETE",
            "/v1/tenants/alpha/connections/cc",
            Some(&alpha),
            None
        ))
        .0,
        204
    );
    assert!(runner_connections(&state).is_empty());
    assert!(chaos::stored_tokens(&state).is_empty());
    assert_eq!(
        seen.json(service.call(
            "GET",
            "/v1/tenants/alpha/connections/cc",
            Some(&alpha),
            None
        ))
        .0,
        404
    );

    // The log is captured (so the search above means something) and tells the story.
    let log = service.stderr();
    assert!(
        log.contains("install started") && log.contains("connected"),
        "{log}"
    );
    assert_no_secret_leaked(&service, &state, &seen, &secrets);
}

#[test]
fn forged_replayed_crossed_and_refused_callbacks_change_nothing() {
    let dir = temp_dir("service-install-refusals");
    let state = dir.join("state.db");
    let service = ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &[]);
    let mut seen = Seen::default();
    let mut secrets = BTreeSet::from([SandboxConfig::default().client.client_secret]);
    let alpha = create_tenant(&service, &mut seen, "alpha");
    let beta = create_tenant(&service, &mut seen, "beta");

    let refused = |seen: &mut Seen, path_or_url: &str| -> RawResponse {
        let url = if path_or_url.starts_with("http://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", service.base_url)
        };
        let page = seen.raw(service.browse("GET", &url, None));
        assert_eq!(page.status, 400, "{url}: {}", page.body);
        assert!(
            page.body.contains("Connection not completed"),
            "{}",
            page.body
        );
        page
    };

    // Forged and missing states.
    let url = start_install(&service, &mut seen, "alpha", &alpha, "cc");
    let real_state = query_param(&url, "state");
    refused(&mut seen, "/connector/callback?code=abc&state=forged-state");
    refused(&mut seen, "/connector/callback?code=abc");
    refused(&mut seen, "/connector/callback?code=abc&state=");
    assert!(runner_connections(&state).is_empty());

    // A provider error is shown (escaped), and the state is spent.
    let page = refused(
        &mut seen,
        &format!(
            "/connector/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={real_state}"
        ),
    );
    assert!(page.body.contains("access_denied"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;"), "{}", page.body);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(runner_connections(&state).is_empty());
    // The sandbox's redirect for that spent state is refused too.
    let callback = consent(&service, &mut seen, &url);
    refused(&mut seen, &callback);
    assert!(runner_connections(&state).is_empty());

    // Replayed: a finished install's callback, visited again, is refused and changes nothing.
    let url = start_install(&service, &mut seen, "alpha", &alpha, "cc");
    let callback = consent(&service, &mut seen, &url);
    let page = seen.raw(service.browse("GET", &callback, None));
    assert_eq!(page.status, 200, "{}", page.body);
    let before = chaos::stored_tokens(&state);
    secrets.extend(before.iter().cloned());
    let page = refused(&mut seen, &callback);
    assert!(page.body.contains("already used"), "{}", page.body);
    assert_eq!(runner_connections(&state), ["alpha/cc"]);
    assert_eq!(
        chaos::stored_tokens(&state),
        before,
        "the tokens are unchanged"
    );

    // Crossed: beta's code with alpha's state. The code was issued for beta's PKCE challenge,
    // so alpha's verifier cannot redeem it: refused, and neither tenant gains a connection.
    let alpha_url = start_install(&service, &mut seen, "alpha", &alpha, "second");
    let beta_url = start_install(&service, &mut seen, "beta", &beta, "cc");
    let beta_callback = consent(&service, &mut seen, &beta_url);
    let crossed = format!(
        "/connector/callback?code={}&state={}",
        query_param(&beta_callback, "code"),
        query_param(&alpha_url, "state")
    );
    refused(&mut seen, &crossed);
    // …and alpha's state, now spent, cannot be used with alpha's own code either.
    let alpha_callback = consent(&service, &mut seen, &alpha_url);
    refused(&mut seen, &alpha_callback);
    assert_eq!(runner_connections(&state), ["alpha/cc"]);
    let (_, beta_list) =
        seen.json(service.call("GET", "/v1/tenants/beta/connections", Some(&beta), None));
    assert_eq!(beta_list, json!([]));

    // A state bound to a deleted tenant is gone with it.
    let beta_url = start_install(&service, &mut seen, "beta", &beta, "late");
    assert_eq!(
        service
            .call("DELETE", "/v1/tenants/beta", Some(ADMIN_KEY), None)
            .0,
        204
    );
    let callback = consent(&service, &mut seen, &beta_url);
    refused(&mut seen, &callback);
    assert_eq!(runner_connections(&state), ["alpha/cc"]);

    // Refusals are logged without the state values.
    let log = service.stderr();
    assert!(log.contains("refused a callback"), "{log}");
    assert!(!log.contains(&real_state), "the state is not logged");
    assert_no_secret_leaked(&service, &state, &seen, &secrets);
}

#[test]
fn an_expired_state_and_an_expired_connect_link_are_refused() {
    let dir = temp_dir("service-install-expiry");
    let state = dir.join("state.db");
    let service =
        ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &["--install-expiry", "1s"]);
    let mut seen = Seen::default();
    let alpha = create_tenant(&service, &mut seen, "alpha");
    let url = start_install(&service, &mut seen, "alpha", &alpha, "cc");
    let (status, link) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connect-links",
        Some(&alpha),
        &json!({"connector": "constant-contact", "name": "viapage"}),
    ));
    assert_eq!(status, 201, "{link}");
    std::thread::sleep(std::time::Duration::from_millis(2200));

    let callback = consent(&service, &mut seen, &url);
    let page = seen.raw(service.browse("GET", &callback, None));
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("expired"), "{}", page.body);

    let link_url = link["url"].as_str().expect("a URL");
    for method in ["GET", "POST"] {
        let page = seen.raw(service.browse(method, link_url, None));
        assert_eq!(page.status, 404, "{method}: {}", page.body);
        assert!(page.body.contains("not valid"), "{}", page.body);
    }
    assert!(runner_connections(&state).is_empty());
}

#[test]
fn a_connect_link_page_installs_over_plain_http_once() {
    let dir = temp_dir("service-install-connect-page");
    let state = dir.join("state.db");
    let service = ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &[]);
    let mut seen = Seen::default();
    let alpha = create_tenant(&service, &mut seen, "alpha");

    let (status, link) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connect-links",
        Some(&alpha),
        &json!({"connector": "constant-contact", "name": "newsletter"}),
    ));
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().expect("a URL").to_owned();
    assert!(
        url.starts_with(&format!("{}/connect/pbc_", service.base_url)),
        "{url}"
    );
    assert!(link["expires_at"].as_i64().is_some());

    // Showing the page (twice: a link preview must not spend it) changes nothing.
    for _ in 0..2 {
        let page = seen.raw(service.browse("GET", &url, None));
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("Connect Constant Contact"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<form id=\"connect\" method=\"post\""));
        assert!(page.body.contains("newsletter"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert!(
            page.header("content-security-policy")
                .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
            "{page:?}"
        );
    }
    let script = seen.raw(service.page("GET", "/assets/connect.js"));
    assert_eq!(script.status, 200);
    assert!(script.body.contains("addEventListener"));

    // The button posts the form: the link is spent and the browser goes to the provider.
    let started = seen.raw(service.browse("POST", &url, None));
    assert_eq!(started.status, 303, "{}", started.body);
    let authorization_url = started.header("location").expect("a redirect").to_owned();
    assert!(authorization_url.contains("code_challenge_method=S256"));
    let page = finish(&service, &mut seen, &authorization_url);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Constant Contact connected"),
        "{}",
        page.body
    );
    assert_eq!(runner_connections(&state), ["alpha/newsletter"]);

    // Used once: the page and the button now say the link is not valid.
    for method in ["GET", "POST"] {
        let page = seen.raw(service.browse(method, &url, None));
        assert_eq!(page.status, 404, "{method}: {}", page.body);
    }
    // A forged link token.
    let forged = seen.raw(service.page("GET", "/connect/pbc_0000"));
    assert_eq!(forged.status, 404);

    // Bad link requests.
    for (body, code) in [
        (
            json!({"connector": "nope", "name": "x"}),
            "unknown_connector",
        ),
        (
            json!({"connector": "constant-contact", "name": "a/b"}),
            "invalid_name",
        ),
    ] {
        let (status, answer) = seen.json(service.json(
            "POST",
            "/v1/tenants/alpha/connect-links",
            Some(&alpha),
            &body,
        ));
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], code);
    }

    let mut secrets = BTreeSet::from([SandboxConfig::default().client.client_secret]);
    secrets.extend(chaos::stored_tokens(&state));
    assert_no_secret_leaked(&service, &state, &seen, &secrets);
}

#[test]
fn api_key_connections_are_stored_directly_and_shown_masked() {
    let dir = temp_dir("service-install-api-key");
    let state = dir.join("state.db");
    let service = ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &[]);
    let mut seen = Seen::default();
    let alpha = create_tenant(&service, &mut seen, "alpha");
    let api_key = "sk-live-5f1d0c9e7b2a44d6a8e3";
    let key = Some(alpha.as_str());

    let (status, body) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connections",
        key,
        &json!({"connector": "http", "name": "crm", "settings": {
            "base_url": "http://127.0.0.1:9/api", "auth_type": "bearer", "api_key": api_key
        }}),
    ));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "installed");
    let connection = &body["connection"];
    assert_eq!(connection["name"], "crm");
    assert_eq!(connection["settings"]["api_key"], json!({"set": true}));
    assert_eq!(connection["settings"]["auth_type"], "bearer");
    assert_eq!(connection["tokens"]["present"], false);
    assert_eq!(runner_connections(&state), ["alpha/crm"]);

    let (status, tested) =
        seen.json(service.call("POST", "/v1/tenants/alpha/connections/crm/test", key, None));
    assert_eq!(status, 200, "{tested}");
    assert_eq!(
        tested,
        json!({"ok": true, "check": "settings", "expires_at": null})
    );

    // Invalid settings: every problem by pointer, without the values.
    let (status, body) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connections",
        key,
        &json!({"connector": "http", "name": "bad", "settings": {
            "auth_type": "bearer", "api_key": api_key, "colour": "blue"
        }}),
    ));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_settings");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("/base_url") && message.contains("/colour"),
        "{message}"
    );
    let (status, body) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connections",
        key,
        &json!({"connector": "nope", "name": "x"}),
    ));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (422, json!("unknown_connector"))
    );
    let (status, body) = seen.json(service.json(
        "POST",
        "/v1/tenants/alpha/connections",
        key,
        &json!({"connector": "http", "name": "x", "extra": 1}),
    ));
    assert_eq!(status, 422, "{body}");
    assert_eq!(runner_connections(&state), ["alpha/crm"]);

    let secrets = BTreeSet::from([
        api_key.to_owned(),
        SandboxConfig::default().client.client_secret,
    ]);
    assert_no_secret_leaked(&service, &state, &seen, &secrets);
}

#[test]
fn apps_are_set_by_the_admin_validated_and_shown_without_secrets() {
    let dir = temp_dir("service-apps");
    let state = dir.join("state.db");
    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    let admin = Some(ADMIN_KEY);
    let secret = "cc-app-secret-9a8b7c6d5e4f";

    let (status, body) = service.json(
        "PUT",
        "/v1/apps/constant-contact",
        admin,
        &json!({"client_id": "my-app", "client_secret": secret}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["client_id"], "my-app");
    assert_eq!(body["settings"]["client_secret"], json!({"set": true}));
    // The redirect URI defaults to the hosted callback.
    assert_eq!(
        body["settings"]["redirect_uri"],
        "http://127.0.0.1:9/connector/callback"
    );
    let (status, shown) = service.call("GET", "/v1/apps/constant-contact", admin, None);
    assert_eq!((status, &shown), (200, &body));
    let (status, all) = service.call("GET", "/v1/apps", admin, None);
    assert_eq!((status, all), (200, json!([body])));

    // Unknown and connection-level fields, and invalid values, are refused; nothing changes.
    for (bad, pointer) in [
        (json!({"client_id": "x", "colour": 1}), "/colour"),
        (json!({"client_id": 314159265}), "/client_id"),
    ] {
        let (status, answer) = service.json("PUT", "/v1/apps/constant-contact", admin, &bad);
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_settings");
        let message = answer["error"]["message"].as_str().expect("a message");
        assert!(message.contains(pointer), "{message}");
        assert!(
            !message.contains("314159265"),
            "no value is echoed: {message}"
        );
    }
    let (status, answer) = service.json(
        "PUT",
        "/v1/apps/http",
        admin,
        &json!({"base_url": "http://127.0.0.1:9"}),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connection-level")),
        "{answer}"
    );
    assert_eq!(
        service
            .call("GET", "/v1/apps/constant-contact", admin, None)
            .1,
        body
    );
    assert_eq!(service.call("GET", "/v1/apps/nope", admin, None).0, 404);
    assert_eq!(
        service.json("PUT", "/v1/apps/nope", admin, &json!({})).0,
        404
    );
    assert_eq!(service.call("GET", "/v1/apps", None, None).0, 401);
    drop(service);

    let store = std::fs::read(ServiceProcess::store_file(&state)).expect("the store");
    assert!(
        !String::from_utf8_lossy(&store).contains(secret),
        "the app's secret is in the runner's state, not the service's store"
    );
}

#[test]
fn a_tenant_holds_at_most_100_unfinished_installs_and_links() {
    let dir = temp_dir("service-install-cap");
    let state = dir.join("state.db");
    let service = ServiceProcess::start_sandbox(&state, Some(ADMIN_KEY), &[]);
    let mut seen = Seen::default();
    let alpha = create_tenant(&service, &mut seen, "alpha");
    let beta = create_tenant(&service, &mut seen, "beta");
    let link = json!({"connector": "constant-contact", "name": "cc"});
    for index in 0..100 {
        if index % 2 == 0 {
            start_install(&service, &mut seen, "alpha", &alpha, "cc");
        } else {
            let (status, body) = service.json(
                "POST",
                "/v1/tenants/alpha/connect-links",
                Some(alpha.as_str()),
                &link,
            );
            assert_eq!(status, 201, "{index}: {body}");
        }
    }
    for path in ["connections", "connect-links"] {
        let (status, body) = service.json(
            "POST",
            &format!("/v1/tenants/alpha/{path}"),
            Some(alpha.as_str()),
            &link,
        );
        assert_eq!(status, 429, "{path}: {body}");
        assert_eq!(body["error"]["code"], "too_many_pending_installs");
    }
    // Another tenant is not affected.
    start_install(&service, &mut seen, "beta", &beta, "cc");
}
