//! Connectors as the host sees them, and the typed way to define one.
//!
//! The host holds every connector as a `dyn` [`Connector`], whether it was linked in or loaded from a
//! plugin. Authors implement [`ConnectorDefinition`] instead, which derives the manifest from Rust
//! types, and register it with [`register_connector!`](crate::register_connector) (built in) and
//! [`export_connector!`](crate::export_connector) (plugin).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::AuthSpec;
use crate::error::ConnectorError;
use crate::host::Host;
use crate::manifest::Manifest;
use crate::method::MethodSet;
use crate::rate_limit::RateLimit;

/// One method call, as it crosses from host to connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The method id, e.g. `account.get_summary`.
    pub method: String,
    /// The method's input, already validated by the host against the input schema: the workflow
    /// engine checks every rendered input before the call, so a method may rely on its
    /// constraints (lengths, allowed values, required fields).
    pub input: Value,
    /// The connection's settings with secrets removed (invariant 2).
    #[serde(default)]
    pub settings: Map<String, Value>,
}

/// A connector as the host uses it: its manifest and a way to call its methods.
///
/// Built-ins ([`DefinedConnector`]) and plugins (`plugin::loaded::PluginConnector`) both
/// implement it, so the host treats them the same (invariant 3). A call is an [`Invocation`]
/// plus the [`Host`] that serves its requests:
///
/// ```
/// use plugboard_core::{
///     AuthSpec, Connector, ConnectorDefinition, ConnectorError, Context, DefinedConnector, Host,
///     HttpRequest, HttpResponse, Invocation, LogLevel, Method, MethodInfo, MethodKind, MethodSet,
///     NoRecords,
/// };
/// use serde_json::{Value, json};
///
/// struct Ping;
/// impl Method for Ping {
///     type Input = ();
///     type Output = u16;
///     type Record = NoRecords;
///     const INFO: MethodInfo = MethodInfo {
///         id: "ping", name: "Ping", category: Some("Health"),
///         description: "Returns the status of `GET /ping`.",
///         kind: MethodKind::Action, idempotent: true,
///     };
///     fn call(&self, cx: &mut Context<'_, NoRecords>, _: ()) -> Result<u16, ConnectorError> {
///         Ok(cx.send(HttpRequest::get("/ping"))?.status)
///     }
/// }
///
/// struct Demo;
/// impl ConnectorDefinition for Demo {
///     type Settings = ();
///     const ID: &'static str = "demo";
///     const NAME: &'static str = "Demo";
///     const VERSION: &'static str = "1.0.0";
///     const DESCRIPTION: &'static str = "A demonstration.";
///     const BASE_URL: &'static str = "https://api.example.com";
///     fn auth() -> AuthSpec { AuthSpec::None }
///     fn methods() -> MethodSet { MethodSet::new().with(Ping) }
/// }
///
/// /// A host that answers every request with 204 No Content.
/// struct NoContent;
/// impl Host for NoContent {
///     fn send(&self, _: HttpRequest) -> Result<HttpResponse, ConnectorError> {
///         Ok(HttpResponse { status: 204, headers: Vec::new(), body: String::new() })
///     }
///     fn emit(&self, _: Value) -> Result<(), ConnectorError> { Ok(()) }
///     fn log(&self, _: LogLevel, _: &str) {}
///     fn is_cancelled(&self) -> bool { false }
///     fn sleep(&self, _: std::time::Duration) -> Result<(), ConnectorError> { Ok(()) }
/// }
///
/// let connector: Box<dyn Connector> = Box::new(DefinedConnector::new::<Demo>());
/// assert_eq!(connector.manifest().id, "demo");
/// let call = Invocation { method: "ping".into(), input: Value::Null, settings: Default::default() };
/// assert_eq!(connector.invoke(&call, &NoContent), Ok(json!(204)));
/// let unknown = Invocation { method: "pong".into(), ..call };
/// assert!(matches!(
///     connector.invoke(&unknown, &NoContent),
///     Err(ConnectorError::UnknownMethod { .. })
/// ));
/// ```
pub trait Connector: Send + Sync {
    /// What the connector is and offers.
    fn manifest(&self) -> &Manifest;

    /// Runs one method call, streaming records through `host` and returning the final value.
    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError>;
}

