//! The credentials a request carries: read from the store (an OAuth2 token, refreshed before it
//! expires) or from the connection's secret settings (an API key, Basic), and how they are put
//! on the request. Only the host injects them (invariant 2).

use plugboard_core::{ApiKeyPlacement, AuthSpec, ConnectorError, HttpRequest, RequestAuth};
use secrecy::{ExposeSecret, SecretString};

use super::{ConnectionContext, Executor};
use crate::cancel::Cancellation;

impl Executor {
    /// The credentials to attach to `request`, refreshing an OAuth2 token that is about to expire.
    pub(super) async fn credentials(
        &self,
        ctx: &ConnectionContext,
        request: &HttpRequest,
        cancel: &Cancellation,
    ) -> Result<Credentials, ConnectorError> {
        if request.auth == RequestAuth::None {
            return Ok(Credentials::None);
        }
        match &ctx.auth {
            AuthSpec::None => Ok(Credentials::None),
            AuthSpec::OAuth2AuthorizationCode(_) => {
                let tokens = self.fresh_tokens(ctx, cancel).await?;
                Ok(Credentials::OAuthBearer {
                    version: tokens.version,
                    stored_at_ms: tokens.stored_at_ms,
                    token: tokens.tokens.access_token,
                })
            }
            AuthSpec::ApiKey(key) => {
                let value = ctx
                    .setting_str(&key.key_setting)
                    .ok_or_else(|| missing_credential(ctx, &key.key_setting))?;
                let chosen_name = key
                    .name_setting
                    .as_deref()
                    .and_then(|field| ctx.setting_str(field))
                    .map(str::trim);
                Ok(match &key.placement {
                    ApiKeyPlacement::Header { name, prefix } => {
                        let name = chosen_name.unwrap_or(name);
                        check_credential_header(name)?;
                        Credentials::Header {
                            name: name.to_owned(),
                            value: SecretString::from(format!("{prefix}{value}")),
                        }
                    }
                    ApiKeyPlacement::Query { name } => Credentials::Query {
                        name: chosen_name.unwrap_or(name).to_owned(),
                        value: SecretString::from(value.to_owned()),
                    },
                })
            }
            // Resolved away in `ConnectionContext::new`; reaching it means a context was built
            // some other way.
            AuthSpec::Selected(_) => Err(ConnectorError::Denied {
                message: format!("connection `{}` has an unresolved auth selection", ctx.name),
            }),
            AuthSpec::Basic(basic) => {
                let user = ctx
                    .setting_str(&basic.username_setting)
                    .ok_or_else(|| missing_credential(ctx, &basic.username_setting))?;
                let password = ctx
                    .setting_str(&basic.password_setting)
                    .ok_or_else(|| missing_credential(ctx, &basic.password_setting))?;
                Ok(Credentials::Header {
                    name: "authorization".to_owned(),
                    value: SecretString::from(basic_auth(user, password)),
                })
            }
        }
    }
}

pub(super) fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A header name a connection may put its API key in: a valid name, and not one that frames the
/// message (the host sets those).
pub(super) fn check_credential_header(name: &str) -> Result<(), ConnectorError> {
    let framing = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "content-type",
    ];
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        || framing.iter().any(|f| f.eq_ignore_ascii_case(name))
    {
        return Err(ConnectorError::Denied {
            message: "the API key's header name is not a valid header name for credentials"
                .to_owned(),
        });
    }
    Ok(())
}

pub(super) fn missing_credential(ctx: &ConnectionContext, field: &str) -> ConnectorError {
    ConnectorError::Unauthorized {
        message: format!(
            "connection `{}` has no value for the credential setting `{field}`",
            ctx.name
        ),
    }
}

/// Credentials chosen for one attempt.
pub(crate) enum Credentials {
    None,
    OAuthBearer {
        version: i64,
        /// When the token was stored (ms since the epoch), if the store knows.
        stored_at_ms: Option<i64>,
        token: SecretString,
    },
    Header {
        name: String,
        value: SecretString,
    },
    Query {
        name: String,
        value: SecretString,
    },
}

impl Credentials {
    pub(super) fn header_value(&self) -> Option<SecretString> {
        match self {
            Self::OAuthBearer { token, .. } => Some(SecretString::from(format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            Self::Header { value, .. } => Some(value.clone()),
            _ => None,
        }
    }

    pub(super) fn header_name(&self) -> String {
        match self {
            Self::Header { name, .. } => name.clone(),
            _ => "authorization".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
