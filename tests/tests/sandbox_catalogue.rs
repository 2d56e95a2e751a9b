//! The rest of the sandbox's catalogue over real HTTP on 127.0.0.1: contact exports and their
//! CSV file, bulk tagging and bulk deletes, segments, the account's emails, address and summary,
//! SMS contacts and resubscribe. Every answer is validated against the official spec's response
//! definition for its operation and status, and every change is checked where a user sees it.

mod sandbox_api;

use std::collections::BTreeSet;
use std::time::Duration;

use constant_contact_sandbox::Faults;
use reqwest::Method;
use sandbox_api::{
    Api, Checker, HTML, list_of_new_contacts, new_campaign, num_of, recipients, start, str_of,
};
use serde_json::{Value, json};

/// Reads an activity until it is completed (bounded); returns it.
async fn completed(c: &mut Checker<'_>, activity: &Value) -> Value {
    let path = str_of(activity, "/_links/self/href").to_owned();
    for _ in 0..50 {
        let read = c.get(&path).await;
        if read["state"] == "completed" {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} did not complete");
}

fn ids(records: &[Value], pointer: &str) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| str_of(r, pointer).to_owned())
        .collect()
}

#[tokio::test]
async fn a_contact_export_makes_a_csv_file_to_download() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let list = list_of_new_contacts(&mut c, "exported", 1_234).await;
    let members = ids(
        &c.all_pages(&format!("/v3/contacts?lists={list}&limit=500"), "contacts")
            .await,
        "/contact_id",
    );

    let export = c
        .call(
            Method::POST,
            "/v3/activities/contact_exports",
            Some(json!({"list_ids": [list],
                        "fields": ["contact_id", "email_address", "first_name", "email_optin_source"]})),
            201,
        )
        .await;
    assert_eq!(export["state"], "initialized");
    assert!(export["_links"].get("results").is_none(), "no file yet");
    let file_id = str_of(&export, "/activity_id").to_owned();
    // Not before the activity is seen completed.
    c.call(
        Method::GET,
        &format!("/v3/contact_exports/{file_id}"),
        None,
        404,
    )
    .await;
    let done = completed(&mut c, &export).await;
    assert_eq!(num_of(&done, "/status/items_total_count"), 1_234);
    let href = str_of(&done, "/_links/results/href").to_owned();
    assert_eq!(href, format!("/v3/contact_exports/{file_id}"));

    let file = c.reply(Method::GET, &href, None, 200).await;
    assert!(
        file.content_type.starts_with("text/csv"),
        "{}",
        file.content_type
    );
    let mut reader = csv_rows(&file.text);
    assert_eq!(
        reader.remove(0),
        [
            "contact_id",
            "email_address",
            "first_name",
            "email_optin_source"
        ]
    );
    assert_eq!(reader.len(), 1_234, "one row per member");
    let exported: BTreeSet<String> = reader.iter().map(|r| r[0].clone()).collect();
    assert_eq!(exported, members);
    assert!(
        reader
            .iter()
            .all(|r| r[1].starts_with("exported.") && r[3] == "Account")
    );

    // Every field by default, custom fields included; criteria are checked.
    let all = c
        .call(
            Method::POST,
            "/v3/activities/contact_exports",
            Some(json!({"status": "active"})),
            201,
        )
        .await;
    let all = completed(&mut c, &all).await;
    let text = c
        .reply(Method::GET, str_of(&all, "/_links/results/href"), None, 200)
        .await
        .text;
    let header = csv_rows(&text).remove(0);
    assert_eq!(header[0], "contact_id");
    assert!(
        header.iter().any(|h| h == "cf:favorite_color"),
        "{header:?}"
    );
    for bad in [
        json!({"contact_ids": ["00000000-0000-4000-8000-000000000000"], "tag_ids": ["00000000-0000-4000-8000-000000000000"]}),
        json!({"fields": ["shoe_size"]}),
        json!({"fields": ["email_optout_date"]}),
        json!({"status": "sleeping"}),
        json!({"list_ids": ["00000000-0000-4000-8000-000000000000"]}),
    ] {
        c.call(
            Method::POST,
            "/v3/activities/contact_exports",
            Some(bad),
            400,
        )
        .await;
    }
    c.call(
        Method::GET,
        "/v3/contact_exports/00000000-0000-4000-8000-000000000000",
        None,
        404,
    )
    .await;

    // The activity list shows exports, by state.
    let activities = c
        .all_pages("/v3/activities?state=completed&limit=2", "activities")
        .await;
    assert!(
        activities
            .iter()
            .any(|a| a["activity_id"] == file_id.as_str())
    );
    c.assert_conforms();
    sandbox.stop().await;
}

