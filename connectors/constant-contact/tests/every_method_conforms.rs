//! Every Constant Contact method, called once against a fresh sandbox through the runner's real
//! executor, returns and streams what its descriptor declares: each call runs through the test
//! kit's `Harness`, which validates the output against `output_schema` and every record against
//! `record_schema` and fails the test naming the method, the JSON pointer and the schema rule.
//!
//! The calls build on each other (a created contact is read, updated, then deleted), and the test
//! ends by checking that every method of the manifest was called, so a new method cannot go
//! unchecked.

mod common;

use std::collections::BTreeSet;

use constant_contact::ConstantContact;
use constant_contact_sandbox::{Faults, Sandbox, SandboxConfig};
use plugboard_core::{Connector, ConnectorError, DefinedConnector};
use plugboard_runner::ExecutorConfig;
use plugboard_testkit::{Harness, LiveConnection, Run, SessionHost};
use serde_json::{Value, json};

/// Calls methods through one live host and remembers which were called.
struct Caller<'a> {
    harness: Harness,
    host: SessionHost<'a>,
    called: BTreeSet<String>,
}

impl Caller<'_> {
    /// Calls `method`, which must succeed; the harness has checked its output and records.
    #[track_caller]
    fn ok(&mut self, method: &str, input: Value) -> Run {
        let run = self.harness.call(&self.host, method, input);
        run.ok();
        self.called.insert(method.to_owned());
        run
    }

    /// Calls `method`, which must be refused as `already_exists` (a state the sandbox cannot
    /// leave, such as the seeded account's physical address); the call still counts as made.
    #[track_caller]
    fn already_exists(&mut self, method: &str, input: Value) {
        let run = self.harness.call(&self.host, method, input);
        assert!(
            matches!(run.err(), ConnectorError::AlreadyExists { .. }),
            "`{method}` failed otherwise: {}",
            run.err()
        );
        self.called.insert(method.to_owned());
    }

    /// The string at `pointer` in the output of `run`.
    #[track_caller]
    fn text(run: &Run, pointer: &str) -> String {
        run.ok()
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("`{}` returned no `{pointer}`: {}", run.method, run.ok()))
            .to_owned()
    }

    /// The string at `pointer` in the first record of `run`.
    #[track_caller]
    fn first_record(run: &Run, pointer: &str) -> Value {
        run.records
            .first()
            .and_then(|record| record.pointer(pointer))
            .cloned()
            .unwrap_or_else(|| panic!("`{}` streamed no record with `{pointer}`", run.method))
    }
}

/// A connection to `sandbox` with freshly minted tokens, limits left to the (unlimited) sandbox.
fn live_connection(sandbox: &Sandbox) -> LiveConnection {
    let config = ExecutorConfig {
        limits_enabled: false,
        ..ExecutorConfig::default()
    };
    common::sandbox_connection(sandbox, "conformance", config)
}

