//! The limits the spec states only in its descriptions, quoted, and how each is held.

use super::{Check, Described, Reason};

/// The limits the spec states only in its descriptions, on operations the methods cover.
pub const DESCRIBED: &[Described] = &[
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "Each contact can contain up to 25 custom fields.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "contacts": [{"email": "a@example.com", "custom_fields":
                {"f0": "x", "f1": "x", "f2": "x", "f3": "x", "f4": "x", "f5": "x", "f6": "x",
                 "f7": "x", "f8": "x", "f9": "x", "f10": "x", "f11": "x", "f12": "x", "f13": "x",
                 "f14": "x", "f15": "x", "f16": "x", "f17": "x", "f18": "x", "f19": "x",
                 "f20": "x", "f21": "x", "f22": "x", "f23": "x", "f24": "x", "f25": "x"}}]}"#,
            field: "/contacts/0/custom_fields",
        },
    },
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "For each contact, you can import up to three addresses and three phone numbers.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "contacts": [{"email": "a@example.com", "phone": "1",
                "home_phone": "2", "work_phone": "3", "other_phone": "4"}]}"#,
            field: "/contacts/0",
        },
    },
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "For each contact, you can import up to three addresses and three phone numbers.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "contacts": [{"email": "a@example.com", "city": "A",
                "home_city": "B", "work_city": "C", "other_city": "D"}]}"#,
            field: "/contacts/0",
        },
    },
    Described {
        method: "bulk.add_tags",
        location: "postTagAddContact description",
        quote: "If the source is `all_active_contacts` or `list_ids`, you can optionally choose to `exclude` contacts by `contact_id`.",
        check: Check::Refuses {
            input: r#"{"source": {"contact_ids": ["c-1"]}, "tag_ids": ["t-1"],
                "exclude_contact_ids": ["c-2"]}"#,
            field: "/exclude_contact_ids",
        },
    },
    Described {
        method: "bulk.add_tags",
        location: "postTagAddContact description",
        quote: "Source criteria are mutually exclusive.",
        check: Check::Refuses {
            input: r#"{"source": {"contact_ids": ["c-1"], "list_ids": ["l-1"]}, "tag_ids": ["t-1"]}"#,
            field: "/source",
        },
    },
    Described {
        method: "bulk.remove_tags",
        location: "postTagRemoveContact description",
        quote: "If the specified source is either `all_active_contacts` or `list_ids`, you can optionally choose to `exclude` specified contacts by `contact_id`.",
        check: Check::Refuses {
            input: r#"{"source": {"tag_ids": ["t-9"]}, "tag_ids": ["t-1"],
                "exclude_contact_ids": ["c-2"]}"#,
            field: "/exclude_contact_ids",
        },
    },
    Described {
        method: "bulk.remove_from_lists",
        location: "postListRemoveContact description",
        quote: "if the source is `all_active_contacts` (billable) or `list_ids`, use the `exclude` object to exclude specific contacts",
        check: Check::Refuses {
            input: r#"{"source": {"contact_ids": ["c-1"]}, "list_ids": ["l-1"],
                "exclude_contact_ids": ["c-2"]}"#,
            field: "/exclude_contact_ids",
        },
    },
    Described {
        method: "bulk.remove_from_lists",
        location: "postListRemoveContact body /source/contact_ids",
        quote: "Include up to 500 <code>contact_id</code> values",
        check: Check::Refuses {
            input: r#"{"source": {"contact_ids": {"$repeat": ["c-1", 501]}}, "list_ids": ["l-1"]}"#,
            field: "/source/contact_ids",
        },
    },
    Described {
        method: "bulk.remove_from_lists",
        location: "postListRemoveContact body /source/list_ids",
        quote: "Include up to 50 <code>list_id</code> values",
        check: Check::Refuses {
            input: r#"{"source": {"list_ids": {"$repeat": ["l-1", 51]}}, "list_ids": ["l-2"]}"#,
            field: "/source/list_ids",
        },
    },
    Described {
        method: "bulk.remove_from_lists",
        location: "postListRemoveContact body /list_ids",
        quote: "Specify up to 50 target <code>list_id</code>s",
        check: Check::Refuses {
            input: r#"{"source": {"contact_ids": ["c-1"]}, "list_ids": {"$repeat": ["l-1", 51]}}"#,
            field: "/list_ids",
        },
    },
    Described {
        method: "bulk.add_to_lists",
        location: "postListAddContact description",
        quote: "Each contact can be a member of up to 50 lists.",
        check: Check::Excepted(
            Reason::AccountState,
            "how many lists each source contact is on already is the account's state; the input \
             itself holds at most 50 target lists (its schema)",
        ),
    },
    Described {
        method: "emails.create_resend",
        location: "createResendToNonOpenersUsingPOST body /delay_minutes",
        quote: "Valid values includes a minimum of <code>720</code> (12 hours) and a maximum of <code>14,400</code> minutes (10 days).",
        check: Check::Refuses {
            input: r#"{"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10",
                "resend_subject": "Again", "delay_minutes": 719}"#,
            field: "/delay_minutes",
        },
    },
    Described {
        method: "bulk.export_contacts",
        location: "postContactsExport body /exclude/contact_ids",
        quote: "Excludes up to 50 specified contacts",
        check: Check::Excepted(
            Reason::NotExposed,
            "the method's input has no `exclude`: an export takes one kind of source",
        ),
    },
    Described {
        method: "custom_fields.create",
        location: "postCustomFields body /metadata/integer",
        quote: "If the <code>integer</code> is set to <code>false</code>, the <code>decimal_places</code> must be between 1 and 4.",
        check: Check::Refuses {
            input: r#"{"label": "Price", "type": "currency",
                "metadata": {"integer": false, "decimal_places": 5}}"#,
            field: "/metadata/decimal_places",
        },
    },
    Described {
        method: "custom_fields.create",
        location: "postCustomFields body /choices",
        quote: "Maximum number of elements for <code>checkbox</code> and <code>radio</code> display types is 20.",
        check: Check::Refuses {
            input: r#"{"label": "Fruit", "type": "single_select", "metadata": {"display_type": "radio"},
                "choices": {"$repeat": [{"choice_label": "Apple"}, 21]}}"#,
            field: "/choices",
        },
    },
    Described {
        method: "custom_fields.update",
        location: "putCustomField body /choices",
        quote: "Maximum number of elements for <code>checkbox</code> and <code>radio</code> display types is 20.",
        check: Check::Excepted(
            Reason::AccountState,
            "the field's display type is the account's state (an update's input does not carry \
             it); the input itself holds at most 100 choices (its schema), the dropdown limit",
        ),
    },
    Described {
        method: "bulk.delete_contacts",
        location: "postContactDelete description",
        quote: "Contacts to delete are specified by contact_id (up to 500), or by list_id (up to 50 lists)",
        check: Check::Refuses {
            input: r#"{"contact_ids": ["c-1"], "list_ids": ["l-1"]}"#,
            field: "/contact_ids",
        },
    },
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "A contact's data must include an `email` address and/or `sms_number`.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "contacts": [{"first_name": "Ann"}]}"#,
            field: "/contacts/0",
        },
    },
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "Valid formats are <code>1231231234</code> or <code>123-123-1234</code> (the country code must be valid).",
        check: Check::Excepted(
            Reason::ApiJudges,
            "whether a number's country code is valid only the API knows; the import reports the contact it refuses among the activity's errors",
        ),
    },
    Described {
        method: "bulk.import_contacts",
        location: "bulkImportContactsJSON description",
        quote: "The request body payload has a maximum size of 4 megabytes (MB).",
        check: Check::Excepted(
            Reason::SetByMethod,
            "the method splits the contacts into imports under 4,000,000 bytes each (`MAX_IMPORT_BODY_BYTES`), so no body it sends is larger",
        ),
    },
    Described {
        method: "bulk.delete_lists",
        location: "postListDelete description",
        quote: "Use this endpoint to delete up to 100 contact lists in an account.",
        check: Check::Refuses {
            input: r#"{"list_ids": {"$repeat": ["l-1", 101]}}"#,
            field: "/list_ids",
        },
    },
    Described {
        method: "bulk.delete_tags",
        location: "postTagDelete description",
        quote: "deletes up to 500 tags.",
        check: Check::Refuses {
            input: r#"{"tag_ids": {"$repeat": ["t-1", 501]}}"#,
            field: "/tag_ids",
        },
    },
    Described {
        method: "bulk.delete_custom_fields",
        location: "postCustomFieldDelete description",
        quote: "Use this endpoint to delete up to 100 custom fields for an account.",
        check: Check::Refuses {
            input: r#"{"custom_field_ids": {"$repeat": ["f-1", 101]}}"#,
            field: "/custom_field_ids",
        },
    },
    Described {
        method: "bulk.remove_tags",
        location: "postTagRemoveContact description",
        quote: "Filtering criteria must include the `source` type",
        check: Check::Excepted(
            Reason::SetByMethod,
            "`source` is required by the input schema (the spec says it too, as `required`, which the keyword audit checks)",
        ),
    },
    Described {
        method: "segments.create",
        location: "createSegment description",
        quote: "The segment `name` must be unique.",
        check: Check::Excepted(
            Reason::AccountState,
            "which names are taken is the account's state; the API answers 409, which the method reports as `already_exists`",
        ),
    },
    Described {
        method: "segments.update",
        location: "updateSegment description",
        quote: "The segment's name must be unique",
        check: Check::Excepted(
            Reason::AccountState,
            "which names are taken is the account's state; the API's answer says so",
        ),
    },
    Described {
        method: "contacts.update",
        location: "putContact description",
        quote: "You must include the `update_source` property in the PUT request payload.",
        check: Check::Refuses {
            input: r#"{"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "email_address": {"address": "a@example.com"}}"#,
            field: "/update_source",
        },
    },
    Described {
        method: "contacts.create",
        location: "createContact description",
        quote: "You must include the `create_source` property",
        check: Check::Refuses {
            input: r#"{"email_address": {"address": "a@example.com"}}"#,
            field: "/create_source",
        },
    },
    Described {
        method: "custom_fields.create",
        location: "postCustomFields description",
        quote: "A user can configure up to 100 `custom_fields` in their account.",
        check: Check::Excepted(
            Reason::AccountState,
            "how many custom fields the account has is its state; the API's answer says when it is full",
        ),
    },
    Described {
        method: "tags.update",
        location: "putTag description",
        quote: "The maximum length is 255 characters.",
        check: Check::Refuses {
            input: r#"{"tag_id": "t-1", "name": {"$repeat": ["x", 256]}}"#,
            field: "/name",
        },
    },
    Described {
        method: "tags.update",
        location: "putTag description",
        quote: "The `tag_source` value cannot be updated using this method.",
        check: Check::Excepted(
            Reason::NotExposed,
            "the method's input has no `tag_source`: it renames a tag, nothing else",
        ),
    },
    Described {
        method: "tags.create",
        location: "postTag description",
        quote: "The tag `name` is required and must be unique",
        check: Check::Excepted(
            Reason::AccountState,
            "which names are taken is the account's state; the API answers 409 (`already_exists`); `name` is required by the input schema",
        ),
    },
    Described {
        method: "emails.create",
        location: "createEmailCampaignUsingPOST description",
        quote: "Custom HTML must include a tracking image (`[[trackingImage]]`) in the email body in order for Constant Contact to report on the email performance.",
        check: Check::Excepted(
            Reason::Advice,
            "the API creates the campaign without it, only without open tracking; the input's description says to include it",
        ),
    },
    Described {
        method: "emails.create",
        location: "createEmailCampaignUsingPOST description",
        quote: "The `name` must be unique.",
        check: Check::Excepted(
            Reason::AccountState,
            "which names are taken is the account's state; the API answers 409 (`already_exists`)",
        ),
    },
    Described {
        method: "emails.rename",
        location: "renameEmailCampaignUsingPATCH description",
        quote: "The name must be unique and cannot exceed 80 characters.",
        check: Check::Refuses {
            input: r#"{"campaign_id": "c-1", "name": {"$repeat": ["x", 81]}}"#,
            field: "/name",
        },
    },
    Described {
        method: "emails.send_test",
        location: "testSendCampaignActivityUsingPOST description",
        quote: "You can send up to 50 test emails each day.",
        check: Check::Excepted(
            Reason::AccountState,
            "how many test emails went out today is the account's state; the API's answer says when none are left",
        ),
    },
    Described {
        method: "emails.create_resend",
        location: "createResendToNonOpenersUsingPOST description",
        quote: "(properties are mutually exclusive)",
        check: Check::Refuses {
            input: r#"{"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "resend_subject": "Again", "delay_days": 2, "delay_minutes": 1440}"#,
            field: "/delay_minutes",
        },
    },
    Described {
        method: "emails.create_resend",
        location: "createResendToNonOpenersUsingPOST description",
        quote: "a maximum of up to 10 days (or 10 x 1440 minutes) after the initial send date.",
        check: Check::Refuses {
            input: r#"{"campaign_activity_id": "8ca7e9c8-7d27-4b2e-9b0a-2b8a4a1c3f10", "resend_subject": "Again", "delay_minutes": 14401}"#,
            field: "/delay_minutes",
        },
    },
    Described {
        method: "reports.contact_activity_details",
        location: "getContactTracking description",
        quote: "The `tracking_activities_list` and `tracking_activities_type` query parameters are mutually exclusive.",
        check: Check::Excepted(
            Reason::SetByMethod,
            "the method sends only `tracking_activities_list`; its input has no way to give the other",
        ),
    },
    Described {
        method: "reports.contact_open_and_click_rates",
        location: "getContactOpenClickRate description",
        quote: "Range cannot exceed 5 years.",
        check: Check::Refuses {
            input: r#"{"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}"#,
            field: "/end",
        },
    },
    Described {
        method: "contacts.create",
        location: "createContact description",
        quote: "You must include the `create_source` property and at least one of the following properties: `first_name`, `last_name`, a unique `email_address` (specified using the `EmailAddress` object), or the `sms_channel` property",
        check: Check::Refuses {
            input: r#"{"create_source": "Account", "job_title": "Musician"}"#,
            field: "/email_address",
        },
    },
    Described {
        method: "contacts.create_or_update",
        location: "createOrUpdateContact description",
        quote: "this method requires including the `list_memberships` array as well as either the contact's `email_address` string or `sms_channel` object",
        check: Check::Refuses {
            input: r#"{"list_memberships": ["l-1"], "first_name": "Ann"}"#,
            field: "/email_address",
        },
    },
    Described {
        method: "bulk.import_contacts_csv",
        location: "contactsCSVImport description",
        quote: "The CSV file has a maximum of 40,000 lines including the header row (39,999 contacts) and a maximum file size of 4 megabytes (MB).",
        check: Check::Excepted(
            Reason::SetByMethod,
            "the method writes the rows into files of at most 39,999 rows under 4,000,000 bytes each (`MAX_ROWS_PER_CSV_IMPORT`, `MAX_IMPORT_BODY_BYTES`), so no file it sends is larger",
        ),
    },
    Described {
        method: "bulk.import_contacts_csv",
        location: "contactsCSVImport description",
        quote: "Contacts must have either an email address or an SMS number defined.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "rows": [{"email": "a@example.com"}, {"first_name": "Ann"}]}"#,
            field: "/rows/1",
        },
    },
    Described {
        method: "bulk.import_contacts_csv",
        location: "contactsCSVImport description",
        quote: "Importing contacts with `sms_number`s requires using the `sms_permission_to_send` parameter",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "rows": [{"sms_number": "5555550100"}]}"#,
            field: "/sms_permission_to_send",
        },
    },
    Described {
        method: "bulk.import_contacts_csv",
        location: "contactsCSVImport description",
        quote: "If `explicit`, you must also include the `sms_consent_date` as a column header",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "sms_permission_to_send": "explicit", "rows": [{"sms_number": "5555550100"}]}"#,
            field: "/rows/0/sms_consent_date",
        },
    },
    Described {
        method: "bulk.import_contacts_csv",
        location: "contactsCSVImport formData file",
        quote: "Each contact can contain up to 25 different custom fields.",
        check: Check::Refuses {
            input: r#"{"list_ids": ["l-1"], "rows": [{"email": "a@example.com", "cf:f0": "x",
                "cf:f1": "x", "cf:f2": "x", "cf:f3": "x", "cf:f4": "x", "cf:f5": "x", "cf:f6": "x",
                "cf:f7": "x", "cf:f8": "x", "cf:f9": "x", "cf:f10": "x", "cf:f11": "x",
                "cf:f12": "x", "cf:f13": "x", "cf:f14": "x", "cf:f15": "x", "cf:f16": "x",
                "cf:f17": "x", "cf:f18": "x", "cf:f19": "x", "cf:f20": "x", "cf:f21": "x",
                "cf:f22": "x", "cf:f23": "x", "cf:f24": "x", "cf:f25": "x"}]}"#,
            field: "/rows/0",
        },
    },
];
