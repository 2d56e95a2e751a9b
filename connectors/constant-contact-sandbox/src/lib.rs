//! A local emulator of the Constant Contact API v3 and its OAuth2 server, for offline runs,
//! integration tests and benchmarks.
//!
//! It behaves like the real service where a client can tell: the official paths, field names,
//! status codes and error bodies (from the saved OpenAPI contract), `_links.next.href` cursor
//! paging, the OAuth2 authorization-code flow with PKCE and rotating single-use refresh tokens,
//! the 4/s and 10,000/day limits per client_id with their two 429 bodies, and the token
//! endpoint's 1/s. Faults (5xx, latency, dropped connections, forced 429s, expired tokens) can be
//! injected for tests. State is in memory and seeded deterministically.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use constant_contact_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! let tokens = sandbox.mint_tokens();
//! // GET {sandbox.api_base_url()}/contacts with `Authorization: Bearer {tokens.access_token}`
//! sandbox.stop().await;
//! # Ok(()) }
//! ```
//!
//! Control endpoints beside the API (no auth): `GET /__sandbox/stats` ([`Stats`] as JSON),
//! `POST /__sandbox/faults` ([`Faults`] as JSON, latency as `latency_ms`), and
//! `POST /__sandbox/expire_tokens`.
//!
//! Behaviour worth knowing (where the real service is undocumented, the sandbox chooses):
//! - The per-second limit is a rolling one-second window per client_id; refused requests are not
//!   counted, neither per second nor per day. The daily cap resets at 00:00 UTC.
//! - Every `/v3` request passes, in order: injected faults, bearer auth (401), the scope the path
//!   needs (403: `account_read`/`account_update`, `contact_data`, `campaign_data`), a JSON
//!   content type for bodies (415), limits (429), the handler. Only requests that reach the
//!   limiter count against them. Unknown `/v3` routes need a valid token before their 404.
//! - The token endpoint's 1/s is counted per authenticated client, and its 429 carries the API's
//!   `throttled` body. An authorization code is consumed by its first use, even a failed one.
//! - A refresh token is rotated on every use; issuing a pair kills the previous refresh token of
//!   the same grant (one grant per code exchange or [`Sandbox::mint_tokens`] call).
//! - Contacts are paged in `(updated_at, contact_id)` order; the cursor in `_links.next.href`
//!   carries the filters, `include` and `limit`. A contact updated during a walk moves to the end
//!   (it may be seen twice, never skipped).
//! - Bulk activities do their work when created; their state reads `initialized` in the creation
//!   response, `processing` on the first poll within a second, then `completed`.
//! - The JSON import refuses (400) more than 40,000 rows or a body of 4 MB or more, where the
//!   service documents silently dropping what is past 4 MB.
//! - A campaign activity is scheduled only with recipients (lists or one segment), as the service
//!   requires. A send records its recipients; what they did (bounces, opens, clicks, forwards,
//!   opt-outs) is a hash of the seed, the activity and the contact, so reports count what was
//!   sent and are the same on every read. A scheduled send whose time has passed is carried out
//!   when a campaign or report request next comes in. Opt-outs unsubscribe their contacts.
//! - A contact export's file (`text/csv`, streamed) can be fetched once a read of its activity
//!   has shown it completed.
//!
//! Modules, one concept each: `config` (what a sandbox starts with), `store` (the in-memory
//! account), `account` (its owner, address and emails), `campaign` (campaigns and sending),
//! `engagement` (what recipients do), `events` (the counts and rates reports show), `criteria`
//! (segment criteria), `seed` (its deterministic data), `oauth` (authorize and token
//! endpoints), `limits` (rate limits), `snapshot` (the account saved and restored), `faults`
//! (fault injection), `stats` (counters), `routes` (the `/v3` API, one module per resource),
//! `server` (the listener, the API gate and the [`Sandbox`] handle).

mod account;
mod campaign;
mod config;
mod criteria;
mod engagement;
mod errors;
mod events;
mod faults;
mod limits;
mod oauth;
pub(crate) mod routes;
mod seed;
mod server;
mod snapshot;
mod state;
mod stats;
mod store;
mod util;

pub use config::{RegisteredClient, SandboxConfig};
pub use errors::ApiError;
pub use faults::Faults;
pub use oauth::{DEFAULT_SCOPE, TokenGrant};
pub use routes::import::{MAX_IMPORT_BYTES, MAX_IMPORT_CONTACTS};
pub use server::{Sandbox, serve_until};
pub use snapshot::{AccountSnapshot, SnapshotError};
pub use stats::Stats;
