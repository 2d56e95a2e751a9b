//! Representative calls: Email campaigns, scheduling, A/B tests and automations.

use plugboard_core::HttpResponse;
use serde_json::json;

use super::*;

/// The representative calls of this area's methods.
pub(super) fn calls() -> Vec<Call> {
    vec![
        (
            "emails.list",
            json!({"after_date": "2026-01-01T00:00:00.000Z", "before_date": "2026-07-01T00:00:00.000Z"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "campaigns": [{"campaign_id": CAMPAIGN, "name": "Spring sale",
                            "current_status": "Draft", "type": "NEWSLETTER", "type_code": 10}],
                        "_links": {"next": {"href": "/v3/emails?next=cGFnZT0y"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"campaigns": []})),
            ],
        ),
        (
            "emails.get",
            json!({"campaign_id": CAMPAIGN}),
            vec![HttpResponse::json(200, &campaign())],
        ),
        (
            "emails.create",
            json!({
                "name": "Spring sale",
                "email": {
                    "from_name": "Acme",
                    "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example",
                    "subject": "Spring is here",
                    "preheader": "20% off",
                    "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>",
                    "physical_address_in_footer": {"organization_name": "Acme",
                        "address_line1": "1 Main St", "city": "Waltham", "state_code": "MA",
                        "postal_code": "02451", "country_code": "US"}
                }
            }),
            vec![HttpResponse::json(200, &campaign())],
        ),
        (
            "emails.get_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "include": ["html_content", "permalink_url"]}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "campaign_id": CAMPAIGN,
                    "role": "primary_email", "current_status": "DRAFT", "format_type": 5,
                    "from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "contact_list_ids": [LIST]}),
            )],
        ),
        (
            "emails.update_activity",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "email": {"from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>"},
                "contact_list_ids": [LIST]}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "campaign_id": CAMPAIGN,
                    "role": "primary_email", "current_status": "DRAFT", "format_type": 5,
                    "from_name": "Acme", "from_email": "news@acme.example",
                    "reply_to_email": "news@acme.example", "subject": "Spring is here",
                    "contact_list_ids": [LIST]}),
            )],
        ),
        (
            "emails.schedule",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "scheduled_date": "2026-05-17T16:00:00.000Z"}),
            vec![HttpResponse::json(
                201,
                &json!([{"scheduled_date": "2026-05-17T16:00:00.000Z"}]),
            )],
        ),
        (
            "emails.rename",
            json!({"campaign_id": CAMPAIGN, "name": "Spring sale, final"}),
            vec![HttpResponse::json(200, &campaign())],
        ),
        (
            "emails.delete",
            json!({"campaign_id": CAMPAIGN}),
            vec![no_content()],
        ),
        (
            "emails.get_schedules",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![HttpResponse::json(
                200,
                &json!([{"scheduled_date": "2026-05-17T16:00:00.000Z"}]),
            )],
        ),
        (
            "emails.unschedule",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![no_content()],
        ),
        (
            "emails.send_test",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "email_addresses": ["qa@example.com", "boss@example.com"],
                "personal_message": "Check the links"}),
            vec![no_content()],
        ),
        (
            "emails.preview",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![HttpResponse::json(
                200,
                &json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "from_email": "news@acme.example",
                    "from_name": "Acme", "preheader": "20% off", "subject": "Spring is here",
                    "reply_to_email": "news@acme.example",
                    "preview_html_content": "<html><body>Hello Debora</body></html>",
                    "preview_text_content": "Hello Debora"}),
            )],
        ),
        (
            "emails.send_history",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![HttpResponse::json(
                200,
                &json!([{"send_id": 1, "contact_list_ids": [LIST], "segment_ids": [], "count": 12,
                    "run_date": "2026-05-17T16:00:00.000Z", "send_status": "COMPLETED",
                    "reason_code": 0}]),
            )],
        ),
        (
            "emails.list_resends",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![HttpResponse::json(200, &json!([resend()]))],
        ),
        (
            "emails.create_resend",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "resend_subject": "In case you missed it", "delay_minutes": 1440}),
            vec![HttpResponse::json(201, &resend())],
        ),
        (
            "emails.get_ab_test",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![HttpResponse::json(200, &ab_test())],
        ),
        (
            "emails.create_ab_test",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY,
                "alternative_subject": "Spring, at last", "test_size": 20, "winner_wait_duration": 24}),
            vec![HttpResponse::json(201, &ab_test())],
        ),
        (
            "emails.delete_ab_test",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY}),
            vec![no_content()],
        ),
        (
            "automations.list",
            json!({"sort_direction": "ASC", "created_from": "SCRATCH", "name": "Welcome"}),
            vec![HttpResponse::json(
                209,
                &json!({"flow_summaries": [{"id": FLOW, "name": "Welcome", "status": "DRAFT",
                    "description": "Welcomes new members", "draft_state": "DRAFT"}]}),
            )],
        ),
        (
            "automations.get",
            json!({"automation_flow_id": FLOW}),
            vec![HttpResponse::json(200, &automation())],
        ),
        (
            "automations.create",
            json!({"workflow_name": "Welcome", "type": "contact_list",
                "action_name": "contact_joined_list",
                "parameters": [{"parameter_name": "list_ids", "parameter_list_value": [LIST]}]}),
            vec![HttpResponse::json(201, &automation())],
        ),
        (
            "automations.update",
            json!({"automation_flow_id": FLOW, "automation_flow": automation()}),
            vec![HttpResponse::json(200, &automation())],
        ),
        (
            "emails.delete_resend",
            json!({"campaign_activity_id": CAMPAIGN_ACTIVITY, "resend_request_id": "392"}),
            vec![no_content()],
        ),
    ]
}

/// A resend to non-openers, as the API returns it.
fn resend() -> serde_json::Value {
    json!({"resend_request_id": "392", "resend_subject": "In case you missed it",
        "delay_minutes": 1440, "delay_days": 1, "resend_date": "2026-05-18T16:00:00.000Z",
        "resend_status": "SCHEDULED"})
}

/// An A/B test, as the API returns it.
fn ab_test() -> serde_json::Value {
    json!({"alternative_subject": "Spring, at last", "test_size": 20, "winner_wait_duration": 24})
}

/// An automation workflow's id.
const FLOW: &str = "5b5e2b0c-7d1e-4b6e-9a57-0d9b4d2c1e11";

/// An automation workflow, as the API returns it.
fn automation() -> serde_json::Value {
    json!({"id": FLOW, "name": "Welcome", "description": "Welcomes new members", "status": "DRAFT",
        "structured_tags": [{"key": "goal", "value": "welcome", "display_value": "Welcome"}],
        "name_explicitly_set": true,
        "draft_definition": {"state": "DRAFT", "trigger": {"trigger_version": "1",
            "trigger_def": {"type": "contact_list", "action_name": "contact_joined_list"}},
            "workflow": {"workflow_def": {}}}})
}
