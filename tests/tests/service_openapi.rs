//! The OpenAPI document of `plugboard serve`, through the real binary: it is the checked-in file,
//! every route it lists exists, and what the service answers fits the schemas it gives.

use plugboard_tests::service::ServiceProcess;
use plugboard_tests::service_runs::{
    ADMIN_KEY, LocalApi, deploy, ended, fetch_items, service_with_tenants, wait_for,
};
use plugboard_tests::{temp_dir, workspace_root};
use serde_json::{Value, json};

/// The document as `GET /v1/openapi.json` serves it, without a key.
fn served_document(service: &ServiceProcess) -> Value {
    let (status, document) = service.call("GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200, "{document}");
    document
}

/// The schema the document gives for the JSON body of `method path` answering `status`, made
/// standalone: its `$ref`s into `#/components/schemas` resolve against the document's.
fn response_schema(document: &Value, path: &str, method: &str, status: u16) -> Value {
    let schema = &document["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(
        schema.is_object(),
        "the document gives no JSON schema for {method} {path} → {status}"
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": document["components"],
    })
}

/// Asserts that `body`, answered by `method path` with `status`, fits the document.
fn assert_fits(document: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let schema = response_schema(document, path, method, status);
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("the schema of {method} {path} → {status} compiles: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} → {status} does not fit the document: {errors:?}\nbody: {body}"
    );
}

#[test]
fn the_served_document_is_the_checked_in_one() {
    let dir = temp_dir("service-openapi-file");
    let service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
    let served = served_document(&service);
    let path = workspace_root().join("schemas/service.openapi.json");
    let text = std::fs::read_to_string(&path).expect("schemas/service.openapi.json exists");
    let checked_in: Value = serde_json::from_str(&text).expect("the checked-in file is JSON");
    assert_eq!(
        served,
        checked_in,
        "GET /v1/openapi.json differs from {}: run `cargo xtask schemas`",
        path.display()
    );
    assert_eq!(served["openapi"], "3.1.0");
    let schemes = &served["components"]["securitySchemes"];
    for scheme in ["admin_key", "tenant_key"] {
        assert_eq!(schemes[scheme]["scheme"], "bearer", "{schemes}");
    }
}

/// Every documented (path, method) reaches a handler: asked with a tenant, connector, run… that
/// does not exist, none answers 405 or the fallback's "no such route".
#[test]
fn every_documented_route_exists_in_the_running_service() {
    let dir = temp_dir("service-openapi-routes");
    let service = ServiceProcess::start_sandbox(&dir.join("state.db"), Some(ADMIN_KEY), &[]);
    let document = served_document(&service);
    let paths = document["paths"].as_object().expect("paths");
    let mut asked = 0;
    for (template, item) in paths {
        assert!(template.starts_with("/v1/"), "{template}");
        let path = template
            .replace("{tenant}", "no-such-tenant")
            .replace("{connector}", "no-such-connector")
            .replace("{name}", "no-such-name")
            .replace("{run}", "999999")
            .replace("{schedule}", "999999");
        assert!(!path.contains('{'), "an unknown parameter in {template}");
        for method in item.as_object().expect("a path item").keys() {
            let method = method.to_ascii_uppercase();
            let (status, body) =
                service.exchange(&method, &path, Some(ADMIN_KEY), Some(b"{}".to_vec()));
            assert_ne!(status, 405, "{method} {path}: {body}");
            assert!(
                !(status == 404 && body.contains("no such route")),
                "{method} {path} is documented but not routed: {body}"
            );
            asked += 1;
        }
    }
    // Tenants, apps, connections, workflows, runs, schedules, links and the document itself.
    assert!(asked >= 30, "only {asked} documented operations");
    // And the fallback does answer "no such route" for a route that is not there.
    let (status, body) = service.exchange("GET", "/v1/no-such-route", Some(ADMIN_KEY), None);
    assert_eq!(status, 404);
    assert!(body.contains("no such route"), "{body}");
}

