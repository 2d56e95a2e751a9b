//! How a connector's API authenticates, declared as data so the host can do it.
//!
//! Connectors never see credentials (invariant 2); they declare the scheme here and the host runs
//! the OAuth2 flows, stores and refreshes tokens, and injects `Authorization` into every request.
//! Credentials that come from settings are named by their settings field, which ties the auth spec
//! to the settings schema and lets validation say which field is missing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::rate_limit::RateLimit;

/// The authentication scheme of a connector's API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSpec {
    /// OAuth2 authorization-code flow, run by the host.
    #[serde(rename = "oauth2_authorization_code")]
    OAuth2AuthorizationCode(OAuth2AuthorizationCode),
    /// A static API key sent with every request.
    ApiKey(ApiKeyAuth),
    /// HTTP Basic authentication with a user name and password from settings.
    Basic(BasicAuth),
    /// No authentication.
    None,
    /// One of several schemes, chosen per connection by the value of a settings field.
    ///
    /// A generic connector (any REST API) cannot know the scheme in advance; each connection
    /// picks it, e.g. `auth_type: "bearer"`. The host resolves the choice once per connection
    /// ([`AuthSpec::resolve`]) and then behaves exactly as if the chosen spec were declared.
    Selected(SelectedAuth),
}

/// A per-connection choice between auth schemes; see [`AuthSpec::Selected`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SelectedAuth {
    /// The settings field (not secret) whose value names the option, e.g. `auth_type`.
    pub field: String,
    /// The schemes by the field's value; an option may not itself be `selected`.
    pub options: BTreeMap<String, AuthSpec>,
    /// The option used when the field is absent or blank; without one, the field is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Why a connection's settings select no usable auth scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthSelectionError {
    /// The selecting field has no value and there is no default option.
    #[error("the setting `{field}` must choose the auth scheme (one of: {options})")]
    Missing {
        /// The selecting field.
        field: String,
        /// The valid values, comma-separated.
        options: String,
    },
    /// The selecting field's value names no option (the value is not repeated: it is a setting).
    #[error("the setting `{field}` names no known auth scheme (expected one of: {options})")]
    Unknown {
        /// The selecting field.
        field: String,
        /// The valid values, comma-separated.
        options: String,
    },
    /// An option is itself a selection, which the contract does not allow.
    #[error("the auth option `{option}` is itself a selection; options must be concrete schemes")]
    Nested {
        /// The offending option.
        option: String,
    },
}

/// The OAuth2 authorization-code flow as a specific API implements it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OAuth2AuthorizationCode {
    /// Where the user is sent to grant access.
    pub authorize_url: String,
    /// Where codes and refresh tokens are exchanged for tokens.
    pub token_url: String,
    /// Scopes requested when the settings do not name others.
    pub default_scopes: Vec<String>,
    /// Whether the API accepts PKCE (S256); the host then always uses it.
    pub pkce: bool,
    /// How the client proves its identity at the token endpoint.
    pub client_auth: ClientAuth,
    /// What a refresh does to the refresh token.
    pub refresh: RefreshBehaviour,
    /// Access-token lifetime when the token response has no `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_lifetime_secs: Option<u64>,
    /// The token endpoint's own rate limit, which the host must respect when refreshing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_limit: Option<RateLimit>,
    /// Which settings fields hold the client credentials, redirect URI and scopes.
    pub settings: OAuth2SettingsFields,
}

/// Names of the settings fields an OAuth2 flow reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OAuth2SettingsFields {
    /// The field holding the client id (the application's "API key").
    pub client_id: String,
    /// The field holding the client secret.
    pub client_secret: String,
    /// The field holding the redirect (callback) URI registered with the application.
    pub redirect_uri: String,
    /// The field holding space-separated scopes, if the scopes are configurable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

/// How an OAuth2 client authenticates at the token endpoint (RFC 6749 section 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `client_id` and `client_secret` as form fields in the request body.
    Body,
}

/// What the authorization server does with the refresh token on each refresh.
///
/// The difference decides how careful the host must be: a rotating token is single-use, so two
/// concurrent refreshes kill the connection unless they are serialized and the new token is stored
/// before it is used (invariant 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshBehaviour {
    /// Every refresh returns a new refresh token and invalidates the old one.
    Rotating,
    /// The same refresh token may be used again.
    Reusable,
}

