//! Coverage claims: Email, contact, landing-page and SMS reporting.

use super::{Claim, LeftOut};

/// The operations this area's methods cover.
pub(super) const CLAIMS: &[Claim] = &[
    Claim {
        operation: "getAllBulkEmailCampaignSummaries",
        methods: &["emails.summary_report"],
    },
    Claim {
        operation: "getEmailSummary",
        methods: &["reports.campaign_stats"],
    },
    Claim {
        operation: "getEmailCampaignActivitySummary",
        methods: &["reports.activity_stats"],
    },
    Claim {
        operation: "getCampaignActivityLinkStats",
        methods: &["reports.email_links"],
    },
    Claim {
        operation: "getSends",
        methods: &["reports.email_sends"],
    },
    Claim {
        operation: "getOpens",
        methods: &["reports.email_opens"],
    },
    Claim {
        operation: "getUniqueOpens",
        methods: &["reports.email_unique_opens"],
    },
    Claim {
        operation: "getDidNotOpens",
        methods: &["reports.email_did_not_opens"],
    },
    Claim {
        operation: "getClicks",
        methods: &["reports.email_clicks"],
    },
    Claim {
        operation: "getForwards",
        methods: &["reports.email_forwards"],
    },
    Claim {
        operation: "getOptouts",
        methods: &["reports.email_opt_outs"],
    },
    Claim {
        operation: "getBounces",
        methods: &["reports.email_bounces"],
    },
    Claim {
        operation: "getContactTracking",
        methods: &["reports.contact_activity_details"],
    },
    Claim {
        operation: "getContactTrackingCount",
        methods: &["reports.contact_activity_summary"],
    },
    Claim {
        operation: "getContactOpenClickRate",
        methods: &["reports.contact_open_and_click_rates"],
    },
    Claim {
        operation: "getUniqueContactClicks",
        methods: &["reports.landing_page_unique_clicks"],
    },
    Claim {
        operation: "getUniqueContactOpens",
        methods: &["reports.landing_page_unique_opens"],
    },
    Claim {
        operation: "getContactOpens",
        methods: &["reports.landing_page_opens"],
    },
    Claim {
        operation: "getUniqueContactUpdates",
        methods: &["reports.landing_page_unique_updates"],
    },
    Claim {
        operation: "getContactAdds",
        methods: &["reports.landing_page_unique_adds"],
    },
    Claim {
        operation: "getUniqueContactSMSOptIns",
        methods: &["reports.landing_page_unique_sms_opt_ins"],
    },
    Claim {
        operation: "getAllBulkSmsCampaignSummaries",
        methods: &["reports.sms_campaign_summaries"],
    },
];

/// The operations of this area no method covers: none, every reporting operation has a method.
pub(super) const LEFT_OUT: &[LeftOut] = &[];
