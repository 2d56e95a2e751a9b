//! Representative calls: Email, contact, landing-page and SMS reporting.

use plugboard_core::HttpResponse;
use serde_json::{Value, json};

use super::*;

/// A landing page's campaign activity id in the API's format.
pub const LANDING_PAGE_ACTIVITY: &str = "82ee2c37-c8f8-4974-9560-ef93ad51d58a";
/// A second campaign id in the API's format.
pub const CAMPAIGN_2: &str = "2b1c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d";

/// A tracking report's page of `records`, with a link to a second page when `next` is given.
fn tracking_page(records: Vec<Value>, next: Option<&str>) -> HttpResponse {
    let links = next.map_or_else(|| json!({}), |href| json!({"next": {"href": href}}));
    HttpResponse::json(
        200,
        &json!({"tracking_activities": records, "_links": links}),
    )
}

/// A tracking record of `kind` for the representative contact and activity, plus `extra`.
fn event(kind: &str, extra: Value) -> Value {
    let mut record = json!({
        "contact_id": CONTACT,
        "campaign_activity_id": CAMPAIGN_ACTIVITY,
        "tracking_activity_type": kind,
        "email_address": "dlang@example.com",
        "first_name": "Debora",
        "last_name": "Lang",
        "created_time": "2026-05-17T16:04:11.000Z"
    });
    if let (Some(record), Some(extra)) = (record.as_object_mut(), extra.as_object()) {
        record.extend(extra.clone());
    }
    record
}

/// A two-page tracking report call: one record of `kind` with `extra`, then an empty last page.
fn tracking_call(
    method: &'static str,
    report: &str,
    input: Value,
    kind: &str,
    extra: Value,
) -> Call {
    let next = format!(
        "/v3/reports/email_reports/{CAMPAIGN_ACTIVITY}/tracking/{report}?next=bGltaXQ9NTAw"
    );
    (
        method,
        input,
        vec![
            tracking_page(vec![event(kind, extra)], Some(&next)),
            tracking_page(Vec::new(), None),
        ],
    )
}

/// A two-page landing-page report call of `report` (`p_…`) with one record of `kind`.
fn landing_page_call(method: &'static str, report: &str, kind: &str) -> Call {
    let mut record = event(
        kind,
        json!({"sms_channel": {"country_code": "US",
        "state": "explicit", "formatted_international": "+1 617-555-0100",
        "formatted_national": "(617) 555-0100"}}),
    );
    record["campaign_activity_id"] = json!(LANDING_PAGE_ACTIVITY);
    let next = format!(
        "/v3/reports/landing_pages/campaign_details/{LANDING_PAGE_ACTIVITY}/{report}?next=bGltaXQ9NTA"
    );
    (
        method,
        json!({"campaign_activity_id": LANDING_PAGE_ACTIVITY, "contacts_filter": "Jo"}),
        vec![
            tracking_page(vec![record], Some(&next)),
            tracking_page(Vec::new(), None),
        ],
    )
}

/// Email stats as the API returns them (the spec's example figures).
fn stats() -> Value {
    json!({"em_bounces": 2, "em_clicks": 7, "em_clicks_all": 9, "em_clicks_all_computer": 5,
        "em_clicks_all_mobile": 3, "em_clicks_all_tablet": 1, "em_clicks_all_other": 0,
        "em_clicks_all_none": 0, "em_forwards": 1, "em_not_opened": 20, "em_opens": 30,
        "em_opens_all": 41, "em_opens_all_computer": 22, "em_opens_all_mobile": 15,
        "em_opens_all_tablet": 4, "em_opens_all_other": 0, "em_opens_all_none": 0,
        "em_optouts": 1, "em_sends": 52})
}

