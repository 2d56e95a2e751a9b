//! Which operation of Constant Contact's OpenAPI contract each method covers, and why the
//! operations no method covers are left out.
//!
//! The claims are data, not prose: the spec test checks that every request a method sends matches
//! an operation it claims, and `docs/constant-contact-coverage.md` is generated from them and the
//! spec (a test fails when it is stale). Claims live beside the area they describe so that adding
//! methods to one area never touches another's list.

mod campaigns;
mod contacts;
mod outside;
mod reports;

/// One operation of the contract and the methods that cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The spec's `operationId`.
    pub operation: &'static str,
    /// Ids of the methods whose requests go to that operation.
    pub methods: &'static [&'static str],
}

/// One operation no method covers, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftOut {
    /// The spec's `operationId`.
    pub operation: &'static str,
    /// Why an integration of contacts, lists, campaigns and reporting does not need it.
    pub reason: &'static str,
}

/// Every claim, area by area.
pub fn claims() -> impl Iterator<Item = &'static Claim> {
    contacts::CLAIMS
        .iter()
        .chain(campaigns::CLAIMS)
        .chain(reports::CLAIMS)
}

/// Every operation left out, area by area.
pub fn left_out() -> impl Iterator<Item = &'static LeftOut> {
    contacts::LEFT_OUT
        .iter()
        .chain(campaigns::LEFT_OUT)
        .chain(reports::LEFT_OUT)
        .chain(outside::LEFT_OUT)
}