#[test]
fn every_method_returns_what_it_declares_against_the_sandbox() {
    let sandbox = Sandbox::spawn(
        SandboxConfig {
            contacts: 30,
            lists: 3,
            tags: 3,
            custom_fields: 3,
            segments: 2,
            campaigns: 3,
            ..SandboxConfig::default()
        }
        .unlimited(),
    )
    .expect("the sandbox starts on 127.0.0.1");
    let live = live_connection(&sandbox);
    let mut c = Caller {
        harness: Harness::of::<ConstantContact>(),
        host: live.host(),
        called: BTreeSet::new(),
    };

    // The account.
    c.ok(
        "account.get_summary",
        json!({"extra_fields": ["physical_address", "company_logo"]}),
    );
    c.ok("account.get_user_privileges", json!({}));
    c.ok(
        "account.update_summary",
        json!({"organization_phone": "555-0100", "website": "https://acme.example"}),
    );
    let address = json!({"address_line1": "123 Maple Street", "city": "Boston",
        "state_code": "MA", "postal_code": "02101", "country_code": "US"});
    c.ok("account.update_physical_address", address.clone());
    c.ok("account.get_physical_address", json!({}));
    c.already_exists("account.add_physical_address", address);
    c.ok(
        "account.add_email",
        json!({"email_address": "news@acme.example"}),
    );
    c.ok(
        "account.list_emails",
        json!({"confirm_status": "UNCONFIRMED"}),
    );

    // Lists.
    let lists = c.ok(
        "contact_lists.list",
        json!({"include_membership_count": "all"}),
    );
    let list = Caller::first_record(&lists, "/list_id");
    let other_list = lists.records.get(1).map(|l| l["list_id"].clone());
    // The sandbox's account has email lists only.
    let sms_lists = c.ok(
        "contact_lists.list",
        json!({"channel_type": "sms", "include_sms_membership_count": true}),
    );
    assert!(sms_lists.records.is_empty(), "{:?}", sms_lists.records);
    c.ok(
        "contact_lists.get",
        json!({"list_id": list, "include_membership_count": "all"}),
    );
    let created_list = c.ok(
        "contact_lists.create",
        json!({"name": "Conformance", "favorite": true, "description": "Made by a test"}),
    );
    let new_list = Caller::text(&created_list, "/list_id");
    c.ok(
        "contact_lists.update",
        json!({"list_id": new_list, "name": "Conformance 2", "description": "Renamed", "favorite": false}),
    );

    // Tags.
    let tags = c.ok("tags.list", json!({"include_count": true}));
    let tag = Caller::first_record(&tags, "/tag_id");
    let created_tag = c.ok(
        "tags.create",
        json!({"name": "Conformance", "tag_source": "Test"}),
    );
    let new_tag = Caller::text(&created_tag, "/tag_id");
    c.ok(
        "tags.update",
        json!({"tag_id": new_tag, "name": "Conformance 2"}),
    );
    c.ok(
        "tags.get",
        json!({"tag_id": new_tag, "include_count": true}),
    );

    // Custom fields.
    let fields = c.ok("custom_fields.list", json!({}));
    let field = Caller::first_record(&fields, "/custom_field_id");
    let created_field = c.ok(
        "custom_fields.create",
        json!({
            "label": "Favorite Fruit",
            "type": "single_select",
            "choices": [{"choice_label": "Apple", "display_order": 1},
                {"choice_label": "Pear", "display_order": 2}]
        }),
    );
    let new_field = Caller::text(&created_field, "/custom_field_id");
    c.ok(
        "custom_fields.update",
        json!({
            "custom_field_id": new_field,
            "label": "Favourite Fruit",
            "choices": [{"choice_label": "Apple", "display_order": 1},
                {"choice_label": "Plum", "display_order": 3}]
        }),
    );
    c.ok("custom_fields.get", json!({"custom_field_id": new_field}));

    // Contacts.
    c.ok(
        "contacts.list",
        json!({
            "status": ["all"],
            "include": ["custom_fields", "list_memberships", "phone_numbers",
                "street_addresses", "notes", "taggings"],
            "include_count": true
        }),
    );
    c.ok("contacts.counts", json!({"include_new_subscriber": true}));
    let created = c.ok(
        "contacts.create",
        json!({
            "create_source": "Account",
            "email_address": {"address": "conformance@example.com", "permission_to_send": "implicit"},
            "first_name": "Debora",
            "last_name": "Lang",
            "job_title": "Musician",
            "company_name": "Acme Corp.",
            "birthday_month": 11,
            "birthday_day": 24,
            "anniversary": "2006-11-15",
            "custom_fields": [{"custom_field_id": field, "value": "Tesla S 2017"}],
            "phone_numbers": [{"phone_number": "+1-555-555-5555", "kind": "mobile"}],
            "street_addresses": [{"kind": "home", "street": "123 Kashmir Valley Road",
                "city": "Chicago", "state": "Illinois", "postal_code": "60609",
                "country": "United States"}],
            "list_memberships": [list],
            "taggings": [tag],
            "notes": [{"content": "Met at the fair."}]
        }),
    );
    let contact = Caller::text(&created, "/contact_id");
    c.ok(
        "contacts.get",
        json!({"contact_id": contact, "include": ["custom_fields", "list_memberships",
            "phone_numbers", "street_addresses", "notes", "taggings"]}),
    );
    c.ok(
        "contacts.update",
        json!({
            "contact_id": contact,
            "update_source": "Contact",
            "email_address": {"address": "conformance@example.com", "permission_to_send": "explicit"},
            "first_name": "Debora",
            "last_name": "Lang-Smith",
            "list_memberships": [list]
        }),
    );
    c.ok(
        "contacts.create_or_update",
        json!({
            "email_address": "signup@example.com",
            "list_memberships": [list],
            "first_name": "Jake",
            "phone_number": "(555) 555-1212",
            "street_address": {"kind": "work", "street": "1601 Trapelo Rd", "city": "Waltham",
                "state": "Massachusetts", "postal_code": "02451", "country": "United States"},
            "custom_fields": [{"custom_field_id": field, "value": "Tesla S 2017"}]
        }),
    );
    // SMS-only contacts: created with a number and no email address, upserted by number, and
    // read back with their SMS channel.
    let sms_only = c.ok(
        "contacts.create",
        json!({
            "create_source": "Account",
            "first_name": "Sam",
            "sms_channel": {"full_sms_address": "17815550150", "sms_channel_consents": [
                {"sms_consent_permission": "explicit", "consent_type": "promotional_sms"}]},
            "list_memberships": [list]
        }),
    );
    let sms_contact = Caller::text(&sms_only, "/contact_id");
    let read = c.ok("contacts.get", json!({"contact_id": sms_contact}));
    assert_eq!(
        read.ok().pointer("/sms_channel/sms_address"),
        Some(&json!("7815550150")),
        "the SMS channel reaches the output: {}",
        read.ok()
    );
    let upserted = c.ok(
        "contacts.create_or_update",
        json!({
            "sms_channel": {"sms_address": "7815550150", "dial_code": "1", "country_code": "US",
                "sms_channel_consents": [{"sms_consent_permission": "explicit",
                    "consent_type": "promotional_sms", "consent_medium_type": "LF",
                    "consent_medium_url": "https://example.com/sms",
                    "consent_medium_details": "Signed up on the page."}]},
            "list_memberships": [list],
            "last_name": "Smith"
        }),
    );
    assert_eq!(
        upserted.ok()["contact_id"],
        json!(sms_contact),
        "the number finds the same contact: {}",
        upserted.ok()
    );
    assert_eq!(upserted.ok()["created"], json!(false));
    let poll = c.ok(
        "contacts.poll_updated",
        json!({"include": ["list_memberships"]}),
    );
    c.ok(
        "contacts.poll_updated",
        json!({"cursor": Caller::text(&poll, "/next_cursor")}),
    );

    // Segments.
    let segments = c.ok("segments.list", json!({"sort_by": "name"}));
    let segment = Caller::first_record(&segments, "/segment_id");
    let detail = c.ok("segments.get", json!({"segment_id": segment}));
    let criteria = Caller::text(&detail, "/segment_criteria");
    let created_segment = c.ok(
        "segments.create",
        json!({"name": "Conformance segment", "segment_criteria": criteria}),
    );
    let new_segment = created_segment.ok()["segment_id"].clone();
    c.ok(
        "segments.update",
        json!({"segment_id": new_segment, "name": "Conformance segment 2", "segment_criteria": criteria}),
    );
    c.ok(
        "segments.rename",
        json!({"segment_id": new_segment, "name": "Conformance segment 3"}),
    );
    c.ok("segments.delete", json!({"segment_id": new_segment}));

    // Bulk activities.
    c.ok(
        "bulk.import_contacts",
        json!({
            "contacts": [
                {"email": "import.a@example.com", "first_name": "Ann", "phone": "555-0100",
                    "street": "1 Main St", "city": "Waltham", "zip": "02451"},
                {"email": "import.b@example.com", "work_city": "Boston", "birthday_month": 2,
                    "birthday_day": 3}
            ],
            "list_ids": [list],
            "wait": true,
            "timeout_secs": 60
        }),
    );
    c.ok(
        "bulk.import_contacts_csv",
        json!({
            "rows": [
                {"email": "csv.a@example.com", "first_name": "Ann", "company_name": "A, Inc."},
                {"sms_number": "5555550147", "sms_consent_date": "2026-01-02"}
            ],
            "list_ids": [list],
            "sms_permission_to_send": "explicit",
            "wait": true,
            "timeout_secs": 60
        }),
    );
    let added = c.ok(
        "bulk.add_to_lists",
        json!({"source": {"list_ids": [list]}, "list_ids": [new_list]}),
    );
    let activity = Caller::text(&added, "/activity_id");
    c.ok("bulk.get_activity", json!({"activity_id": activity}));
    c.ok(
        "bulk.wait_for_activity",
        json!({"activity_id": activity, "timeout_secs": 60}),
    );
    c.ok(
        "bulk.remove_from_lists",
        json!({"source": {"contact_ids": [contact]}, "list_ids": [other_list.unwrap_or_else(|| list.clone())]}),
    );
    c.ok(
        "bulk.add_tags",
        json!({"source": {"contact_ids": [contact]}, "tag_ids": [tag]}),
    );
    c.ok(
        "bulk.remove_tags",
        json!({"source": {"list_ids": [list]}, "tag_ids": [tag], "exclude_contact_ids": [contact]}),
    );
    c.ok("bulk.list_activities", json!({}));
    let export = c.ok(
        "bulk.export_contacts",
        json!({"list_ids": [list], "fields": ["email_address", "first_name"]}),
    );
    let export_id = Caller::text(&export, "/activity_id");
    c.ok(
        "bulk.wait_for_activity",
        json!({"activity_id": export_id, "timeout_secs": 60}),
    );
    let rows = c.ok("bulk.download_export", json!({"file_export_id": export_id}));
    assert!(
        rows.records
            .iter()
            .all(|row| row.get("email_address").is_some()),
        "every exported row has the asked-for columns: {:?}",
        rows.records
    );
    assert_eq!(rows.ok()["count"], rows.records.len());

    // Email campaigns.
    let campaigns = c.ok("emails.list", json!({}));
    let campaign = Caller::first_record(&campaigns, "/campaign_id");
    c.ok("emails.get", json!({"campaign_id": campaign}));
    let draft = c.ok(
        "emails.create",
        json!({
            "name": "Conformance sale",
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
    );
    let draft_activity = draft.ok()["campaign_activities"]
        .as_array()
        .and_then(|activities| {
            activities
                .iter()
                .find(|a| a["role"] == "primary_email")
                .map(|a| a["campaign_activity_id"].clone())
        })
        .unwrap_or_else(|| panic!("a primary email activity: {}", draft.ok()));
    c.ok(
        "emails.get_activity",
        json!({"campaign_activity_id": draft_activity,
            "include": ["html_content", "permalink_url"]}),
    );
    // The API schedules only an activity with recipients.
    c.ok(
        "emails.update_activity",
        json!({"campaign_activity_id": draft_activity,
            "email": {"from_name": "Acme", "from_email": "news@acme.example",
                "reply_to_email": "news@acme.example", "subject": "Spring is here",
                "html_content": "<html><body>[[trackingImage]]<p>Hello</p></body></html>"},
            "contact_list_ids": [list]}),
    );
    let on_draft = json!({"campaign_activity_id": draft_activity});
    c.ok(
        "emails.send_test",
        json!({"campaign_activity_id": draft_activity,
            "email_addresses": ["qa@acme.example"], "personal_message": "Check the links"}),
    );
    c.ok("emails.preview", on_draft.clone());
    c.ok(
        "emails.create_ab_test",
        json!({"campaign_activity_id": draft_activity, "alternative_subject": "Spring, at last",
            "test_size": 20, "winner_wait_duration": 24}),
    );
    let ab_test = c.ok("emails.get_ab_test", on_draft.clone());
    assert_eq!(ab_test.ok()["test_size"], 20);
    c.ok("emails.delete_ab_test", on_draft.clone());
    c.ok(
        "emails.schedule",
        json!({"campaign_activity_id": draft_activity, "scheduled_date": "2099-05-17T16:00:00.000Z"}),
    );
    c.ok("emails.get_schedules", on_draft.clone());
    c.ok("emails.unschedule", on_draft);
    let draft_campaign = draft.ok()["campaign_id"].clone();
    c.ok(
        "emails.rename",
        json!({"campaign_id": draft_campaign, "name": "Conformance sale, renamed"}),
    );
    c.ok("emails.delete", json!({"campaign_id": draft_campaign}));
    c.ok("emails.summary_report", json!({}));
    reports_methods(&mut c, &list);

    // Automations: a welcome for new members of a list, described, then listed.
    let flow = c.ok(
        "automations.create",
        json!({"workflow_name": "Welcome", "type": "contact_list",
            "action_name": "contact_joined_list",
            "parameters": [{"parameter_name": "list_ids", "parameter_list_value": [list]}]}),
    );
    let flow_id = Caller::text(&flow, "/id");
    let got = c.ok("automations.get", json!({"automation_flow_id": flow_id}));
    let mut edited = got.ok().clone();
    edited["description"] = json!("Welcomes new members");
    let updated = c.ok(
        "automations.update",
        json!({"automation_flow_id": flow_id, "automation_flow": edited}),
    );
    assert_eq!(updated.ok()["description"], "Welcomes new members");
    let flows = c.ok("automations.list", json!({"sort_direction": "ASC"}));
    assert_eq!(Caller::first_record(&flows, "/id"), json!(flow_id));

    // A contact with an SMS number has a consent history.
    let texters = c.ok("contacts.list", json!({"sms_status": ["explicit"]}));
    let texter = Caller::first_record(&texters, "/contact_id");
    let history = c.ok(
        "contacts.sms_engagement_history",
        json!({"contact_id": texter}),
    );
    assert!(
        history.ok()["history"]
            .as_array()
            .is_some_and(|h| !h.is_empty()),
        "an SMS contact has an opt-in: {}",
        history.ok()
    );

    // An unsubscribed contact is sent the email that lets it resubscribe.
    let unsubscribed = c.ok("contacts.list", json!({"status": ["unsubscribed"]}));
    let former = Caller::first_record(&unsubscribed, "/contact_id");
    c.ok(
        "contacts.resubscribe",
        json!({"contact_id": former, "list_ids": [list]}),
    );

    // Deletions last.
    c.ok("bulk.delete_contacts", json!({"contact_ids": [contact]}));
    let signup = c.ok("contacts.list", json!({"email": "signup@example.com"}));
    let signup_id = Caller::first_record(&signup, "/contact_id");
    c.ok("contacts.delete", json!({"contact_id": signup_id}));
    c.ok("tags.delete", json!({"tag_id": new_tag}));
    c.ok(
        "custom_fields.delete",
        json!({"custom_field_id": new_field}),
    );
    c.ok("contact_lists.delete", json!({"list_id": new_list}));
    let doomed_tag = c.ok("tags.create", json!({"name": "Doomed"}));
    c.ok(
        "bulk.delete_tags",
        json!({"tag_ids": [Caller::text(&doomed_tag, "/tag_id")]}),
    );
    let doomed_list = c.ok("contact_lists.create", json!({"name": "Doomed"}));
    c.ok(
        "bulk.delete_lists",
        json!({"list_ids": [Caller::text(&doomed_list, "/list_id")]}),
    );
    let doomed_field = c.ok(
        "custom_fields.create",
        json!({"label": "Doomed", "type": "string"}),
    );
    c.ok(
        "bulk.delete_custom_fields",
        json!({"custom_field_ids": [Caller::text(&doomed_field, "/custom_field_id")]}),
    );

    let connector = DefinedConnector::new::<ConstantContact>();
    let declared: BTreeSet<String> = connector
        .manifest()
        .methods
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let missed: Vec<&String> = declared.difference(&c.called).collect();
    assert!(
        missed.is_empty(),
        "methods this test never called (their outputs went unchecked): {missed:?}"
    );
    drop(c);
    drop(live);
    sandbox.shutdown();
}

/// The reports: a campaign sent now to `list` shows up in every email report, and the contact,
/// landing-page and SMS reports answer for it.
fn reports_methods(c: &mut Caller<'_>, list: &Value) {
    let html = "<html><body>[[trackingImage]]<a href=\"https://example.com/a\">A</a></body></html>";
    let email = json!({"from_name": "Acme", "from_email": "news@acme.example",
        "reply_to_email": "news@acme.example", "subject": "Reported", "html_content": html});
    let created = c.ok("emails.create", json!({"name": "Reported", "email": email}));
    let campaign = Caller::text(&created, "/campaign_id");
    let activity = Caller::text(&created, "/campaign_activities/0/campaign_activity_id");
    c.ok(
        "emails.update_activity",
        json!({"campaign_activity_id": activity, "email": email, "contact_list_ids": [list]}),
    );
    c.ok(
        "emails.schedule",
        json!({"campaign_activity_id": activity, "scheduled_date": "0"}),
    );
    let on_sent = json!({"campaign_activity_id": activity});
    c.ok("emails.send_history", on_sent.clone());
    let resend = c.ok(
        "emails.create_resend",
        json!({"campaign_activity_id": activity, "resend_subject": "In case you missed it",
            "delay_days": 3}),
    );
    c.ok("emails.list_resends", on_sent);
    c.ok(
        "emails.delete_resend",
        json!({"campaign_activity_id": activity,
            "resend_request_id": Caller::text(&resend, "/resend_request_id")}),
    );

    let summaries = c.ok("emails.summary_report", json!({}));
    assert!(
        summaries
            .records
            .iter()
            .any(|s| s["campaign_id"] == campaign)
    );
    assert!(summaries.ok()["aggregate_percents"].is_object());
    let sends = c.ok(
        "reports.email_sends",
        json!({"campaign_activity_id": activity}),
    );
    assert!(
        !sends.records.is_empty(),
        "the list's members were sent the email"
    );
    let stats = c.ok(
        "reports.campaign_stats",
        json!({"campaign_ids": [campaign]}),
    );
    assert_eq!(
        stats.ok()["results"][0]["stats"]["em_sends"],
        json!(sends.records.len())
    );
    c.ok(
        "reports.activity_stats",
        json!({"campaign_activity_ids": [activity]}),
    );
    let links = c.ok(
        "reports.email_links",
        json!({"campaign_activity_id": activity, "no_clicks": true}),
    );
    let url_text = Caller::text(&links, "/link_click_counts/0/url_id");
    let url_id: i64 = url_text.parse().expect("a numeric url_id");
    for method in [
        "reports.email_opens",
        "reports.email_unique_opens",
        "reports.email_did_not_opens",
        "reports.email_forwards",
        "reports.email_opt_outs",
    ] {
        c.ok(method, json!({"campaign_activity_id": activity}));
    }
    let clicks = c.ok(
        "reports.email_clicks",
        json!({"campaign_activity_id": activity, "url_id": url_id}),
    );
    assert!(
        clicks
            .records
            .iter()
            .all(|r| r["url_id"].as_str() == Some(url_text.as_str()))
    );
    c.ok(
        "reports.email_bounces",
        json!({"campaign_activity_id": activity, "bounce_codes": ["B", "F", "Z"]}),
    );

    let contact = Caller::first_record(&sends, "/contact_id");
    let details = c.ok(
        "reports.contact_activity_details",
        json!({"contact_id": contact, "tracking_activities": ["em_sends", "em_opens"]}),
    );
    assert!(
        details
            .records
            .iter()
            .any(|r| r["campaign_activity_id"] == activity)
    );
    let range = json!({"contact_id": contact, "start": "2020-01-01T00:00:00Z",
        "end": "2099-01-01T00:00:00Z"});
    let summary = c.ok("reports.contact_activity_summary", range.clone());
    assert_eq!(
        summary.ok()["campaign_activities"][0]["campaign_activity_id"],
        activity
    );
    let rates_range = json!({"contact_id": contact, "start": "2025-01-01T00:00:00Z",
        "end": "2030-01-01T00:00:00Z"});
    c.ok("reports.contact_open_and_click_rates", rates_range);

    for method in [
        "reports.landing_page_unique_clicks",
        "reports.landing_page_unique_opens",
        "reports.landing_page_opens",
        "reports.landing_page_unique_updates",
        "reports.landing_page_unique_adds",
        "reports.landing_page_unique_sms_opt_ins",
    ] {
        let run = c.ok(
            method,
            json!({"campaign_activity_id": activity, "contacts_filter": "a"}),
        );
        assert!(run.records.is_empty(), "the sandbox has no landing pages");
    }
    c.ok(
        "reports.sms_campaign_summaries",
        json!({"start_at": "2026-01-01T00:00:00Z"}),
    );
}

/// A full queue of bulk activities (the API's 429 `too_many_queued_activities`) fails the call
/// with the API's reason after one request, instead of being retried like a throttle that would
/// spend a request every second.
#[test]
fn a_full_queue_of_bulk_activities_fails_with_its_reason_and_is_not_retried() {
    let sandbox = Sandbox::spawn(SandboxConfig::default().unlimited())
        .expect("the sandbox starts on 127.0.0.1");
    let live = live_connection(&sandbox);
    let harness = Harness::of::<ConstantContact>();
    let host = live.host();
    let before = sandbox.stats().api_requests;
    sandbox.set_faults(Faults {
        force_queue_full: 1,
        ..Faults::default()
    });
    let run = harness.call(&host, "bulk.delete_tags", json!({"tag_ids": ["t-1"]}));
    let error = run.err().to_string();
    assert!(error.contains("queued activities"), "{error}");
    let stats = sandbox.stats();
    assert_eq!(stats.queue_full_429, 1);
    assert_eq!(stats.api_requests - before, 1, "one request, no retry");
    sandbox.shutdown();
}