/// A static API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyAuth {
    /// The settings field holding the key.
    pub key_setting: String,
    /// Where the key goes in each request.
    pub placement: ApiKeyPlacement,
    /// A settings field (not secret) whose value, when present and not blank, replaces the
    /// placement's header or query-parameter name, so each connection can name it (e.g.
    /// `X-Api-Key` for one API, `token` for another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_setting: Option<String>,
}

/// Where an API key is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum ApiKeyPlacement {
    /// In a header, optionally after a prefix such as `Bearer `.
    Header {
        /// The header name.
        name: String,
        /// Text put before the key, e.g. `Bearer `.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// As a query parameter.
    Query {
        /// The parameter name.
        name: String,
    },
}

/// HTTP Basic credentials taken from settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BasicAuth {
    /// The settings field holding the user name.
    pub username_setting: String,
    /// The settings field holding the password.
    pub password_setting: String,
}

impl AuthSpec {
    /// The settings fields this scheme reads, so validation can check they are present.
    pub fn required_settings(&self) -> Vec<&str> {
        match self {
            Self::OAuth2AuthorizationCode(oauth) => vec![
                oauth.settings.client_id.as_str(),
                oauth.settings.client_secret.as_str(),
                oauth.settings.redirect_uri.as_str(),
            ],
            Self::ApiKey(key) => vec![key.key_setting.as_str()],
            Self::Basic(basic) => vec![
                basic.username_setting.as_str(),
                basic.password_setting.as_str(),
            ],
            Self::None => Vec::new(),
            Self::Selected(selected) => vec![selected.field.as_str()],
        }
    }

