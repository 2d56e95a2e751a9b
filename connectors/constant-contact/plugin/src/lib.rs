//! The Constant Contact connector, exported as a plugboard plugin (`libconstant_contact_plugin.so`).
//!
//! The code is the built-in connector's own (invariant 3); this crate only adds the ABI exports.

plugboard_core::export_connector!(constant_contact::ConstantContact);
