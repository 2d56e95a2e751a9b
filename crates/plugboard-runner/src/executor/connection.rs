//! One connection as the executor sends for it: [`ConnectionContext`] settles, once, what a
//! generic connector leaves to its connections (the auth scheme, the base URL, limits from
//! settings), and the advice that names the connection (`plugboard connect …` to reconnect).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use plugboard_core::{AuthSpec, ConnectorError, Manifest, RateLimit};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::ExecutorConfig;
use super::limits::{self, KeyedLimit};
use crate::store::{ConnectionRecord, Endpoints, RedactedKeys, SqliteStore};

/// Everything the executor needs to send requests for one connection.
///
/// Secret settings are held as `SecretString`s apart from the others, and `Debug` shows neither.
#[derive(Clone)]
pub struct ConnectionContext {
    pub(crate) name: String,
    pub(crate) connector_id: String,
    pub(crate) auth: AuthSpec,
    pub(crate) endpoints: Endpoints,
    pub(crate) base: Url,
    pub(crate) allowed_hosts: Vec<String>,
    /// The effective settings without the secret ones.
    pub(crate) settings: Map<String, Value>,
    /// The secret settings (client secret, API keys...).
    pub(crate) secrets: HashMap<String, SecretString>,
    pub(crate) limits: Vec<KeyedLimit>,
    pub(crate) token_limits: Vec<KeyedLimit>,
    /// The `plugboard connect` command that authorizes this connection again, with the state
    /// file and the endpoints it was made with (see [`reconnect_command`]).
    pub(crate) reconnect: String,
}

impl fmt::Debug for ConnectionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionContext")
            .field("name", &self.name)
            .field("connector_id", &self.connector_id)
            .field("endpoints", &self.endpoints)
            .field("settings", &RedactedKeys(&self.settings))
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The manifest's endpoints, before a connection's overrides. A base URL that is a `{field}`
/// template is returned as the template; [`ConnectionContext::new`] fills it from settings.
pub fn default_endpoints(manifest: &Manifest) -> Endpoints {
    endpoints_of(&manifest.auth, manifest.base_url.clone())
}

fn endpoints_of(auth: &AuthSpec, base_url: String) -> Endpoints {
    let (authorize_url, token_url) = match auth {
        AuthSpec::OAuth2AuthorizationCode(oauth) => (
            Some(oauth.authorize_url.clone()),
            Some(oauth.token_url.clone()),
        ),
        _ => (None, None),
    };
    Endpoints {
        base_url,
        authorize_url,
        token_url,
    }
}

/// The `plugboard connect` command that (re)authorizes connection `name` of `connector`, to be
/// followed literally: with the endpoints the connection was made with (`--base-url`,
/// `--authorize-url`, `--token-url`), so it does not fall back to the manifest's (the real API),
/// and with `--state FILE` when the store is not the default file, so it does not write there.
/// Every word is quoted for a POSIX shell where it needs to be.
pub fn reconnect_command(
    connector: &str,
    name: &str,
    endpoints: Option<&Endpoints>,
    state_file: Option<&Path>,
) -> String {
    let mut words = vec![
        "plugboard connect".to_owned(),
        shell_word(connector),
        "--name".to_owned(),
        shell_word(name),
    ];
    if let Some(own) = endpoints {
        words.push(format!("--base-url {}", shell_word(&own.base_url)));
        if let Some(url) = &own.authorize_url {
            words.push(format!("--authorize-url {}", shell_word(url)));
        }
        if let Some(url) = &own.token_url {
            words.push(format!("--token-url {}", shell_word(url)));
        }
    }
    if let Some(option) = state_option(state_file) {
        words.push(option);
    }
    words.join(" ")
}

/// `--state FILE` for advice naming a command, when `state_file` is known and not the default
/// (`None` otherwise). The file is made absolute, so the advice holds from any directory.
pub fn state_option(state_file: Option<&Path>) -> Option<String> {
    let file = state_file?;
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let file = absolute(file);
    let default = SqliteStore::default_path().map(|path| absolute(&path));
    (default.as_ref() != Some(&file))
        .then(|| format!("--state {}", shell_word(&file.to_string_lossy())))
}

/// `word` as one word of a POSIX shell: as it is when it holds nothing the shell would read
/// otherwise, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn unusable(record: &ConnectionRecord, reason: impl fmt::Display) -> ConnectorError {
    ConnectorError::InvalidInput {
        message: format!("connection `{}` is not usable: {reason}", record.name),
    }
}

/// The connection's base URL: its override, else the manifest's, with `{field}` placeholders
/// filled from the non-secret settings (a secret must never become part of a URL).
fn connection_base_url(
    manifest: &Manifest,
    record: &ConnectionRecord,
    visible: &Map<String, Value>,
) -> Result<String, ConnectorError> {
    if let Some(own) = &record.endpoints {
        return Ok(own.base_url.clone());
    }
    for field in manifest.base_url_settings() {
        if plugboard_core::settings::is_secret(&manifest.settings_schema, field) {
            return Err(unusable(
                record,
                format_args!("the base URL cannot be built from the secret setting `{field}`"),
            ));
        }
    }
    manifest
        .resolve_base_url(visible)
        .map_err(|e| unusable(record, e))
}

