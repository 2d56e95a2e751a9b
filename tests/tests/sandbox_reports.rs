//! The sandbox's landing-page and SMS reports, over real HTTP on 127.0.0.1. The sandbox has no
//! landing pages and sends no SMS, so every report is an empty page; what is checked is that each
//! operation is served, answers what the official spec declares, and refuses what the API
//! refuses (a malformed id, a `limit` out of range, a missing or malformed date).

mod sandbox_api;

use reqwest::Method;
use sandbox_api::{Api, Checker, start};
use serde_json::json;

const LANDING_PAGE: &str = "82ee2c37-c8f8-4974-9560-ef93ad51d58a";
const LANDING_PAGE_REPORTS: [&str; 6] = [
    "p_unique_contact_clicks",
    "p_unique_contact_opens",
    "p_contact_opens",
    "p_unique_contact_updates",
    "p_unique_contact_adds",
    "p_unique_contact_sms_optins",
];

#[tokio::test]
async fn every_landing_page_report_is_served_empty_and_spec_shaped() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    for report in LANDING_PAGE_REPORTS {
        let base = format!("/v3/reports/landing_pages/campaign_details/{LANDING_PAGE}/{report}");
        let page = c.get(&format!("{base}?limit=500&contacts_filter=Jo")).await;
        assert_eq!(page["tracking_activities"], json!([]), "{report}");
        // The spec requires a next link on every page; the last one's is empty.
        assert_eq!(page["_links"]["next"]["href"], "", "{report}");
        c.call(Method::GET, &format!("{base}?limit=501"), None, 400)
            .await;
        c.call(Method::GET, &format!("{base}?limit=0"), None, 400)
            .await;
        c.call(
            Method::GET,
            &format!("/v3/reports/landing_pages/campaign_details/not-a-uuid/{report}"),
            None,
            404,
        )
        .await;
    }
    // Not an operation of the spec, so not through the checker.
    let unknown = api
        .send(
            Method::GET,
            &format!("/v3/reports/landing_pages/campaign_details/{LANDING_PAGE}/p_everything"),
            None,
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert_eq!(
        c.operations.len(),
        LANDING_PAGE_REPORTS.len(),
        "{:?}",
        c.operations
    );
    c.assert_conforms();
}

#[tokio::test]
async fn the_sms_summary_report_needs_a_start_and_checks_its_range() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let path = "/v3/reports/summary_reports/sms_campaign_summaries";
    let page = c
        .get(&format!(
            "{path}?start_at=2026-01-01T00:00:00.000Z&end_at=2026-06-01T00:00:00Z&limit=50"
        ))
        .await;
    assert_eq!(page["bulk_sms_campaign_summaries"], json!([]));
    assert_eq!(page["aggregate_percents"]["deliver"], 0.0);
    assert!(page["_links"].get("next").is_none(), "one page only");

    for refused in [
        String::new(),
        "?end_at=2026-06-01T00:00:00Z".to_owned(),
        "?start_at=yesterday".to_owned(),
        "?start_at=2026-06-01T00:00:00Z&end_at=2026-01-01T00:00:00Z".to_owned(),
        "?start_at=2026-01-01T00:00:00Z&limit=51".to_owned(),
    ] {
        let reply = c
            .reply(Method::GET, &format!("{path}{refused}"), None, 400)
            .await;
        assert!(
            reply.text.contains("error_message"),
            "{refused}: {}",
            reply.text
        );
    }
    c.assert_conforms();
}