/// The representative calls of this area's methods.
pub(super) fn calls() -> Vec<Call> {
    vec![
        (
            "emails.summary_report",
            json!({}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "bulk_email_campaign_summaries": [{"campaign_id": CAMPAIGN,
                            "campaign_type": "NEWSLETTER", "last_sent_date": "2026-05-17T16:00:00.000Z",
                            "unique_counts": {"sends": 10, "opens": 4, "clicks": 1, "forwards": 0,
                                "optouts": 0, "abuse": 0, "bounces": 1, "not_opened": 5}}],
                        "aggregate_percents": {"open": 40.0, "click": 25.0, "did_not_open": 50.0,
                            "bounce": 10.0, "unsubscribe": 0.0},
                        "_links": {"next": {"href": "/v3/reports/summary_reports/email_campaign_summaries?next=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(
                    200,
                    &json!({"bulk_email_campaign_summaries": [],
                        "aggregate_percents": {"open": 40.0, "click": 25.0, "did_not_open": 50.0,
                            "bounce": 10.0, "unsubscribe": 0.0}}),
                ),
            ],
        ),
        (
            "reports.campaign_stats",
            json!({"campaign_ids": [CAMPAIGN, CAMPAIGN_2]}),
            vec![HttpResponse::json(
                200,
                &json!({
                    "results": [{"campaign_id": CAMPAIGN, "stats": stats(),
                        "percents": {"bounce": 3.8, "click": 23.3, "desktop_click": 55.6,
                            "desktop_open": 53.7, "did_not_open": 40.0, "mobile_click": 44.4,
                            "mobile_open": 46.3, "open": 60.0, "unsubscribe": 2.0},
                        "last_refresh_time": "2026-05-18T10:00:00.000Z"}],
                    "errors": [{"error_key": "reporting.campaign.not_found",
                        "error_message": format!("Campaign {CAMPAIGN_2} was not found.")}]
                }),
            )],
        ),
        (
            "reports.activity_stats",
            json!({"campaign_activity_ids": [CAMPAIGN_ACTIVITY]}),
            vec![HttpResponse::json(
                200,
                &json!({
                    "results": [{"campaign_id": CAMPAIGN, "campaign_activity_id": CAMPAIGN_ACTIVITY,
                        "stats": {"em_sends": 52, "em_opens": 30, "em_clicks": 7, "em_bounces": 2,
                            "em_abuse": 0, "em_bounces_blocked": 0, "em_bounces_mailbox_full": 1,
                            "em_bounces_nonexistent_address": 1, "em_bounces_other": 0,
                            "em_bounces_suspended": 0, "em_bounces_undeliverable": 0,
                            "em_bounces_vacation": 0},
                        "last_refresh_time": "2026-05-18T10:00:00.000Z"}],
                    "errors": []
                }),
            )],
        ),
        (
            "reports.email_links",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "no_clicks": true}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "link_click_counts": [
                    {"link_url": "https://example.com/spring", "url_id": "49920742166",
                        "unique_clicks": 7},
                    {"link_url": "https://example.com/join", "url_id": "49920742167",
                        "unique_clicks": 0, "list_action": "ADD_TO_LIST", "list_id": LIST,
                        "link_tag": "join"}
                ]}),
            )],
        ),
        tracking_call(
            "reports.email_sends",
            "sends",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_sends",
            json!({}),
        ),
        tracking_call(
            "reports.email_opens",
            "opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_opens",
            json!({"device_type": "mobile"}),
        ),
        tracking_call(
            "reports.email_unique_opens",
            "unique_opens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_opens",
            json!({"device_type": "computer"}),
        ),
        tracking_call(
            "reports.email_did_not_opens",
            "didnotopens",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_sends",
            json!({"deleted_at": "2026-05-20"}),
        ),
        tracking_call(
            "reports.email_clicks",
            "clicks",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "url_id": 49920742166_i64}),
            "em_clicks",
            json!({"device_type": "tablet", "url_id": "49920742166",
                "link_url": "https://example.com/spring"}),
        ),
        tracking_call(
            "reports.email_forwards",
            "forwards",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_forwards",
            json!({}),
        ),
        tracking_call(
            "reports.email_opt_outs",
            "optouts",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            "em_optouts",
            json!({"opt_out_reason": "Too many emails"}),
        ),
        tracking_call(
            "reports.email_bounces",
            "bounces",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "bounce_codes": ["B", "D"]}),
            "em_bounces",
            json!({"bounce_code": "B", "current_email_address": "debora.lang@example.com"}),
        ),
        (
            "reports.contact_activity_details",
            json!({"contact_id": CONTACT, "tracking_activities": ["em_sends", "em_clicks"],
                "without_campaign_activity_names": true}),
            vec![
                tracking_page(
                    vec![event(
                        "em_clicks",
                        json!({"campaign_activity_name": "Spring sale"}),
                    )],
                    Some(&format!(
                        "/v3/reports/contact_reports/{CONTACT}/activity_details?next=bGltaXQ9MTAw"
                    )),
                ),
                tracking_page(Vec::new(), None),
            ],
        ),
        (
            "reports.contact_activity_summary",
            json!({"contact_id": CONTACT, "start": "2026-01-01T00:00:00-05:00",
                "end": "2026-06-01T00:00:00Z"}),
            vec![HttpResponse::json(
                200,
                &json!({"contact_id": CONTACT, "campaign_activities": [
                    {"campaign_activity_id": CAMPAIGN_ACTIVITY,
                        "start_on": "2026-05-17T16:00:00.000Z", "em_bounces": 0, "em_clicks": 2,
                        "em_forwards": 0, "em_opens": 3, "em_sends": 1, "em_unsubscribes": 0}
                ], "_links": {}}),
            )],
        ),
        (
            "reports.contact_open_and_click_rates",
            json!({"contact_id": CONTACT, "start": "2026-01-01T00:00:00Z",
                "end": "2026-06-01T00:00:00Z"}),
            vec![HttpResponse::json(
                200,
                &json!({"contact_id": CONTACT, "included_activities_count": 4,
                    "average_open_rate": 0.75, "average_click_rate": 0.25}),
            )],
        ),
        landing_page_call(
            "reports.landing_page_unique_clicks",
            "p_unique_contact_clicks",
            "p_contact_click",
        ),
        landing_page_call(
            "reports.landing_page_unique_opens",
            "p_unique_contact_opens",
            "p_contact_open",
        ),
        landing_page_call(
            "reports.landing_page_opens",
            "p_contact_opens",
            "p_contact_open",
        ),
        landing_page_call(
            "reports.landing_page_unique_updates",
            "p_unique_contact_updates",
            "p_contact_update",
        ),
        landing_page_call(
            "reports.landing_page_unique_adds",
            "p_unique_contact_adds",
            "p_contact_add",
        ),
        landing_page_call(
            "reports.landing_page_unique_sms_opt_ins",
            "p_unique_contact_sms_optins",
            "p_contact_sms_optin",
        ),
        (
            "reports.sms_campaign_summaries",
            json!({"start_at": "2026-01-01T00:00:00.000Z", "end_at": "2026-06-01T00:00:00.000Z"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "bulk_sms_campaign_summaries": [{"campaign_id": CAMPAIGN,
                            "campaign_name": "Flash sale", "campaign_type": "SMS",
                            "last_sent_date": "2026-05-17T16:00:00.000Z",
                            "unique_counts": {"sends": 10, "delivers": 9, "opens": 0, "clicks": 3,
                                "optouts": 1}}],
                        "aggregate_percents": {"deliver": 90.0, "click": 33.3, "bounce": 10.0,
                            "unsubscribe": 11.1},
                        "_links": {"next": {"href": "/v3/reports/summary_reports/sms_campaign_summaries?next=bGltaXQ9NTA"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"bulk_sms_campaign_summaries": []})),
            ],
        ),
    ]
}
