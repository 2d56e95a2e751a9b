//! Coverage claims: Email campaigns, scheduling, A/B tests and automations.

use super::{Claim, LeftOut};

/// Why the v2 cross-reference operations are left out.
const V2_XREFS: &str =
    "maps ids of the retired v2 API to v3 ids; a connection made today only ever sees v3 ids";

/// The operations this area's methods cover.
pub(super) const CLAIMS: &[Claim] = &[
    Claim {
        operation: "updateAutomationCampaignUsingPut",
        methods: &["automations.update"],
    },
    Claim {
        operation: "createAutomationCampaignUsingPost",
        methods: &["automations.create"],
    },
    Claim {
        operation: "retrieveAutomationCampaignUsingGet",
        methods: &["automations.get"],
    },
    Claim {
        operation: "listAutomations",
        methods: &["automations.list"],
    },
    Claim {
        operation: "deleteEmailCampaignABTestUsingDELETE",
        methods: &["emails.delete_ab_test"],
    },
    Claim {
        operation: "createEmailCampaignABTestUsingPOST",
        methods: &["emails.create_ab_test"],
    },
    Claim {
        operation: "retrieveEmailCampaignABTestUsingGET",
        methods: &["emails.get_ab_test"],
    },
    Claim {
        operation: "deleteResendToNonOpenersUsingDELETE",
        methods: &["emails.delete_resend"],
    },
    Claim {
        operation: "createResendToNonOpenersUsingPOST",
        methods: &["emails.create_resend"],
    },
    Claim {
        operation: "retrieveResendToNonOpenersUsingGET",
        methods: &["emails.list_resends"],
    },
    Claim {
        operation: "retrieveEmailSendHistoryUsingGET",
        methods: &["emails.send_history"],
    },
    Claim {
        operation: "retrieveEmailCampaignActivityPreviewUsingGET",
        methods: &["emails.preview"],
    },
    Claim {
        operation: "testSendCampaignActivityUsingPOST",
        methods: &["emails.send_test"],
    },
    Claim {
        operation: "unscheduleEmailCampaignActivityUsingDELETE",
        methods: &["emails.unschedule"],
    },
    Claim {
        operation: "retrieveEmailSchedulesUsingGET",
        methods: &["emails.get_schedules"],
    },
    Claim {
        operation: "removeEmailCampaignUsingDELETE",
        methods: &["emails.delete"],
    },
    Claim {
        operation: "renameEmailCampaignUsingPATCH",
        methods: &["emails.rename"],
    },
    Claim {
        operation: "retrieveEmailCampaignsUsingGET",
        methods: &["emails.list"],
    },
    Claim {
        operation: "retrieveEmailCampaignUsingGET",
        methods: &["emails.get"],
    },
    Claim {
        operation: "createEmailCampaignUsingPOST",
        methods: &["emails.create"],
    },
    Claim {
        operation: "retrieveEmailCampaignActivityUsingGET",
        methods: &["emails.get_activity"],
    },
    Claim {
        operation: "updateEmailCampaignActivityUsingPUT",
        methods: &["emails.update_activity"],
    },
    Claim {
        operation: "scheduleEmailCampaignActivityUsingPOST",
        methods: &["emails.schedule"],
    },
];

/// The operations of this area no method covers.
pub(super) const LEFT_OUT: &[LeftOut] = &[LeftOut {
    operation: "retrieveXrefMappingsUsingGET",
    reason: V2_XREFS,
}];