/// The typed definition of a connector, written once by its author.
///
/// The manifest's settings schema comes from [`Self::Settings`] and its method descriptors from
/// [`Self::methods`], so the manifest cannot drift from the code.
///
/// ```
/// use plugboard_core::{
///     ApiKeyAuth, ApiKeyPlacement, AuthSpec, Connector, ConnectorDefinition, DefinedConnector,
///     LimitScope, MethodSet, RateLimit, ResetRule, Window, settings,
/// };
///
/// /// Settings of an Acme connection.
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Settings {
///     /// The account's API key.
///     #[schemars(transform = settings::connection_secret)]
///     api_key: String,
/// }
///
/// struct Acme;
/// impl ConnectorDefinition for Acme {
///     type Settings = Settings;
///     const ID: &'static str = "acme";
///     const NAME: &'static str = "Acme";
///     const VERSION: &'static str = "0.1.0";
///     const DESCRIPTION: &'static str = "Contacts in Acme.";
///     const BASE_URL: &'static str = "https://api.acme.example/v2";
///
///     fn auth() -> AuthSpec {
///         AuthSpec::ApiKey(ApiKeyAuth {
///             key_setting: "api_key".into(),
///             placement: ApiKeyPlacement::Header { name: "X-Api-Key".into(), prefix: String::new() },
///             name_setting: None,
///         })
///     }
///
///     fn rate_limits() -> Vec<RateLimit> {
///         vec![RateLimit {
///             limit: 100,
///             window: Window::Minute,
///             scope: LimitScope::Connection,
///             reset: ResetRule::Rolling,
///         }]
///     }
///
///     fn methods() -> MethodSet {
///         MethodSet::new() // `.with(...)` each method
///     }
/// }
///
/// let connector = DefinedConnector::new::<Acme>();
/// let manifest = connector.manifest();
/// assert_eq!(manifest.base_url, "https://api.acme.example/v2");
/// assert_eq!(manifest.auth.required_settings(), ["api_key"]);
/// assert!(settings::is_secret(&manifest.settings_schema, "api_key"));
/// assert_eq!(manifest.rate_limits[0].limit, 100);
/// ```
pub trait ConnectorDefinition: Send + Sync + 'static {
    /// The settings type; mark fields with [`crate::settings`] transforms.
    type Settings: JsonSchema;
    /// Stable id, e.g. `constant-contact`.
    const ID: &'static str;
    /// Display name.
    const NAME: &'static str;
    /// Connector version (usually `env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    /// One paragraph for people choosing a connector.
    const DESCRIPTION: &'static str;
    /// The API root request paths are relative to.
    const BASE_URL: &'static str;

    /// How the API authenticates.
    fn auth() -> AuthSpec;

    /// The API's rate limits.
    fn rate_limits() -> Vec<RateLimit> {
        Vec::new()
    }

    /// The method that tests a connection when it is installed: a cheap, idempotent read
    /// taking `{}` (e.g. the account's summary), so a wrong key is reported by `plugboard
    /// connect`, not by the first run.
    const CHECK: Option<&'static str> = None;

    /// Hosts besides the base URL's that requests may reach.
    fn allowed_hosts() -> Vec<String> {
        Vec::new()
    }

    /// The connector's methods.
    fn methods() -> MethodSet;
}

/// A [`Connector`] built from a [`ConnectorDefinition`]; the form every Rust connector takes inside
/// its own process (the host's for a built-in, the plugin's for a plugin).
pub struct DefinedConnector {
    manifest: Manifest,
    methods: MethodSet,
}

impl DefinedConnector {
    /// Builds the manifest and method table of `D`.
    pub fn new<D: ConnectorDefinition>() -> Self {
        let methods = D::methods();
        let manifest = Manifest {
            id: D::ID.to_owned(),
            name: D::NAME.to_owned(),
            version: D::VERSION.to_owned(),
            description: D::DESCRIPTION.to_owned(),
            base_url: D::BASE_URL.to_owned(),
            allowed_hosts: D::allowed_hosts(),
            auth: D::auth(),
            settings_schema: settings_schema::<D::Settings>(),
            rate_limits: D::rate_limits(),
            methods: methods.descriptors(),
            check: D::CHECK.map(str::to_owned),
        };
        Self { manifest, methods }
    }
}

