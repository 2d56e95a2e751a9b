//! Representative calls: Account, contacts, lists, tags, custom fields, segments and bulk activities.

use plugboard_core::HttpResponse;
use serde_json::json;

use super::*;

/// The representative calls of this area's methods.
pub(super) fn calls() -> Vec<Call> {
    vec![
        (
            "account.get_summary",
            json!({"extra_fields": ["physical_address", "company_logo"]}),
            vec![HttpResponse::json(
                200,
                &json!({"organization_name": "Acme"}),
            )],
        ),
        (
            "account.get_user_privileges",
            json!({}),
            vec![HttpResponse::json(
                200,
                &json!([{"privilege_id": 30, "privilege_name": "campaign:create"}]),
            )],
        ),
        (
            "contact_lists.list",
            json!({"name": "Customers", "status": "all", "include_membership_count": "active",
                "channel_type": "sms", "include_sms_membership_count": true}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "lists": [{"list_id": "l-1", "name": "Customers"}],
                        "_links": {"next": {"href": "/v3/contact_lists?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"lists": []})),
            ],
        ),
        (
            "contacts.list",
            json!({
                "status": ["active", "unsubscribed"],
                "email": "dlang@example.com",
                "lists": [LIST, LIST_2],
                // `segment_id` goes alone (see `a_segment_request_conforms_on_its_own`).
                "tags": [TAG],
                "updated_after": "2026-01-01T00:00:00.000Z",
                "updated_before": "2026-07-01T00:00:00.000Z",
                "created_after": "2025-01-01T00:00:00.000Z",
                "created_before": "2026-07-01T00:00:00.000Z",
                "optout_after": "2025-01-01T00:00:00.000Z",
                "optout_before": "2026-07-01T00:00:00.000Z",
                "sms_status": ["explicit"],
                "include": ["custom_fields", "list_memberships", "taggings"],
                "include_count": true
            }),
            vec![
                HttpResponse::json(202, &json!({"status": "processing"})),
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "contacts_count": 2,
                        "_links": {"next": {"href": "/v3/contacts?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"contacts": [contact()]})),
            ],
        ),
        (
            "contacts.get",
            json!({"contact_id": CONTACT, "include": ["phone_numbers", "street_addresses", "notes"]}),
            vec![HttpResponse::json(200, &contact())],
        ),
        (
            "contacts.create",
            json!({
                "create_source": "Account",
                "email_address": {"address": "dlang@example.com", "permission_to_send": "implicit"},
                "sms_channel": {"full_sms_address": "17815551212", "sms_channel_consents": [
                    {"sms_consent_permission": "explicit", "consent_type": "promotional_sms",
                        "consent_medium_details": "IPhone 13 device used to provide consent."}]},
                "first_name": "Debora",
                "last_name": "Lang",
                "job_title": "Musician",
                "company_name": "Acme Corp.",
                "birthday_month": 11,
                "birthday_day": 24,
                "anniversary": "2006-11-15",
                "custom_fields": [{"custom_field_id": FIELD, "value": "Tesla S 2017"}],
                "phone_numbers": [{"phone_number": "+1-555-555-5555", "kind": "mobile"}],
                "street_addresses": [{"kind": "home", "street": "123 Kashmir Valley Road",
                    "city": "Chicago", "state": "Illinois", "postal_code": "60609",
                    "country": "United States"}],
                "list_memberships": [LIST],
                "taggings": [TAG],
                "notes": [{"content": "Met at the fair."}]
            }),
            vec![HttpResponse::json(201, &contact())],
        ),
        (
            "contacts.update",
            json!({
                "contact_id": CONTACT,
                "update_source": "Contact",
                "email_address": {"address": "dlang@example.com", "permission_to_send": "explicit"},
                "sms_channel": {"full_sms_address": "17815551212", "sms_channel_consents": [
                    {"sms_consent_permission": "explicit", "consent_type": "promotional_sms",
                        "consent_medium_details": "Signed up at the counter."}]},
                "first_name": "Debora",
                "last_name": "Lang-Smith",
                "list_memberships": [LIST, LIST_2]
            }),
            vec![HttpResponse::json(200, &contact())],
        ),
        (
            "contacts.create_or_update",
            json!({
                "email_address": "jdodge@example.com",
                "sms_channel": {"sms_address": "7815551212", "dial_code": "1", "country_code": "US",
                    "sms_channel_consents": [{"sms_consent_permission": "pending_confirmation",
                        "consent_type": "promotional_sms", "consent_medium_type": "LF",
                        "consent_medium_url": "https://lp.constantcontactpages.com/su/iPtuMuh",
                        "consent_medium_details": "Contact used our landing page to consent to SMS.",
                        "advertised_frequency": 1, "advertised_interval": "weekly"}]},
                "list_memberships": [LIST],
                "first_name": "Jake",
                "last_name": "Dodge",
                "job_title": "Musician",
                "company_name": "Acme Corp.",
                "phone_number": "(555) 555-1212",
                "anniversary": "2006-11-15",
                "birthday_month": 11,
                "birthday_day": 24,
                "street_address": {"kind": "work", "street": "1601 Trapelo Rd", "city": "Waltham",
                    "state": "Massachusetts", "postal_code": "02451", "country": "United States"},
                "custom_fields": [{"custom_field_id": FIELD, "value": "Tesla S 2017"}]
            }),
            vec![HttpResponse::json(
                201,
                &json!({"contact_id": CONTACT, "action": "created"}),
            )],
        ),
        (
            "contacts.delete",
            json!({"contact_id": CONTACT}),
            vec![no_content()],
        ),
        (
            "contacts.counts",
            json!({"include_new_subscriber": true}),
            vec![HttpResponse::json(
                200,
                &json!({"total": 72, "explicit": 10, "implicit": 20, "pending": 30,
                    "unsubscribed": 12, "new_subscriber": 1}),
            )],
        ),
        (
            "contacts.poll_updated",
            json!({"cursor": "2026-01-01T00:00:00.000Z", "include": ["list_memberships"]}),
            vec![
                // Several pages of changes: the first page fixes the bound...
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "_links": {"next": {"href": "/v3/contacts?cursor=bGltaXQ9NTAw"}}
                    }),
                ),
                // ...the bounded walk reads up to it, page by page...
                HttpResponse::json(
                    200,
                    &json!({
                        "contacts": [contact()],
                        "_links": {"next": {"href": "/v3/contacts?cursor=Ym91bmRlZA"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"contacts": []})),
                // ...and the next round finds one page of later changes.
                HttpResponse::json(200, &json!({"contacts": []})),
            ],
        ),
        (
            "contact_lists.get",
            json!({"list_id": LIST, "include_membership_count": "all"}),
            vec![HttpResponse::json(200, &list())],
        ),
        (
            "contact_lists.create",
            json!({"name": "Customers", "favorite": true, "description": "Who bought"}),
            vec![HttpResponse::json(201, &list())],
        ),
        (
            "contact_lists.update",
            json!({"list_id": LIST, "name": "Customers 2026", "description": "Who bought"}),
            vec![HttpResponse::json(200, &list())],
        ),
        (
            "contact_lists.delete",
            json!({"list_id": LIST}),
            vec![HttpResponse::json(202, &activity("initialized"))],
        ),
        (
            "tags.list",
            json!({"include_count": true}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "tags": [{"tag_id": TAG, "name": "VIP", "contacts_count": 3}],
                        "_links": {"next": {"href": "/v3/contact_tags?cursor=dGFncz01MDA="}}
                    }),
                ),
                HttpResponse::json(200, &json!({"tags": []})),
            ],
        ),
        (
            "tags.create",
            json!({"name": "VIP", "tag_source": "Shopify"}),
            vec![HttpResponse::json(
                201,
                &json!({"tag_id": TAG, "name": "VIP"}),
            )],
        ),
        (
            "tags.update",
            json!({"tag_id": TAG, "name": "Very VIP"}),
            vec![HttpResponse::json(
                200,
                &json!({"tag_id": TAG, "name": "Very VIP"}),
            )],
        ),
        (
            "tags.delete",
            json!({"tag_id": TAG}),
            vec![HttpResponse::json(
                202,
                &json!({"activity_id": ACTIVITY, "state": "initialized",
                    "activity_errors": [{"message": "none yet"}]}),
            )],
        ),
        (
            "custom_fields.list",
            json!({}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "custom_fields": [custom_field()],
                        "_links": {"next": {"href": "/v3/contact_custom_fields?cursor=Y2Y9MTAw"}}
                    }),
                ),
                HttpResponse::json(200, &json!({"custom_fields": []})),
            ],
        ),
        (
            "custom_fields.create",
            json!({
                "label": "Favorite Fruit",
                "type": "single_select",
                "metadata": {"display_type": "radio"},
                "choices": [{"choice_label": "Apple", "display_order": 1},
                    {"choice_label": "Pear", "display_order": 2}]
            }),
            vec![HttpResponse::json(201, &custom_field())],
        ),
        (
            "custom_fields.update",
            json!({
                "custom_field_id": FIELD,
                "label": "Favourite Fruit",
                "choices": [{"choice_id": 1, "choice_label": "Apple", "display_order": 1},
                    {"choice_label": "Plum", "display_order": 3}]
            }),
            vec![HttpResponse::json(200, &custom_field())],
        ),
        (
            "custom_fields.delete",
            json!({"custom_field_id": FIELD}),
            vec![no_content()],
        ),
        (
            "segments.list",
            json!({"sort_by": "name"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({
                        "segments": [{"segment_id": 14, "name": "Engaged"}],
                        "_links": {"next": {"href": "/v3/segments?cursor=c2VnPTEwMDA="}}
                    }),
                ),
                HttpResponse::json(
                    200,
                    &json!({"segments": [], "_links": {"next": {"href": null}}}),
                ),
            ],
        ),
        (
            "segments.get",
            json!({"segment_id": 14}),
            vec![HttpResponse::json(
                200,
                &json!({"segment_id": 14, "name": "Engaged", "segment_criteria": "{}"}),
            )],
        ),
        (
            "account.update_summary",
            json!({"organization_phone": "555-0100", "contact_phone": "555-0101"}),
            vec![HttpResponse::json(
                200,
                &json!({"organization_name": "Acme", "organization_phone": "555-0100",
                    "contact_phone": "555-0101", "encoded_account_id": "p07e1l8cdif9dl"}),
            )],
        ),
        (
            "account.get_physical_address",
            json!({}),
            vec![HttpResponse::json(200, &physical_address())],
        ),
        (
            "account.add_physical_address",
            physical_address(),
            vec![HttpResponse::json(201, &physical_address())],
        ),
        (
            "account.update_physical_address",
            physical_address(),
            vec![HttpResponse::json(200, &physical_address())],
        ),
        (
            "account.list_emails",
            json!({"confirm_status": "CONFIRMED", "role_code": "CONTACT"}),
            vec![HttpResponse::json(
                200,
                &json!([{"email_address": "dlang@example.com", "email_id": 1,
                    "confirm_status": "CONFIRMED", "confirm_time": "2026-01-23T13:48:44.108Z",
                    "confirm_source_type": "SITE_OWNER", "roles": ["CONTACT"], "pending_roles": []}]),
            )],
        ),
        (
            "account.add_email",
            json!({"email_address": "news@example.com"}),
            vec![HttpResponse::json(
                201,
                &json!({"email_address": "news@example.com", "email_id": 2,
                    "confirm_status": "UNCONFIRMED"}),
            )],
        ),
        (
            "bulk.add_tags",
            json!({"source": {"contact_ids": [CONTACT]}, "tag_ids": [TAG]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.remove_tags",
            json!({"source": {"list_ids": [LIST]}, "tag_ids": [TAG], "exclude_contact_ids": [CONTACT]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.delete_tags",
            json!({"tag_ids": [TAG]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.delete_lists",
            json!({"list_ids": [LIST, LIST_2]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.delete_custom_fields",
            json!({"custom_field_ids": [FIELD]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.list_activities",
            json!({"state": "completed"}),
            vec![
                HttpResponse::json(
                    200,
                    &json!({"activities": [activity("completed")],
                        "_links": {"next": {"href": "/v3/activities?next=bGltaXQ9NTAw"}}}),
                ),
                HttpResponse::json(200, &json!({"activities": []})),
            ],
        ),
        (
            "bulk.export_contacts",
            json!({"list_ids": [LIST], "fields": ["email_address", "first_name"], "status": "active"}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.download_export",
            json!({"file_export_id": ACTIVITY}),
            vec![HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "text/csv".into())],
                body: "email_address,first_name\ndlang@example.com,Debora\n\"x@example.com\",\"A, B\"\n"
                    .into(),
            }],
        ),
        (
            "contacts.sms_engagement_history",
            json!({"contact_id": CONTACT}),
            vec![HttpResponse::json(
                200,
                &json!([{"contact_id": CONTACT, "sms_channel_id": "3fa85f64-5712-6245-b3fc-2c963f66bfc6",
                    "sms_channel_history_id": "04515cb3-17be-41e4-823a-f71c3d381c7b",
                    "insert_time": "2026-03-03T10:53:04-05:00",
                    "history_details": {"state": "explicit", "source": "Contact",
                        "consent_type": "promotional_sms", "consent_action_type": "opt_in",
                        "consent_action_time": "2026-03-03T10:53:04-05:00",
                        "consent_medium_type": "SMS", "source_sms_number": "15085551212"}}]),
            )],
        ),
        (
            "segments.create",
            json!({"name": "Engaged", "segment_criteria": SEGMENT_CRITERIA}),
            vec![HttpResponse::json(201, &segment_detail())],
        ),
        (
            "segments.update",
            json!({"segment_id": 14, "name": "Engaged", "segment_criteria": SEGMENT_CRITERIA}),
            vec![HttpResponse::json(200, &segment_detail())],
        ),
        (
            "segments.rename",
            json!({"segment_id": 14, "name": "Engaged readers"}),
            vec![HttpResponse::json(200, &segment_detail())],
        ),
        (
            "segments.delete",
            json!({"segment_id": 14}),
            vec![no_content()],
        ),
        (
            "tags.get",
            json!({"tag_id": TAG, "include_count": true}),
            vec![HttpResponse::json(
                200,
                &json!({"tag_id": TAG, "name": "VIP", "contacts_count": 3,
                    "created_at": "2026-01-23T13:48:44.108Z"}),
            )],
        ),
        (
            "custom_fields.get",
            json!({"custom_field_id": FIELD}),
            vec![HttpResponse::json(200, &custom_field())],
        ),
        (
            "contacts.resubscribe",
            json!({"contact_id": CONTACT, "list_ids": [LIST]}),
            vec![HttpResponse::json(200, &json!({}))],
        ),
        (
            "bulk.import_contacts",
            json!({
                "contacts": [
                    {"email": "a@example.com", "first_name": "Ann", "phone": "555-0100",
                        "street": "1 Main St", "city": "Waltham", "zip": "02451",
                        "custom_fields": {"favorite_fruit": "Apple"}},
                    {"email": "b@example.com", "work_city": "Boston", "birthday_month": 2,
                        "birthday_day": 3}
                ],
                "list_ids": [LIST],
                "wait": true
            }),
            vec![
                HttpResponse::json(201, &activity("initialized")),
                HttpResponse::json(200, &activity("processing")),
                HttpResponse::json(200, &activity("completed")),
            ],
        ),
        (
            "bulk.import_contacts_csv",
            json!({
                "rows": [
                    {"email": "a@example.com", "first_name": "Ann", "phone": "555-0100",
                        "street": "1 Main St", "city": "Waltham", "zip": "02451",
                        "cf:favorite_fruit": "Apple"},
                    {"sms_number": "5555550100", "email": "", "birthday_month": 2,
                        "birthday_day": 3, "sms_consent_date": "2026-01-02"}
                ],
                "list_ids": [LIST, LIST_2],
                "sms_permission_to_send": "explicit",
                "wait": true
            }),
            vec![
                HttpResponse::json(201, &activity("initialized")),
                HttpResponse::json(200, &activity("completed")),
            ],
        ),
        (
            "bulk.add_to_lists",
            json!({"source": {"list_ids": [LIST]}, "list_ids": [LIST_2],
                "exclude_contact_ids": [CONTACT]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.remove_from_lists",
            json!({"source": {"contact_ids": [CONTACT]}, "list_ids": [LIST]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.delete_contacts",
            json!({"contact_ids": [CONTACT]}),
            vec![HttpResponse::json(201, &activity("initialized"))],
        ),
        (
            "bulk.get_activity",
            json!({"activity_id": ACTIVITY}),
            vec![HttpResponse::json(200, &activity("processing"))],
        ),
        (
            "bulk.wait_for_activity",
            json!({"activity_id": ACTIVITY, "timeout_secs": 120}),
            vec![
                HttpResponse::json(200, &activity("processing")),
                HttpResponse::json(200, &activity("completed")),
            ],
        ),
    ]
}

/// Criteria of a segment, as the API's escaped JSON text.
const SEGMENT_CRITERIA: &str = r#"{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"not_opened","op":"contains-any","const_value":"last-n-campaigns","param":"5"}]}}"#;

/// A segment with its criteria, as the API returns it.
fn segment_detail() -> serde_json::Value {
    json!({"segment_id": 14, "name": "Engaged", "segment_criteria": SEGMENT_CRITERIA,
        "created_at": "2026-01-23T13:48:44.108Z", "edited_at": "2026-02-01T09:00:00.000Z"})
}

/// The organization's address, as the API takes and returns it.
fn physical_address() -> serde_json::Value {
    json!({"address_line1": "123 Maple Street", "address_line2": "Unit 1", "city": "Boston",
        "state_code": "MA", "postal_code": "02101", "country_code": "US"})
}
