//! `plugboard serve` through the real binary and HTTP: keys, tenant isolation, hardening.

use plugboard_tests::service::ServiceProcess;
use plugboard_tests::temp_dir;
use serde_json::json;

const ADMIN_KEY: &str = "admin-key-for-tests-0123456789abcdef";

/// Creates a tenant with the admin key and returns its key.
fn create_tenant(service: &ServiceProcess, id: &str) -> String {
    let (status, body) = service.json("POST", "/v1/tenants", Some(ADMIN_KEY), &json!({"id": id}));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tenant"]["id"], id);
    let key = body["api_key"].as_str().expect("a key").to_owned();
    assert!(key.starts_with("pbk_") && key.len() == 68, "{key}");
    key
}

#[test]
fn a_generated_admin_key_is_printed_once_stored_hashed_and_keeps_working() {
    let dir = temp_dir("service-admin-key");
    let state = dir.join("state.db");
    let first = ServiceProcess::start(&state, None);
    let key = first
        .printed_admin_key
        .clone()
        .expect("first start prints the admin key");
    let (status, body) = first.call("GET", "/v1/tenants", Some(&key), None);
    assert_eq!((status, body), (200, json!([])));
    drop(first);

    let store = ServiceProcess::store_file(&state);
    let bytes = std::fs::read(&store).expect("the store exists");
    assert!(
        !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
        "the admin key is stored only as a hash"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&store)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the store is private to its owner");
    }

    let second = ServiceProcess::start(&state, None);
    assert_eq!(second.printed_admin_key, None, "the key is shown only once");
    assert_eq!(second.call("GET", "/v1/tenants", Some(&key), None).0, 200);
    assert_eq!(
        second.call("GET", "/v1/tenants", Some("pbk_wrong"), None).0,
        401
    );
}

#[test]
fn the_admin_key_from_the_environment_replaces_a_generated_one() {
    let dir = temp_dir("service-env-key");
    let state = dir.join("state.db");
    let generated = ServiceProcess::start(&state, None)
        .printed_admin_key
        .clone()
        .expect("a generated key");
    let service = ServiceProcess::start(&state, Some(ADMIN_KEY));
    assert_eq!(service.printed_admin_key, None);
    assert_eq!(
        service.call("GET", "/v1/tenants", Some(ADMIN_KEY), None).0,
        200
    );
    assert_eq!(
        service.call("GET", "/v1/tenants", Some(&generated), None).0,
        401
    );
}

#[test]
fn a_tenant_key_sees_and_acts_on_its_own_tenant_only() {
    let dir = temp_dir("service-isolation");
    let service = ServiceProcess::start(&dir.join("state.db"), Some(ADMIN_KEY));
    let alpha = create_tenant(&service, "alpha");
    let beta = create_tenant(&service, "beta");

    for (own, own_key, other) in [("alpha", &alpha, "beta"), ("beta", &beta, "alpha")] {
        let key = Some(own_key.as_str());
        let (status, body) = service.call("GET", &format!("/v1/tenants/{own}"), key, None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], own);
        // Another tenant's routes answer exactly like a tenant that does not exist.
        for path in [
            format!("/v1/tenants/{other}"),
            "/v1/tenants/nobody".to_owned(),
        ] {
            let (status, body) = service.call("GET", &path, key, None);
            assert_eq!(status, 404, "{own} GET {path}: {body}");
            assert_eq!(body["error"]["code"], "not_found");
            assert_eq!(
                service.call("DELETE", &path, key, None).0,
                404,
                "{own} DELETE {path}"
            );
            assert_eq!(
                service.call("POST", &format!("{path}/keys"), key, None).0,
                404,
                "{own} POST {path}/keys"
            );
        }
        // Admin routes refuse a tenant key, even on its own tenant.
        assert_eq!(service.call("GET", "/v1/tenants", key, None).0, 403);
        let (status, _) = service.json("POST", "/v1/tenants", key, &json!({"id": "mallory"}));
        assert_eq!(status, 403);
        assert_eq!(
            service
                .call("DELETE", &format!("/v1/tenants/{own}"), key, None)
                .0,
            403
        );
        assert_eq!(
            service
                .call("POST", &format!("/v1/tenants/{own}/keys"), key, None)
                .0,
            403
        );
    }
    // Nothing above changed anything.
    let (status, tenants) = service.call("GET", "/v1/tenants", Some(ADMIN_KEY), None);
    assert_eq!(status, 200);
    let ids: Vec<_> = tenants
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, [json!("alpha"), json!("beta")]);

    // No key, a malformed header, an unknown key: 401 with a JSON error.
    for key in [None, Some(""), Some("pbk_0000")] {
        let (status, body) = service.call("GET", "/v1/tenants/alpha", key, None);
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // A second key for alpha works; deleting beta revokes beta's key and leaves alpha alone.
    let (status, body) = service.call("POST", "/v1/tenants/alpha/keys", Some(ADMIN_KEY), None);
    assert_eq!(status, 201, "{body}");
    let alpha_second = body["api_key"].as_str().expect("a key").to_owned();
    assert_eq!(
        service
            .call("GET", "/v1/tenants/alpha", Some(&alpha_second), None)
            .0,
        200
    );
    assert_eq!(
        service
            .call("DELETE", "/v1/tenants/beta", Some(ADMIN_KEY), None)
            .0,
        204
    );
    assert_eq!(
        service.call("GET", "/v1/tenants/beta", Some(&beta), None).0,
        401
    );
    assert_eq!(
        service
            .call("GET", "/v1/tenants/beta", Some(ADMIN_KEY), None)
            .0,
        404
    );
    assert_eq!(
        service
            .call("GET", "/v1/tenants/alpha", Some(&alpha), None)
            .0,
        200
    );
}

#[test]
fn bad_requests_get_a_json_4xx_with_the_reason() {
    let dir = temp_dir("service-hardening");
    let service = ServiceProcess::start(&dir.join("state.db"), Some(ADMIN_KEY));
    let admin = Some(ADMIN_KEY);

    let (status, body) = service.call("POST", "/v1/tenants", admin, Some(b"{\"id\":".to_vec()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_json");

    let (status, body) = service.json(
        "POST",
        "/v1/tenants",
        admin,
        &json!({"id": "a", "extra": 1}),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("a message")
            .contains("unknown field `extra`")
    );

    let oversized = format!("{{\"id\":\"{}\"}}", "a".repeat(2 * 1024 * 1024)).into_bytes();
    let (status, body) = service.call("POST", "/v1/tenants", admin, Some(oversized));
    assert_eq!(status, 413, "{body}");
    assert!(
        body.to_string().len() < 500,
        "the error does not echo the body"
    );

    for bad_id in ["", "has space", "x/y", &"z".repeat(65)] {
        let (status, body) = service.json("POST", "/v1/tenants", admin, &json!({"id": bad_id}));
        assert_eq!(status, 422, "{bad_id:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_tenant_id");
    }

    create_tenant(&service, "dup");
    let (status, body) = service.json("POST", "/v1/tenants", admin, &json!({"id": "dup"}));
    assert_eq!(status, 409, "{body}");

    let (status, body) = service.call("GET", "/v1/nothing-here", admin, None);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    // Nothing above created a tenant besides `dup`.
    let (_, tenants) = service.call("GET", "/v1/tenants", admin, None);
    assert_eq!(tenants.as_array().map(Vec::len), Some(1), "{tenants}");
}