/// The rows of a CSV text, quoted fields unquoted (enough for these files).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut fields = Vec::new();
            let mut field = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(ch) = chars.next() {
                match ch {
                    '"' if quoted && chars.peek() == Some(&'"') => {
                        field.push('"');
                        chars.next();
                    }
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    other => field.push(other),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

#[tokio::test]
async fn bulk_activities_tag_untag_and_delete_in_bulk() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let list = list_of_new_contacts(&mut c, "tagged", 30).await;
    let members = ids(
        &c.all_pages(&format!("/v3/contacts?lists={list}"), "contacts")
            .await,
        "/contact_id",
    );
    let tag = c
        .call(
            Method::POST,
            "/v3/contact_tags",
            Some(json!({"name": "bulk-tag"})),
            201,
        )
        .await;
    let tag = str_of(&tag, "/tag_id").to_owned();
    let excluded = members.iter().next().cloned().expect("a member");

    let added = c
        .call(
            Method::POST,
            "/v3/activities/contacts_taggings_add",
            Some(json!({"source": {"list_ids": [list]}, "tag_ids": [tag],
                        "exclude": {"contact_ids": [excluded]}})),
            201,
        )
        .await;
    assert_eq!(num_of(&added, "/status/items_total_count"), 29);
    completed(&mut c, &added).await;
    let tagged = ids(
        &c.all_pages(&format!("/v3/contacts?tags={tag}"), "contacts")
            .await,
        "/contact_id",
    );
    let mut expected = members.clone();
    expected.remove(&excluded);
    assert_eq!(tagged, expected);
    let counted = c
        .get(&format!("/v3/contact_tags/{tag}?include_count=true"))
        .await;
    assert_eq!(num_of(&counted, "/contacts_count"), 29);

    // exclude is only for list and all-contacts sources.
    c.call(
        Method::POST,
        "/v3/activities/contacts_taggings_add",
        Some(
            json!({"source": {"contact_ids": [excluded]}, "tag_ids": [tag],
                    "exclude": {"contact_ids": [excluded]}}),
        ),
        400,
    )
    .await;
    let some: Vec<&String> = tagged.iter().take(5).collect();
    let removed = c
        .call(
            Method::POST,
            "/v3/activities/contacts_taggings_remove",
            Some(json!({"source": {"contact_ids": some}, "tag_ids": [tag]})),
            201,
        )
        .await;
    completed(&mut c, &removed).await;
    let left = c
        .all_pages(&format!("/v3/contacts?tags={tag}"), "contacts")
        .await;
    assert_eq!(left.len(), 24);

    // Tags, custom fields and lists deleted in bulk leave no trace on contacts.
    let deleted = c
        .call(
            Method::POST,
            "/v3/activities/contacts_tags_delete",
            Some(json!({"tag_ids": [tag]})),
            201,
        )
        .await;
    completed(&mut c, &deleted).await;
    c.call(Method::GET, &format!("/v3/contact_tags/{tag}"), None, 404)
        .await;
    let any = str_of(&left[0], "/contact_id").to_owned();
    let contact = c.get(&format!("/v3/contacts/{any}?include=taggings")).await;
    assert_eq!(contact["taggings"], json!([]));

    let fields = c.get("/v3/contact_custom_fields").await;
    let field = str_of(&fields, "/custom_fields/0/custom_field_id").to_owned();
    let valued = c
        .call(
            Method::POST,
            "/v3/contacts",
            Some(json!({"email_address": {"address": "valued@example.com"}, "create_source": "Account",
                        "custom_fields": [{"custom_field_id": field, "value": "blue"}]})),
            201,
        )
        .await;
    let valued = str_of(&valued, "/contact_id").to_owned();
    let gone = c
        .call(
            Method::POST,
            "/v3/activities/custom_fields_delete",
            Some(json!({"custom_field_ids": [field]})),
            201,
        )
        .await;
    completed(&mut c, &gone).await;
    c.call(
        Method::GET,
        &format!("/v3/contact_custom_fields/{field}"),
        None,
        404,
    )
    .await;
    let contact = c
        .get(&format!("/v3/contacts/{valued}?include=custom_fields"))
        .await;
    assert_eq!(contact["custom_fields"], json!([]));

    let lists = c
        .call(
            Method::POST,
            "/v3/activities/list_delete",
            Some(json!({"list_ids": [list]})),
            201,
        )
        .await;
    assert_eq!(num_of(&lists, "/status/list_count"), 1);
    completed(&mut c, &lists).await;
    c.call(Method::GET, &format!("/v3/contact_lists/{list}"), None, 404)
        .await;
    let contact = c
        .get(&format!("/v3/contacts/{any}?include=list_memberships"))
        .await;
    assert_eq!(contact["list_memberships"], json!([]));
    for (path, body) in [
        ("list_delete", json!({"list_ids": [list]})),
        ("contacts_tags_delete", json!({"tag_ids": []})),
        (
            "custom_fields_delete",
            json!({"custom_field_ids": (0..101).map(|n| n.to_string()).collect::<Vec<_>>()}),
        ),
    ] {
        c.call(
            Method::POST,
            &format!("/v3/activities/{path}"),
            Some(body),
            400,
        )
        .await;
    }

    // The queue-full 429 the spec documents for bulk endpoints, as a fault.
    sandbox.set_faults(Faults {
        force_queue_full: 1,
        ..Faults::default()
    });
    let full = c
        .call(
            Method::POST,
            "/v3/activities/contacts_tags_delete",
            Some(json!({"tag_ids": ["x"]})),
            429,
        )
        .await;
    assert_eq!(full["error_key"], "too_many_queued_activities");
    assert!(str_of(&full, "/error_message").contains("1,000 queued activities"));
    assert_eq!(sandbox.stats().queue_full_429, 1);
    c.call(
        Method::POST,
        "/v3/activities/contact_exports",
        Some(json!({})),
        201,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

#[tokio::test]
async fn segments_are_created_used_renamed_and_deleted() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let list = list_of_new_contacts(&mut c, "segmented", 8).await;
    let criteria = |list: &str| {
        json!({"version": "1.0.0", "criteria": {"type": "and", "group": [
            {"source": "contact", "field": "list_membership", "op": "contains-any", "const_value": list},
            {"source": "contact", "field": "first_name", "op": "ne", "const_value": "First0"}]}})
        .to_string()
    };
    let created = c
        .call(
            Method::POST,
            "/v3/segments",
            Some(json!({"name": "Most of a list", "segment_criteria": criteria(&list)})),
            201,
        )
        .await;
    let id = num_of(&created, "/segment_id");
    let members = c
        .all_pages(&format!("/v3/contacts?segment_id={id}"), "contacts")
        .await;
    assert_eq!(members.len(), 7, "the list's members but First0");
    c.call(
        Method::POST,
        "/v3/segments",
        Some(json!({"name": "most of a LIST", "segment_criteria": criteria(&list)})),
        409,
    )
    .await;
    let unsupported = c
        .call(
            Method::POST,
            "/v3/segments",
            Some(json!({"name": "Shoes", "segment_criteria":
                "{\"criteria\": {\"group\": [{\"source\": \"contact\", \"field\": \"shoe_size\", \"op\": \"eq\"}]}}"})),
            400,
        )
        .await;
    assert!(str_of(&unsupported, "/0/error_message").contains("shoe_size"));
    c.call(
        Method::POST,
        "/v3/segments",
        Some(json!({"name": "Broken", "segment_criteria": "{not json"})),
        400,
    )
    .await;

    // A campaign sent to the segment reaches its members.
    let (_, activity) = new_campaign(&mut c, "To a segment", HTML).await;
    let mut body = recipients(&[]);
    body["segment_ids"] = json!([id]);
    c.call(
        Method::PUT,
        &format!("/v3/emails/activities/{activity}"),
        Some(body),
        200,
    )
    .await;
    c.schedule(&format!("/v3/emails/activities/{activity}"), "0", 201)
        .await;
    let history = c
        .get(&format!("/v3/emails/activities/{activity}/send_history"))
        .await;
    assert_eq!(num_of(&history, "/0/count"), 7);
    assert_eq!(history[0]["segment_ids"], json!([id]));

    let everyone = json!({"criteria": {"type": "or", "group": [
        {"source": "contact", "field": "list_membership", "op": "contains-any", "const_value": list}]}})
    .to_string();
    let put = c
        .call(
            Method::PUT,
            &format!("/v3/segments/{id}"),
            Some(json!({"name": "All of a list", "segment_criteria": everyone})),
            200,
        )
        .await;
    assert_eq!(put["name"], "All of a list");
    assert_eq!(
        c.all_pages(&format!("/v3/contacts?segment_id={id}"), "contacts")
            .await
            .len(),
        8
    );
    c.call(
        Method::PUT,
        &format!("/v3/segments/{id}"),
        Some(json!({"name": "No criteria"})),
        400,
    )
    .await;
    let renamed = c
        .call(
            Method::PATCH,
            &format!("/v3/segments/{id}/name"),
            Some(json!({"name": "Renamed segment"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "Renamed segment");
    assert_eq!(renamed["segment_criteria"], put["segment_criteria"]);
    c.call(
        Method::PATCH,
        &format!("/v3/segments/{id}/name"),
        Some(json!({"name": "Members of Newsletter"})),
        409,
    )
    .await;

    // Recently sent to opens: a tracking criterion over the last campaign.
    let tracking = json!({"criteria": {"group": [{"source": "tracking", "field": "sent",
        "op": "contains-any", "const_value": "last-n-campaigns", "param": "1"}]}})
    .to_string();
    let recent = c
        .call(
            Method::POST,
            "/v3/segments",
            Some(json!({"name": "Sent the last campaign", "segment_criteria": tracking})),
            201,
        )
        .await;
    let recent = c
        .all_pages(
            &format!("/v3/contacts?segment_id={}", num_of(&recent, "/segment_id")),
            "contacts",
        )
        .await;
    assert_eq!(recent.len(), 7);

    c.call(Method::DELETE, &format!("/v3/segments/{id}"), None, 204)
        .await;
    let listed = c.get("/v3/segments").await;
    assert!(
        listed["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|s| s["segment_id"] != id)
    );
    let kept = c.get(&format!("/v3/segments/{id}")).await;
    assert_eq!(
        kept["name"], "Renamed segment",
        "a deleted segment is still readable"
    );
    c.call(Method::DELETE, &format!("/v3/segments/{id}"), None, 404)
        .await;
    c.call(
        Method::PATCH,
        &format!("/v3/segments/{id}/name"),
        Some(json!({"name": "Revived"})),
        404,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

#[tokio::test]
async fn the_account_keeps_its_emails_address_and_details() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let emails = c.get("/v3/account/emails").await;
    assert!(
        emails
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["email_address"] == "sender@example.com"
                && e["confirm_status"] == "CONFIRMED")
    );
    let added = c
        .call(
            Method::POST,
            "/v3/account/emails",
            Some(json!({"email_address": "new.sender@example.com"})),
            201,
        )
        .await;
    assert_eq!(added["confirm_status"], "UNCONFIRMED");
    let unconfirmed = c.get("/v3/account/emails?confirm_status=U").await;
    assert_eq!(
        unconfirmed,
        json!([{"email_address": "new.sender@example.com", "email_id": added["email_id"],
                "confirm_status": "UNCONFIRMED", "roles": [], "pending_roles": []}])
    );
    let by_role = c.get("/v3/account/emails?role_code=REPLY_TO").await;
    assert_eq!(by_role[0]["email_address"], "reply@example.com");
    c.call(
        Method::POST,
        "/v3/account/emails",
        Some(json!({"email_address": "NEW.sender@example.com"})),
        409,
    )
    .await;
    c.call(
        Method::GET,
        "/v3/account/emails?confirm_status=C&role_code=C",
        None,
        400,
    )
    .await;

    let address = c.get("/v3/account/summary/physical_address").await;
    assert_eq!(address["country_code"], "US");
    c.call(
        Method::POST,
        "/v3/account/summary/physical_address",
        Some(address.clone()),
        409,
    )
    .await;
    let moved = json!({"address_line1": "10 Rue de la Paix", "city": "Paris",
                       "state_name": "Île-de-France", "postal_code": "75002", "country_code": "FR"});
    assert_eq!(
        c.call(
            Method::PUT,
            "/v3/account/summary/physical_address",
            Some(moved.clone()),
            200
        )
        .await,
        moved
    );
    assert_eq!(c.get("/v3/account/summary/physical_address").await, moved);
    let summary = c
        .get("/v3/account/summary?extra_fields=physical_address")
        .await;
    assert_eq!(summary["physical_address"], moved);
    assert!(summary["encoded_partner_id"].is_string());
    c.call(
        Method::PUT,
        "/v3/account/summary/physical_address",
        Some(json!({"address_line1": "1 Main St", "city": "Boston", "country_code": "US"})),
        400,
    )
    .await;

    let updated = c
        .call(
            Method::PUT,
            "/v3/account/summary",
            Some(
                json!({"organization_name": "Renamed Inc.", "website": "https://renamed.example"}),
            ),
            200,
        )
        .await;
    assert_eq!(updated["organization_name"], "Renamed Inc.");
    let summary = c.get("/v3/account/summary").await;
    assert_eq!(summary["organization_name"], "Renamed Inc.");
    assert_eq!(
        summary["first_name"], "Sandra",
        "a partial update keeps the rest"
    );
    c.call(
        Method::PUT,
        "/v3/account/summary",
        Some(json!({"contact_phone": "5".repeat(26)})),
        400,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

#[tokio::test]
async fn sms_contacts_and_resubscribe() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let lists = c.get("/v3/contact_lists").await;
    let list = str_of(&lists, "/lists/0/list_id").to_owned();

    // An SMS-only contact.
    let sms = json!({"full_sms_address": "17815550123", "sms_channel_consents": [
        {"sms_consent_permission": "explicit", "consent_type": "promotional_sms"}]});
    let created = c
        .call(
            Method::POST,
            "/v3/contacts",
            Some(
                json!({"sms_channel": sms, "first_name": "Texty", "create_source": "Contact",
                        "phone_numbers": [{"phone_number": "+1-781-555-0123", "kind": "mobile"}]}),
            ),
            201,
        )
        .await;
    let id = str_of(&created, "/contact_id").to_owned();
    assert!(created.get("email_address").is_none());
    assert_eq!(created["sms_channel"]["sms_address"], "7815550123");
    assert_eq!(created["sms_channel"]["dial_code"], "1");
    assert_eq!(
        created["sms_channel"]["sms_channel_consents"][0]["sms_consent_permission"],
        "explicit"
    );
    assert_eq!(created["phone_numbers"][0]["create_source"], "Contact");
    let explicit = c
        .all_pages("/v3/contacts?sms_status=explicit&limit=500", "contacts")
        .await;
    assert!(explicit.iter().any(|x| x["contact_id"] == id.as_str()));
    assert!(explicit.iter().all(|x| {
        x["sms_channel"]["sms_channel_consents"][0]["sms_consent_permission"] == "explicit"
    }));
    c.call(
        Method::POST,
        "/v3/contacts",
        Some(json!({"sms_channel": sms, "create_source": "Account"})),
        409,
    )
    .await;
    c.call(
        Method::POST,
        "/v3/contacts",
        Some(json!({"sms_channel": {"full_sms_address": "447700900123",
            "sms_channel_consents": [{"sms_consent_permission": "explicit", "consent_type": "promotional_sms"}]},
            "create_source": "Account"})),
        400,
    )
    .await;

    // A sign-up by SMS number finds the same contact; a PUT keeps track of who changed a phone.
    let signed = c
        .call(
            Method::POST,
            "/v3/contacts/sign_up_form",
            Some(json!({"list_memberships": [list], "email_address": "texty@example.com",
                        "sms_channel": {"sms_address": "7815550123", "dial_code": "1", "country_code": "US",
                                        "sms_channel_consents": [{"sms_consent_permission": "explicit",
                                            "consent_type": "promotional_sms", "consent_medium_type": "LF",
                                            "consent_medium_url": "https://example.com/form",
                                            "consent_medium_details": "Form"}]}})),
            200,
        )
        .await;
    assert_eq!(signed["contact_id"], id.as_str());
    assert_eq!(signed["action"], "updated");
    let put = c
        .call(
            Method::PUT,
            &format!("/v3/contacts/{id}"),
            Some(json!({"email_address": {"address": "texty@example.com"}, "update_source": "Account",
                        "phone_numbers": [{"phone_number": "+1-781-555-0123", "kind": "work"}]})),
            200,
        )
        .await;
    assert_eq!(put["phone_numbers"][0]["create_source"], "Contact");
    assert_eq!(put["phone_numbers"][0]["update_source"], "Account");
    assert_eq!(put["sms_channel"]["sms_address"], "7815550123", "kept");

    // An import row with only an SMS number makes an SMS-only contact.
    let import = c
        .call(
            Method::POST,
            "/v3/activities/contacts_json_import",
            Some(
                json!({"import_data": [{"sms_number": "617-555-0188", "first_name": "Imported"}],
                        "list_ids": [list], "sms_permission_to_send": "explicit"}),
            ),
            201,
        )
        .await;
    completed(&mut c, &import).await;
    let imported = c
        .all_pages("/v3/contacts?sms_status=explicit&limit=500", "contacts")
        .await;
    let imported = imported
        .iter()
        .find(|x| x["sms_channel"]["sms_address"] == "6175550188")
        .expect("the imported SMS contact");
    assert_eq!(imported["first_name"], "Imported");

    // Resubscribe: only an unsubscribed contact, and only once.
    let gone = c
        .call(
            Method::POST,
            "/v3/contacts",
            Some(json!({"email_address": {"address": "gone@example.com", "permission_to_send": "unsubscribed"},
                        "create_source": "Account"})),
            201,
        )
        .await;
    let gone = str_of(&gone, "/contact_id").to_owned();
    let both = c
        .all_pages(
            "/v3/contacts?status=unsubscribed,active&limit=500",
            "contacts",
        )
        .await;
    assert!(both.iter().any(|x| x["contact_id"] == gone.as_str()));
    let path = format!("/v3/contacts/resubscribe/{gone}");
    c.call(Method::PUT, &path, Some(json!({"list_ids": [list]})), 200)
        .await;
    let contact = c
        .get(&format!("/v3/contacts/{gone}?include=list_memberships"))
        .await;
    assert_eq!(
        contact["email_address"]["permission_to_send"],
        "pending_confirmation"
    );
    assert_eq!(contact["list_memberships"], json!([list]));
    c.call(Method::PUT, &path, Some(json!({"list_ids": [list]})), 409)
        .await;
    c.call(
        Method::PUT,
        &format!("/v3/contacts/resubscribe/{id}"),
        Some(json!({"list_ids": [list]})),
        400,
    )
    .await;
    c.call(
        Method::PUT,
        "/v3/contacts/resubscribe/00000000-0000-4000-8000-000000000000",
        Some(json!({"list_ids": [list]})),
        404,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

/// The operations of the spec the sandbox serves: those of issue 16's catalogue and the ones it
/// served before.
const SERVED: &[&str] = &[
    // Account.
    "getAccountById",
    "putCustomerById",
    "getPhysicalAddress",
    "addPhysicalAddress",
    "putPhysicalAddress",
    "retrieveEmailAddresses",
    "addAccountEmailAddress",
    "getUserPrivileges",
    // Contacts, lists, tags, custom fields, segments.
    "getContacts",
    "createContact",
    "getContact",
    "putContact",
    "deleteContact",
    "createOrUpdateContact",
    "countContact",
    "resubscribeContact",
    "getLists",
    "createList",
    "getList",
    "putList",
    "deleteListActivity",
    "getTags",
    "postTag",
    "getTag",
    "putTag",
    "deleteTag",
    "getCustomFields",
    "postCustomFields",
    "getCustomField",
    "putCustomField",
    "deleteCustomField",
    "getAccountSegments",
    "createSegment",
    "getSegmentDetail",
    "updateSegment",
    "updateSegmentName",
    "deleteSegment",
    // Bulk activities.
    "getActivityStatusCollection",
    "getActivity",
    "bulkImportContactsJSON",
    "contactsCSVImport",
    "postListAddContact",
    "postListRemoveContact",
    "postContactDelete",
    "postListDelete",
    "postTagAddContact",
    "postTagRemoveContact",
    "postTagDelete",
    "postCustomFieldDelete",
    "postContactsExport",
    "getContactsExport",
    // Email campaigns.
    "retrieveEmailCampaignsUsingGET",
    "createEmailCampaignUsingPOST",
    "retrieveEmailCampaignUsingGET",
    "renameEmailCampaignUsingPATCH",
    "removeEmailCampaignUsingDELETE",
    "retrieveEmailCampaignActivityUsingGET",
    "updateEmailCampaignActivityUsingPUT",
    "retrieveEmailSchedulesUsingGET",
    "scheduleEmailCampaignActivityUsingPOST",
    "unscheduleEmailCampaignActivityUsingDELETE",
    "testSendCampaignActivityUsingPOST",
    "retrieveEmailCampaignActivityPreviewUsingGET",
    "retrieveEmailSendHistoryUsingGET",
    "retrieveResendToNonOpenersUsingGET",
    "createResendToNonOpenersUsingPOST",
    "deleteResendToNonOpenersUsingDELETE",
    // Reporting.
    "getAllBulkEmailCampaignSummaries",
    "getEmailSummary",
    "getEmailCampaignActivitySummary",
    "getCampaignActivityLinkStats",
    "getSends",
    "getOpens",
    "getUniqueOpens",
    "getDidNotOpens",
    "getClicks",
    "getForwards",
    "getOptouts",
    "getBounces",
    "getContactTracking",
    "getContactTrackingCount",
    "getContactOpenClickRate",
    // Landing-page and SMS reports: served empty (the sandbox has no landing pages, sends no SMS).
    "getUniqueContactClicks",
    "getUniqueContactOpens",
    "getContactOpens",
    "getUniqueContactUpdates",
    "getContactAdds",
    "getUniqueContactSMSOptIns",
    "getAllBulkSmsCampaignSummaries",
    // A/B tests of a draft campaign's subject.
    "retrieveEmailCampaignABTestUsingGET",
    "createEmailCampaignABTestUsingPOST",
    "deleteEmailCampaignABTestUsingDELETE",
    // A contact's SMS consent history.
    "getSmsEngagementHistory",
    // Automation workflows.
    "listAutomations",
    "createAutomationCampaignUsingPost",
    "retrieveAutomationCampaignUsingGet",
    "updateAutomationCampaignUsingPut",
];

/// Every operation listed in [`SERVED`] exists in the spec and has a route in the sandbox: a
/// request to it (ids that do not exist, an empty JSON body) gets an answer of the operation, not
/// the unknown-route 404 or a 405.
#[tokio::test]
async fn every_catalogue_operation_has_a_route() {
    let spec = sandbox_api::spec();
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (verb, operation) in item.as_object().into_iter().flatten() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.push((id.to_owned(), verb.to_uppercase(), path.clone()));
            }
        }
    }
    let unknown: Vec<&&str> = SERVED
        .iter()
        .filter(|id| !operations.iter().any(|(op, _, _)| op == *id))
        .collect();
    assert!(
        unknown.is_empty(),
        "not operations of the spec: {unknown:?}"
    );

    let sandbox = start().await;
    let api = Api::new(&sandbox);
    for (id, verb, template) in operations
        .iter()
        .filter(|(id, _, _)| SERVED.contains(&id.as_str()))
    {
        let path: String = template
            .split('/')
            .map(|part| match part {
                "{segment_id}" => "1",
                p if p.starts_with('{') => "00000000-0000-4000-8000-000000000000",
                p => p,
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(verb.as_bytes()).expect("an HTTP verb");
        let body = (verb != "GET" && verb != "DELETE").then(|| json!({}));
        let reply = api.send(method, &format!("/v3{path}"), body.as_ref()).await;
        let unrouted = reply.status.as_u16() == 405
            || reply.json.pointer("/0/error_key") == Some(&json!("api.resource.not_found"));
        assert!(
            !unrouted,
            "{id} ({verb} {template}) has no route: {} {}",
            reply.status, reply.text
        );
    }
    sandbox.stop().await;
}
