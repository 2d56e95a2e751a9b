//! Coverage claims: the areas of the contract outside the connector's scope (events, social,
//! partner accounts and partner webhooks), which the issue that defined the catalogue leaves out.

use super::LeftOut;

/// Why the Events operations are left out.
const EVENTS: &str = "event management (registrations, tickets, check-in) is not part of an integration of contacts, lists, campaigns and reporting";

/// Why the Social operations are left out.
const SOCIAL: &str = "social-media posting is not part of an integration of contacts, lists, campaigns and reporting";

/// Why the Technology Partners operations are left out.
const PARTNER_ACCOUNTS: &str = "partner-account management (provisioning, plans, SSO) is done by the partner, not by a customer's connection";

/// Why the Technology Partners Webhooks operations are left out.
const PARTNER_WEBHOOKS: &str = "partner-level webhook subscriptions are configured once by the partner with partner credentials, not through a customer's connection";

/// The operations outside the connector's scope.
pub(super) const LEFT_OUT: &[LeftOut] = &[
    LeftOut {
        operation: "findEvents",
        reason: EVENTS,
    },
    LeftOut {
        operation: "addDefaultEvent",
        reason: EVENTS,
    },
    LeftOut {
        operation: "getEvent_2",
        reason: EVENTS,
    },
    LeftOut {
        operation: "patchEvent",
        reason: EVENTS,
    },
    LeftOut {
        operation: "copyEvent",
        reason: EVENTS,
    },
    LeftOut {
        operation: "checkInTickets",
        reason: EVENTS,
    },
    LeftOut {
        operation: "undoCheckInTickets",
        reason: EVENTS,
    },
    LeftOut {
        operation: "getRegistrationInfo",
        reason: EVENTS,
    },
    LeftOut {
        operation: "findRegistrationsUsingGET",
        reason: EVENTS,
    },
    LeftOut {
        operation: "updateRegistrationStatusUsingPUT",
        reason: EVENTS,
    },
    LeftOut {
        operation: "updateRegistrationPaymentStatusUsingPUT",
        reason: EVENTS,
    },
    LeftOut {
        operation: "getSocialProfilesUsingGET",
        reason: SOCIAL,
    },
    LeftOut {
        operation: "getSocialConnectionsUsingGET",
        reason: SOCIAL,
    },
    LeftOut {
        operation: "getSocialHashtagGroupsUsingGET",
        reason: SOCIAL,
    },
    LeftOut {
        operation: "createSocialPostUsingPOST",
        reason: SOCIAL,
    },
    LeftOut {
        operation: "getPartnerSiteOwners",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "provision",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "getPlan",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "setPlan",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "cancelAccount",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "partnerAccountOperationsPostSync",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "createSSOUser",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "partnerUnsubscribeContacts",
        reason: PARTNER_ACCOUNTS,
    },
    LeftOut {
        operation: "getWebhooksCollection",
        reason: PARTNER_WEBHOOKS,
    },
    LeftOut {
        operation: "getWebhooksTopic",
        reason: PARTNER_WEBHOOKS,
    },
    LeftOut {
        operation: "putWebhooksTopic",
        reason: PARTNER_WEBHOOKS,
    },
    LeftOut {
        operation: "deleteWebhooksSubscriptions",
        reason: PARTNER_WEBHOOKS,
    },
    LeftOut {
        operation: "testSendWebhooksTopic",
        reason: PARTNER_WEBHOOKS,
    },
];