/// The settings schema of `S`. A connector without settings (`type Settings = ()`) gets an
/// empty object schema rather than schemars' `{"type": "null"}`: connections store their settings
/// as an object, and `{}` must be valid for them.
fn settings_schema<S: JsonSchema>() -> schemars::Schema {
    let schema = schemars::schema_for!(S);
    if schema.get("type") != Some(&Value::from("null")) {
        return schema;
    }
    let mut empty = schemars::json_schema!({
        "type": "object",
        "properties": {},
        "additionalProperties": false
    });
    for keyword in ["$schema", "title"] {
        if let Some(value) = schema.get(keyword) {
            empty.insert(keyword.to_owned(), value.clone());
        }
    }
    empty
}

impl Connector for DefinedConnector {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn invoke(&self, invocation: &Invocation, host: &dyn Host) -> Result<Value, ConnectorError> {
        self.methods.call(
            &invocation.method,
            host,
            &invocation.settings,
            &invocation.input,
        )
    }
}

/// A built-in connector, collected at link time with `inventory`.
pub struct Registration {
    /// Builds the connector; called once per registry.
    pub build: fn() -> Box<dyn Connector>,
}

impl Registration {
    /// The registration of a defined connector; used by [`register_connector!`](crate::register_connector).
    pub const fn of<D: ConnectorDefinition>() -> Self {
        Self {
            build: build_defined::<D>,
        }
    }
}

fn build_defined<D: ConnectorDefinition>() -> Box<dyn Connector> {
    Box::new(DefinedConnector::new::<D>())
}

inventory::collect!(Registration);

/// Every connector registered with [`register_connector!`](crate::register_connector) in the crates
/// linked into this program.
pub fn builtin_registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}

/// Registers a [`ConnectorDefinition`] as a built-in connector of any program that links its crate.
///
/// Write it once, at the top level of the connector's crate; a program makes the connector a
/// built-in by naming the crate (`use my_connector as _;`), and finds it with
/// [`builtin_registrations`]:
///
/// ```
/// use plugboard_core::{AuthSpec, ConnectorDefinition, MethodSet, builtin_registrations};
///
/// struct Demo;
/// impl ConnectorDefinition for Demo {
///     type Settings = ();
///     const ID: &'static str = "demo";
///     const NAME: &'static str = "Demo";
///     const VERSION: &'static str = "1.0.0";
///     const DESCRIPTION: &'static str = "A demonstration.";
///     const BASE_URL: &'static str = "https://api.example.com";
///     fn auth() -> AuthSpec { AuthSpec::None }
///     fn methods() -> MethodSet { MethodSet::new() }
/// }
///
/// plugboard_core::register_connector!(Demo);
///
/// let ids: Vec<String> = builtin_registrations()
///     .map(|registration| (registration.build)().manifest().id.clone())
///     .collect();
/// assert!(ids.contains(&"demo".to_owned()));
/// ```
#[macro_export]
macro_rules! register_connector {
    ($definition:ty) => {
        $crate::inventory::submit! {
            $crate::Registration::of::<$definition>()
        }
    };
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::settings;

    struct NoSettings;

    impl ConnectorDefinition for NoSettings {
        type Settings = ();
        const ID: &'static str = "no-settings";
        const NAME: &'static str = "No settings";
        const VERSION: &'static str = "0.0.0";
        const DESCRIPTION: &'static str = "Needs no settings.";
        const BASE_URL: &'static str = "http://127.0.0.1:9";

        fn auth() -> AuthSpec {
            AuthSpec::None
        }

        fn methods() -> MethodSet {
            MethodSet::new()
        }
    }

    #[test]
    fn a_connector_without_settings_accepts_an_empty_settings_object() {
        let connector = DefinedConnector::new::<NoSettings>();
        let schema = &connector.manifest().settings_schema;
        assert_eq!(schema.get("type"), Some(&json!("object")));
        // No properties, and no others allowed: the host's settings resolution accepts `{}` and
        // refuses any stray field (tested in `plugboard-runner`'s `settings`).
        assert!(settings::fields(schema).is_empty());
        assert_eq!(schema.get("additionalProperties"), Some(&json!(false)));
    }
}
