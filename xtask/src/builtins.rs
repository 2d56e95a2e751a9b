//! The built-in connectors of `xtask`, so `cargo xtask schemas` renders their schemas.
//!
//! Linking a connector crate is what registers it (`register_connector!` through `inventory`), and
//! a crate is only linked when it is named. This file holds nothing else: `cargo xtask
//! new-connector` adds a line here, in rustfmt's order (and to `crates/plugboard-cli/src/builtins.rs`).

use constant_contact as _;
use http_api as _;
