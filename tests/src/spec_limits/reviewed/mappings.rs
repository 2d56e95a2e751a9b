//! Where a method's input carries a request field under another name or place.

use super::Mapping;

/// A replacement that has a street address and a custom field to break.
const CONTACT_UPDATE_BASE: &str = r#"{"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "update_source": "Account",
            "email_address": {"address": "dlang@example.com"}, "street_addresses": [{"kind": "home"}],
            "custom_fields": [{"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1"}]}"#;

/// Shorthand for a mapping.
const fn map(method: &'static str, location: &'static str, input: &'static str) -> Mapping {
    Mapping {
        method,
        location,
        input,
        base: None,
    }
}

/// Shorthand for a mapping that breaks another input than the representative call's.
const fn map_from(
    method: &'static str,
    location: &'static str,
    input: &'static str,
    base: &'static str,
) -> Mapping {
    Mapping {
        method,
        location,
        input,
        base: Some(base),
    }
}

/// The reviewed hand mappings.
pub const MAPPINGS: &[Mapping] = &[
    map_from(
        "contacts.update",
        "putContact body /street_addresses",
        "/street_addresses",
        CONTACT_UPDATE_BASE,
    ),
    map_from(
        "contacts.update",
        "putContact body /custom_fields",
        "/custom_fields",
        CONTACT_UPDATE_BASE,
    ),
    map(
        "emails.create",
        "createEmailCampaignUsingPOST body /email_campaign_activities",
        "/email",
    ),
    map_from(
        "bulk.add_tags",
        "postTagAddContact body /source/contact_ids",
        "/source/contact_ids",
        r#"{"source": {"contact_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.add_tags",
        "postTagAddContact body /source/list_ids",
        "/source/list_ids",
        r#"{"source": {"list_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.add_tags",
        "postTagAddContact body /source/tag_ids",
        "/source/tag_ids",
        r#"{"source": {"tag_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.remove_tags",
        "postTagRemoveContact body /source/contact_ids",
        "/source/contact_ids",
        r#"{"source": {"contact_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.remove_tags",
        "postTagRemoveContact body /source/list_ids",
        "/source/list_ids",
        r#"{"source": {"list_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.remove_tags",
        "postTagRemoveContact body /source/tag_ids",
        "/source/tag_ids",
        r#"{"source": {"tag_ids": []}, "tag_ids": ["e7ddac60-51da-11eb-b3a4-fa163e6b01c1"]}"#,
    ),
    map_from(
        "bulk.add_to_lists",
        "postListAddContact body /source/contact_ids",
        "/source/contact_ids",
        r#"{"source": {"contact_ids": []}, "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"]}"#,
    ),
    map_from(
        "bulk.add_to_lists",
        "postListAddContact body /source/list_ids",
        "/source/list_ids",
        r#"{"source": {"list_ids": []}, "list_ids": ["07936f78-662a-11eb-af0a-fa163e56c9b0"]}"#,
    ),
    map(
        "bulk.import_contacts",
        "bulkImportContactsJSON body /import_data/*/cf:custom_field_name",
        "/contacts/0/custom_fields/favorite_fruit",
    ),
    map(
        "bulk.import_contacts",
        "bulkImportContactsJSON body /import_data/*",
        "/contacts/0",
    ),
    map(
        "emails.create",
        "createEmailCampaignUsingPOST body /email_campaign_activities/*",
        "/email",
    ),
    map(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /from_email",
        "/email/from_email",
    ),
    map(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /from_name",
        "/email/from_name",
    ),
    map(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /reply_to_email",
        "/email/reply_to_email",
    ),
    map(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /subject",
        "/email/subject",
    ),
    map(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /physical_address_in_footer",
        "/email/physical_address_in_footer",
    ),
    map(
        "reports.email_bounces",
        "getBounces query bounce_code",
        "/bounce_codes",
    ),
    map(
        "reports.contact_activity_details",
        "getContactTracking query tracking_activities_list",
        "/tracking_activities",
    ),
];