#[test]
fn real_answers_fit_the_documented_schemas() {
    let api = LocalApi::start();
    let dir = temp_dir("service-openapi-answers");
    let (service, key_a, _) = service_with_tenants(&dir, &api);
    let document = served_document(&service);

    let (status, body) = service.json(
        "POST",
        "/v1/tenants",
        Some(ADMIN_KEY),
        &json!({"id": "tenant-c"}),
    );
    assert_eq!(status, 201, "{body}");
    assert_fits(&document, "/v1/tenants", "post", status, &body);

    let (status, body) = service.json(
        "POST",
        "/v1/tenants",
        Some(ADMIN_KEY),
        &json!({"id": "tenant-c"}),
    );
    assert_eq!(status, 409, "{body}");
    assert_fits(&document, "/v1/tenants", "post", status, &body);

    let (status, body) = service.call("GET", "/v1/tenants", Some("pbk_wrong"), None);
    assert_eq!(status, 401, "{body}");
    assert_fits(&document, "/v1/tenants", "get", status, &body);

    let connections = "/v1/tenants/{tenant}/connections";
    let (status, body) = service.call(
        "GET",
        "/v1/tenants/tenant-a/connections",
        Some(&key_a),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    assert_fits(&document, connections, "get", status, &body);
    let (status, body) = service.call(
        "GET",
        "/v1/tenants/tenant-a/connections/web",
        Some(&key_a),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_fits(
        &document,
        &format!("{connections}/{{name}}"),
        "get",
        status,
        &body,
    );

    // A redeploy (200) with its warnings; a broken workflow (422 with its problems).
    let (status, body) = deploy(&service, "fetch-items", &fetch_items());
    assert_eq!(status, 200, "{body}");
    assert_fits(&document, "/v1/workflows/{name}", "put", status, &body);
    let mut broken = fetch_items();
    broken["unknown_field"] = json!(true);
    let (status, body) = deploy(&service, "broken", &broken);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["problems"].as_array().is_some_and(|p| !p.is_empty()),
        "{body}"
    );
    assert_fits(&document, "/v1/workflows/{name}", "put", status, &body);
    let (status, body) = service.call("GET", "/v1/workflows/fetch-items", Some(&key_a), None);
    assert_eq!(status, 200, "{body}");
    assert_fits(&document, "/v1/workflows/{name}", "get", status, &body);

    // A run: started (202), refused for its inputs (422), shown, listed, unknown (404).
    let runs = "/v1/tenants/{tenant}/runs";
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/runs",
        Some(&key_a),
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}}),
    );
    assert_eq!(status, 202, "{body}");
    assert_fits(&document, runs, "post", status, &body);
    let run = body["id"].as_i64().expect("a run id");
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/runs",
        Some(&key_a),
        &json!({"workflow": "fetch-items", "inputs": {"items": []}}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_inputs", "{body}");
    assert_fits(&document, runs, "post", status, &body);

    let done = wait_for(&service, "tenant-a", &key_a, run, ended);
    assert_eq!(done["status"], "completed", "{done}");
    assert_fits(&document, &format!("{runs}/{{run}}"), "get", 200, &done);
    let (status, body) = service.call("GET", "/v1/tenants/tenant-a/runs", Some(&key_a), None);
    assert_eq!(status, 200, "{body}");
    assert_fits(&document, runs, "get", status, &body);
    let (status, body) = service.call(
        "GET",
        "/v1/tenants/tenant-a/runs/999999",
        Some(&key_a),
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert_fits(&document, &format!("{runs}/{{run}}"), "get", status, &body);

    // A body that is not `{resend, mark_done}` (422), and app settings over the body limit
    // (413): statuses the document must list.
    let (status, body) = service.call(
        "POST",
        &format!("/v1/tenants/tenant-a/runs/{run}/resume"),
        Some(&key_a),
        Some(b"not json".to_vec()),
    );
    assert_eq!(status, 422, "{body}");
    assert_fits(
        &document,
        &format!("{runs}/{{run}}/resume"),
        "post",
        status,
        &body,
    );
    let oversized = format!("{{\"client_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, body) = service.call(
        "PUT",
        "/v1/apps/constant-contact",
        Some(ADMIN_KEY),
        Some(oversized.into_bytes()),
    );
    assert_eq!(status, 413, "{body}");
    assert_fits(&document, "/v1/apps/{connector}", "put", status, &body);

    // A schedule, created paused and shown.
    let (status, body) = service.json(
        "POST",
        "/v1/tenants/tenant-a/schedules",
        Some(&key_a),
        &json!({"workflow": "fetch-items", "inputs": {"items": ["1"]}, "every_secs": 3600, "paused": true}),
    );
    assert_eq!(status, 201, "{body}");
    assert_fits(
        &document,
        "/v1/tenants/{tenant}/schedules",
        "post",
        status,
        &body,
    );
}

/// The check above is not vacuous: an answer that breaks the document is caught.
#[test]
fn an_answer_that_breaks_the_document_is_caught() {
    let text = std::fs::read_to_string(workspace_root().join("schemas/service.openapi.json"))
        .expect("schemas/service.openapi.json exists");
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let result = std::panic::catch_unwind(|| {
        assert_fits(
            &document,
            "/v1/tenants",
            "post",
            201,
            &json!({"tenant": {"id": "t"}, "api_key": 7}),
        );
    });
    assert!(result.is_err(), "a wrong body passed the check");
}
