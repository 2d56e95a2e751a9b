//! Representative calls: Email, contact, landing-page and SMS reporting.

use plugboard_core::HttpResponse;
use serde_json::json;

use super::*;

/// The representative calls of this area's methods.
pub(super) fn calls() -> Vec<Call> {
    vec![(
        "emails.summary_report",
        json!({}),
        vec![
            HttpResponse::json(
                200,
                &json!({
                    "bulk_email_campaign_summaries": [{"campaign_id": CAMPAIGN,
                        "campaign_type": "NEWSLETTER", "last_sent_date": "2026-05-17T16:00:00.000Z",
                        "unique_counts": {"sends": 10, "opens": 4, "clicks": 1}}],
                    "aggregate_percents": {"open": 40.0},
                    "_links": {"next": {"href": "/v3/reports/summary_reports/email_campaign_summaries?next=bGltaXQ9NTAw"}}
                }),
            ),
            HttpResponse::json(200, &json!({"bulk_email_campaign_summaries": []})),
        ],
    )]
}