    /// The concrete scheme for a connection with these (effective) settings: the spec itself,
    /// or for [`AuthSpec::Selected`] the option its field names. Pure, so the host and any tool
    /// agree on the choice.
    pub fn resolve(&self, settings: &Map<String, Value>) -> Result<&AuthSpec, AuthSelectionError> {
        let Self::Selected(selected) = self else {
            return Ok(self);
        };
        let options = || {
            selected
                .options
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = settings
            .get(&selected.field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .or(selected.default.as_deref())
            .ok_or_else(|| AuthSelectionError::Missing {
                field: selected.field.clone(),
                options: options(),
            })?;
        let (name, spec) =
            selected
                .options
                .get_key_value(chosen)
                .ok_or_else(|| AuthSelectionError::Unknown {
                    field: selected.field.clone(),
                    options: options(),
                })?;
        if matches!(spec, Self::Selected(_)) {
            return Err(AuthSelectionError::Nested {
                option: name.clone(),
            });
        }
        Ok(spec)
    }

    /// A short human description, for `plugboard describe`.
    pub fn summary(&self) -> String {
        match self {
            Self::OAuth2AuthorizationCode(oauth) => format!(
                "OAuth2 authorization code{}, client auth {}, {} refresh tokens",
                if oauth.pkce { " with PKCE (S256)" } else { "" },
                match oauth.client_auth {
                    ClientAuth::Basic => "HTTP Basic",
                    ClientAuth::Body => "in the body",
                },
                match oauth.refresh {
                    RefreshBehaviour::Rotating => "rotating",
                    RefreshBehaviour::Reusable => "reusable",
                },
            ),
            Self::ApiKey(key) => {
                let named = match &key.name_setting {
                    Some(field) => format!(" (or as `{field}` says)"),
                    None => String::new(),
                };
                match &key.placement {
                    ApiKeyPlacement::Header { name, prefix } if prefix.is_empty() => {
                        format!("API key in header `{name}`{named}")
                    }
                    ApiKeyPlacement::Header { name, prefix } => {
                        format!("API key in header `{name}` as `{prefix}<key>`{named}")
                    }
                    ApiKeyPlacement::Query { name } => {
                        format!("API key in query parameter `{name}`{named}")
                    }
                }
            }
            Self::Basic(_) => "HTTP Basic".to_owned(),
            Self::None => "none".to_owned(),
            Self::Selected(selected) => format!(
                "chosen per connection by `{}`: {}",
                selected.field,
                selected
                    .options
                    .iter()
                    .map(|(name, spec)| format!("{name} ({})", spec.summary()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn generic() -> AuthSpec {
        AuthSpec::Selected(SelectedAuth {
            field: "auth_type".into(),
            options: BTreeMap::from([
                ("none".to_owned(), AuthSpec::None),
                (
                    "bearer".to_owned(),
                    AuthSpec::ApiKey(ApiKeyAuth {
                        key_setting: "api_key".into(),
                        placement: ApiKeyPlacement::Header {
                            name: "Authorization".into(),
                            prefix: "Bearer ".into(),
                        },
                        name_setting: None,
                    }),
                ),
                (
                    "api_key_query".to_owned(),
                    AuthSpec::ApiKey(ApiKeyAuth {
                        key_setting: "api_key".into(),
                        placement: ApiKeyPlacement::Query {
                            name: "api_key".into(),
                        },
                        name_setting: Some("api_key_name".into()),
                    }),
                ),
            ]),
            default: Some("none".into()),
        })
    }

    fn settings(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn a_selected_spec_serializes_as_tagged_data_and_round_trips() {
        let spec = generic();
        let json = serde_json::to_value(&spec).expect("serializes");
        assert_eq!(json["type"], "selected");
        assert_eq!(json["field"], "auth_type");
        assert_eq!(json["options"]["bearer"]["placement"]["prefix"], "Bearer ");
        assert_eq!(
            json["options"]["api_key_query"]["name_setting"],
            "api_key_name"
        );
        assert!(
            json["options"]["bearer"].get("name_setting").is_none(),
            "an absent name setting is not serialized, so older manifests read the same"
        );
        let back: AuthSpec = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, spec);
    }

    #[test]
    fn an_api_key_without_a_name_setting_reads_as_before() {
        let old = json!({"type": "api_key", "key_setting": "k", "placement": {"in": "query", "name": "key"}});
        let spec: AuthSpec = serde_json::from_value(old.clone()).expect("old manifests still load");
        assert_eq!(serde_json::to_value(&spec).expect("serializes"), old);
    }

    #[test]
    fn the_selecting_field_picks_the_option_and_blank_falls_back_to_the_default() {
        let spec = generic();
        let bearer = spec
            .resolve(&settings(json!({"auth_type": "bearer"})))
            .expect("known option");
        assert!(matches!(bearer, AuthSpec::ApiKey(key) if key.key_setting == "api_key"));
        assert_eq!(spec.resolve(&settings(json!({}))), Ok(&AuthSpec::None));
        assert_eq!(
            spec.resolve(&settings(json!({"auth_type": "  "}))),
            Ok(&AuthSpec::None)
        );
        assert_eq!(AuthSpec::None.resolve(&Map::new()), Ok(&AuthSpec::None));
    }

    #[test]
    fn unknown_missing_and_nested_choices_are_errors_that_do_not_echo_the_value() {
        let spec = generic();
        let unknown = spec
            .resolve(&settings(json!({"auth_type": "hunter2"})))
            .expect_err("unknown option");
        assert!(matches!(unknown, AuthSelectionError::Unknown { .. }));
        assert!(!unknown.to_string().contains("hunter2"), "{unknown}");
        assert!(unknown.to_string().contains("api_key_query, bearer, none"));

        let AuthSpec::Selected(mut without_default) = generic() else {
            unreachable!("generic() is a selection")
        };
        without_default.default = None;
        without_default.options.insert("inner".into(), generic());
        let spec = AuthSpec::Selected(without_default);
        assert!(matches!(
            spec.resolve(&Map::new()),
            Err(AuthSelectionError::Missing { .. })
        ));
        assert!(matches!(
            spec.resolve(&settings(json!({"auth_type": "inner"}))),
            Err(AuthSelectionError::Nested { .. })
        ));
        assert_eq!(spec.required_settings(), vec!["auth_type"]);
        assert!(
            spec.summary()
                .starts_with("chosen per connection by `auth_type`")
        );
    }
}
