//! The connector's methods, one module per category.

mod account;
mod contact_lists;

use plugboard_core::MethodSet;

/// Every method, in the order `plugboard describe` lists them.
pub(crate) fn all() -> MethodSet {
    MethodSet::new()
        .with(account::GetSummary)
        .with(account::GetUserPrivileges)
        .with(contact_lists::List)
}
