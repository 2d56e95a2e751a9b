//! A generic HTTP connector: call any REST endpoint.
//!
//! Every connection names its own API: the base URL, the auth scheme (none, an API key in a
//! header or query parameter, a bearer token or HTTP Basic), and optionally a per-second rate
//! limit. The connector needs nothing from the host that a third connector would not also need:
//! the base URL is the template `{base_url}` ([`plugboard_core::manifest::expand_base_url`]), the
//! scheme is an [`AuthSpec::Selected`] on the `auth_type` setting, and the rate limit is a setting
//! marked with [`plugboard_core::rate_limit::per_second_setting`]. As for every connector, the host
//! injects the credentials (the connector never sees `api_key` or `password`) and keeps every
//! request inside the connection's base URL.
//!
//! Methods: `http.request` (one call) and `http.list` (a paginated collection, streamed as
//! records: RFC 8288 `Link` headers, a cursor in the body, page numbers or offsets).
//!
//! Linking this crate registers the connector as a built-in; `plugin/` beside it builds the same
//! connector as a plugin library.

mod methods;
pub mod settings;

use std::collections::BTreeMap;

use plugboard_core::{
    ApiKeyAuth, ApiKeyPlacement, AuthSpec, BasicAuth, ConnectorDefinition, MethodSet, SelectedAuth,
};

pub use methods::list::{ListInput, ListSummary, Pagination};
pub use methods::request::{RequestInput, RequestOutput};
pub use settings::{AuthType, Settings};

/// The connector's id, as workflows name it.
pub const ID: &str = "http";
/// The header an `api_key_header` connection uses unless `api_key_name` names another.
pub const DEFAULT_KEY_HEADER: &str = "X-API-Key";
/// The query parameter an `api_key_query` connection uses unless `api_key_name` names another.
pub const DEFAULT_KEY_PARAM: &str = "api_key";

/// The generic HTTP connector.
pub struct HttpApi;

impl ConnectorDefinition for HttpApi {
    type Settings = Settings;
    const ID: &'static str = ID;
    const NAME: &'static str = "HTTP (any REST API)";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Calls any JSON REST API: one request, or a paginated \
        collection streamed as records, with the base URL, auth scheme and rate limit set per \
        connection.";
    /// Filled per connection from the `base_url` setting; requests cannot leave it.
    const BASE_URL: &'static str = "{base_url}";

    fn auth() -> AuthSpec {
        let api_key = |placement| {
            AuthSpec::ApiKey(ApiKeyAuth {
                key_setting: "api_key".to_owned(),
                placement,
                name_setting: Some("api_key_name".to_owned()),
            })
        };
        AuthSpec::Selected(SelectedAuth {
            field: "auth_type".to_owned(),
            options: BTreeMap::from([
                (AuthType::None.as_str().to_owned(), AuthSpec::None),
                (
                    AuthType::ApiKeyHeader.as_str().to_owned(),
                    api_key(ApiKeyPlacement::Header {
                        name: DEFAULT_KEY_HEADER.to_owned(),
                        prefix: String::new(),
                    }),
                ),
                (
                    AuthType::ApiKeyQuery.as_str().to_owned(),
                    api_key(ApiKeyPlacement::Query {
                        name: DEFAULT_KEY_PARAM.to_owned(),
                    }),
                ),
                (
                    AuthType::Bearer.as_str().to_owned(),
                    AuthSpec::ApiKey(ApiKeyAuth {
                        key_setting: "api_key".to_owned(),
                        placement: ApiKeyPlacement::Header {
                            name: "Authorization".to_owned(),
                            prefix: "Bearer ".to_owned(),
                        },
                        name_setting: None,
                    }),
                ),
                (
                    AuthType::Basic.as_str().to_owned(),
                    AuthSpec::Basic(BasicAuth {
                        username_setting: "username".to_owned(),
                        password_setting: "password".to_owned(),
                    }),
                ),
            ]),
            default: Some(AuthType::None.as_str().to_owned()),
        })
    }

    fn methods() -> MethodSet {
        MethodSet::new()
            .method::<methods::request::request>()
            .method::<methods::list::list>()
    }
}

plugboard_core::register_connector!(HttpApi);

#[cfg(test)]
mod tests {
    use plugboard_core::{Connector, DefinedConnector, LimitScope, Window, rate_limit};
    use serde_json::json;

    use super::*;

    #[test]
    fn every_auth_type_names_an_option_of_the_selection_and_secrets_are_marked() {
        let connector = DefinedConnector::new::<HttpApi>();
        let manifest = connector.manifest();
        for auth_type in [
            AuthType::None,
            AuthType::ApiKeyHeader,
            AuthType::ApiKeyQuery,
            AuthType::Bearer,
            AuthType::Basic,
        ] {
            let settings = json!({"auth_type": auth_type});
            let chosen = manifest
                .auth
                .resolve(settings.as_object().expect("an object"))
                .expect("every auth type is an option");
            assert!(!matches!(chosen, AuthSpec::Selected(_)));
        }
        let schema = &manifest.settings_schema;
        for secret in ["api_key", "password"] {
            assert!(
                plugboard_core::settings::is_secret(schema, secret),
                "{secret}"
            );
        }
        for visible in ["base_url", "auth_type", "api_key_name", "username"] {
            assert!(
                !plugboard_core::settings::is_secret(schema, visible),
                "{visible}"
            );
        }
        assert_eq!(manifest.base_url_settings(), ["base_url"]);
        assert!(
            manifest.rate_limits.is_empty(),
            "no limit unless a connection sets one"
        );
        let settings = json!({"requests_per_second": 7});
        let limits =
            rate_limit::limits_from_settings(schema, settings.as_object().expect("an object"));
        assert_eq!(limits.len(), 1);
        assert_eq!(
            (limits[0].limit, limits[0].window, &limits[0].scope),
            (7, Window::Second, &LimitScope::Connection)
        );
    }
}
