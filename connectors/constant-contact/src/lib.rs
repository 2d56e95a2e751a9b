//! The Constant Contact API v3 connector.
//!
//! Ground truth for paths, fields and errors is Constant Contact's own OpenAPI contract (v3, build
//! 3.0.178). The connector only shapes requests and responses; the host runs the OAuth2 flow with
//! rotating refresh tokens and keeps every call within the per-application limits declared here.
//!
//! Linking this crate registers the connector as a built-in; `plugin/` beside it builds the same
//! connector as a plugin library.

mod api;
pub mod coverage;
mod methods;
pub mod settings;
mod timestamp;

use plugboard_core::{
    AuthSpec, ClientAuth, ConnectorDefinition, LimitScope, MethodSet, OAuth2AuthorizationCode,
    OAuth2SettingsFields, RateLimit, RefreshBehaviour, ResetRule, Window,
};

pub use methods::bulk::{FINAL_STATES, MAX_CONTACTS_PER_IMPORT, MAX_IMPORT_BODY_BYTES};
pub use settings::Settings;

/// The API root; `_links.next.href` values are relative to its host and start with [`BASE_PATH`].
pub const BASE_URL: &str = "https://api.cc.email/v3";
/// The path prefix of [`BASE_URL`].
pub const BASE_PATH: &str = "/v3";
/// Where users grant access.
pub const AUTHORIZE_URL: &str = "https://authz.constantcontact.com/oauth2/default/v1/authorize";
/// Where codes and refresh tokens are exchanged.
pub const TOKEN_URL: &str = "https://authz.constantcontact.com/oauth2/default/v1/token";
/// Scopes requested by default; `offline_access` is what makes the server issue a refresh token.
pub const DEFAULT_SCOPES: [&str; 5] = [
    "account_read",
    "account_update",
    "contact_data",
    "campaign_data",
    "offline_access",
];

/// The Constant Contact v3 connector.
pub struct ConstantContact;

impl ConnectorDefinition for ConstantContact {
    type Settings = Settings;
    const ID: &'static str = "constant-contact";
    const NAME: &'static str = "Constant Contact (v3)";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Email marketing: contacts, lists, tags, custom fields, \
        segments, bulk activities and email campaigns through the Constant Contact API v3.";
    const BASE_URL: &'static str = BASE_URL;
    /// One request with the `account_read` scope every install asks for.
    const CHECK: Option<&'static str> = Some("account.get_summary");

    fn auth() -> AuthSpec {
        AuthSpec::OAuth2AuthorizationCode(OAuth2AuthorizationCode {
            authorize_url: AUTHORIZE_URL.to_owned(),
            token_url: TOKEN_URL.to_owned(),
            default_scopes: DEFAULT_SCOPES.map(str::to_owned).to_vec(),
            pkce: true,
            client_auth: ClientAuth::Basic,
            refresh: RefreshBehaviour::Rotating,
            access_token_lifetime_secs: Some(24 * 60 * 60),
            token_endpoint_limit: Some(RateLimit {
                limit: 1,
                window: Window::Second,
                scope: LimitScope::Setting {
                    field: "client_id".to_owned(),
                },
                reset: ResetRule::Rolling,
            }),
            settings: OAuth2SettingsFields {
                client_id: "client_id".to_owned(),
                client_secret: "client_secret".to_owned(),
                redirect_uri: "redirect_uri".to_owned(),
                scopes: Some("scopes".to_owned()),
            },
        })
    }

    /// Limits are per application key (client_id), shared by every connection of that key.
    fn rate_limits() -> Vec<RateLimit> {
        vec![
            RateLimit::per_second_by_setting(4, "client_id"),
            RateLimit {
                limit: 10_000,
                window: Window::Day,
                scope: LimitScope::Setting {
                    field: "client_id".to_owned(),
                },
                reset: ResetRule::CalendarUtc,
            },
        ]
    }

    fn methods() -> MethodSet {
        methods::all()
    }
}

plugboard_core::register_connector!(ConstantContact);
