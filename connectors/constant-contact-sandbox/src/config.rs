//! What a sandbox is started with: seed sizes, limits, token lifetimes and the registered client.

use std::fmt;
use std::time::Duration;

use crate::snapshot::AccountSnapshot;

/// The one OAuth client the sandbox knows (Constant Contact's "API key" and its secret).
#[derive(Clone)]
pub struct RegisteredClient {
    /// The client id; also the key the rate limits are counted under.
    pub client_id: String,
    /// The client secret, checked on the token endpoint (never printed).
    pub client_secret: String,
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

impl Default for RegisteredClient {
    fn default() -> Self {
        Self {
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
        }
    }
}

/// Everything that shapes one sandbox: its seed data, limits and OAuth behaviour.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Seed of the deterministic generator for the seeded data.
    pub seed: u64,
    /// How many contacts to seed.
    pub contacts: usize,
    /// How many contact lists to seed.
    pub lists: usize,
    /// How many tags to seed.
    pub tags: usize,
    /// How many custom fields to seed.
    pub custom_fields: usize,
    /// How many segments to seed (integer ids, one per list it selects).
    pub segments: usize,
    /// How many email campaigns to seed.
    pub campaigns: usize,
    /// API requests per second per client_id (`None`: unlimited). Constant Contact: 4.
    pub per_second_limit: Option<u32>,
    /// API requests per UTC day per client_id (`None`: unlimited). Constant Contact: 10,000.
    pub daily_limit: Option<u32>,
    /// Token-endpoint requests per second per client_id (`None`: unlimited). Constant Contact: 1.
    pub token_endpoint_per_second: Option<u32>,
    /// Lifetime of access tokens. Constant Contact: 24 h.
    pub access_token_ttl: Duration,
    /// Lifetime of authorization codes. Constant Contact: about 5 minutes.
    pub auth_code_ttl: Duration,
    /// Port to bind on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// The registered OAuth client.
    pub client: RegisteredClient,
    /// Redirect URIs accepted besides any loopback `http://127.0.0.1:*/` or `http://localhost:*/`.
    pub redirect_uris: Vec<String>,
    /// Start with this saved account instead of seeding one (the seed and counts above are then
    /// unused): see [`Sandbox::account`](crate::Sandbox::account).
    pub account: Option<AccountSnapshot>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            contacts: 250,
            lists: 5,
            tags: 8,
            custom_fields: 4,
            segments: 2,
            campaigns: 3,
            per_second_limit: Some(4),
            daily_limit: Some(10_000),
            token_endpoint_per_second: Some(1),
            access_token_ttl: Duration::from_secs(24 * 3600),
            auth_code_ttl: Duration::from_secs(300),
            port: 0,
            client: RegisteredClient::default(),
            redirect_uris: Vec::new(),
            account: None,
        }
    }
}

impl SandboxConfig {
    /// The same sandbox with every limit switched off: for benchmarks and bulk tests.
    #[must_use]
    pub fn unlimited(mut self) -> Self {
        self.per_second_limit = None;
        self.daily_limit = None;
        self.token_endpoint_per_second = None;
        self
    }
}
