//! Coverage claims: Email, contact, landing-page and SMS reporting.

use super::{Claim, LeftOut};

/// The operations this area's methods cover.
pub(super) const CLAIMS: &[Claim] = &[];

/// The operations of this area no method covers.
pub(super) const LEFT_OUT: &[LeftOut] = &[];
