//! The generic HTTP connector, exported as a plugboard plugin (`libhttp_api_plugin.so`).
//!
//! The code is the built-in connector's own (invariant 3); this crate only adds the ABI exports.

plugboard_core::export_connector!(http_api::HttpApi);
