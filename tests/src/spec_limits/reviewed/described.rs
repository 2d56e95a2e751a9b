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
];