impl ConnectionContext {
    /// Builds the context of `record`, whose effective `settings` (secrets included) are already
    /// resolved; `config` decides which limits apply. Secret settings (per the manifest's schema)
    /// move into `SecretString`s here.
    pub fn new(
        manifest: &Manifest,
        record: &ConnectionRecord,
        settings: Map<String, Value>,
        config: &ExecutorConfig,
    ) -> Result<Self, ConnectorError> {
        // A per-connection choice of scheme is made once, here; the rest of the executor only
        // ever sees a concrete spec.
        let auth = manifest
            .auth
            .resolve(&settings)
            .map_err(|e| unusable(record, e))?
            .clone();
        if matches!(manifest.auth, AuthSpec::Selected(_)) {
            let missing: Vec<&str> = auth
                .required_settings()
                .into_iter()
                .filter(|field| {
                    settings.get(*field).is_none_or(|v| {
                        v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
                    })
                })
                .collect();
            if !missing.is_empty() {
                return Err(unusable(
                    record,
                    format_args!(
                        "the chosen auth scheme needs the settings {}",
                        missing
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let mut visible = Map::new();
        let mut secrets = HashMap::new();
        for (name, value) in &settings {
            if value.is_null() {
                // An optional setting left empty (a form's `null`) is no value, not the text
                // "null": a credential must never be made of it.
                continue;
            }
            if plugboard_core::settings::is_secret(&manifest.settings_schema, name) {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                secrets.insert(name.clone(), SecretString::from(text));
            } else {
                visible.insert(name.clone(), value.clone());
            }
        }
        let mut endpoints = endpoints_of(&auth, connection_base_url(manifest, record, &visible)?);
        if let Some(own) = &record.endpoints {
            if own.authorize_url.is_some() {
                endpoints.authorize_url.clone_from(&own.authorize_url);
            }
            if own.token_url.is_some() {
                endpoints.token_url.clone_from(&own.token_url);
            }
        }
        let base = Url::parse(&endpoints.base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
            .ok_or_else(|| ConnectorError::Denied {
                message: format!(
                    "the base URL of connection `{}` is not a valid http(s) URL",
                    record.name
                ),
            })?;
        let (limits, token_limits) = if config.limits_enabled {
            let mut declared = config
                .limit_overrides
                .get(&manifest.id)
                .unwrap_or(&manifest.rate_limits)
                .clone();
            // Limits a connection sets for itself (e.g. `requests_per_second`) add to the
            // declared ones.
            declared.extend(plugboard_core::rate_limit::limits_from_settings(
                &manifest.settings_schema,
                &settings,
            ));
            let token = match &auth {
                AuthSpec::OAuth2AuthorizationCode(oauth) => {
                    oauth.token_endpoint_limit.iter().cloned().collect()
                }
                _ => Vec::new(),
            };
            (
                limits::keyed(&manifest.id, "", &declared, &settings, &record.name),
                limits::keyed(&manifest.id, "token-", &token, &settings, &record.name),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Self {
            name: record.name.clone(),
            connector_id: manifest.id.clone(),
            auth,
            endpoints,
            base,
            allowed_hosts: manifest.allowed_hosts.clone(),
            settings: visible,
            secrets,
            limits,
            token_limits,
            reconnect: reconnect_command(
                &manifest.id,
                &record.name,
                record.endpoints.as_ref(),
                config.state_file.as_deref(),
            ),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The rate limits this connection's requests are kept under: the manifest's (or the
    /// configured overrides) plus any its settings set, e.g. `requests_per_second`.
    pub fn rate_limits(&self) -> Vec<&RateLimit> {
        self.limits.iter().map(|l| &l.limit).collect()
    }

    /// The concrete auth scheme this connection uses (a selection already resolved).
    pub fn auth(&self) -> &AuthSpec {
        &self.auth
    }

    /// The `plugboard connect` command that authorizes this connection again, exactly as it must
    /// be typed: its state file and the endpoints it was made with included.
    pub fn reconnect_command(&self) -> &str {
        &self.reconnect
    }

    /// A settings value as text, secret or not (credentials are read this way).
    pub(crate) fn setting_str(&self, field: &str) -> Option<&str> {
        match self.secrets.get(field) {
            Some(secret) => Some(secret.expose_secret()),
            None => self.settings.get(field).and_then(Value::as_str),
        }
        .filter(|s| !s.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_advice_repeats_the_endpoints_and_a_state_file_that_is_not_the_default() {
        assert_eq!(
            reconnect_command("acme", "main", None, None),
            "plugboard connect acme --name main"
        );
        let own = Endpoints {
            base_url: "http://127.0.0.1:8080/v3".into(),
            authorize_url: Some("http://127.0.0.1:8080/authorize?tenant=a&b".into()),
            token_url: None,
        };
        let state = Path::new("/tmp/my state/state.db");
        assert_eq!(
            reconnect_command("acme", "it's", Some(&own), Some(state)),
            "plugboard connect acme --name 'it'\\''s' --base-url http://127.0.0.1:8080/v3 \
             --authorize-url 'http://127.0.0.1:8080/authorize?tenant=a&b' \
             --state '/tmp/my state/state.db'"
        );
        // The default file needs no `--state`: the command reaches it without.
        if let Some(default) = SqliteStore::default_path() {
            assert_eq!(state_option(Some(&default)), None);
        }
        assert_eq!(state_option(None), None);
    }
}
