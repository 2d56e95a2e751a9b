//! The reviewed half of the limits audit: where a method's input does not mirror the request
//! (hand mappings), and the limits no method checks, each with its reason (exceptions).

use crate::spec_limits::Constraint;

/// Why a limit of the spec is not checked by a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// The spec marks the field `readOnly`: the API sets it, a request never carries it.
    ReadOnly,
    /// The method's input does not expose this field.
    NotExposed,
    /// The method sets the field itself, within the limit.
    SetByMethod,
    /// The request never carries the field as the spec spells it.
    NotSent,
    /// The limit is on what the account holds (e.g. how many lists a contact is already on),
    /// which the input does not show; the API's own answer says it.
    AccountState,
}

/// A limit the spec states only in words, quoted, and how it is held.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    /// The method's id.
    pub method: &'static str,
    /// Where the words are: `operation description` for the operation's own description, or
    /// `operation place field` for a parameter's or body field's.
    pub location: &'static str,
    /// The spec's words (whitespace normalised), which the audit finds at `location`.
    pub quote: &'static str,
    /// How the method holds it.
    pub check: Check,
}

/// How a method holds a limit stated in words.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// It refuses `input` (JSON; `{"$repeat": [value, n]}` stands for `n` copies of `value`)
    /// before sending, naming the field at the JSON pointer `field`.
    Refuses {
        /// The violating input.
        input: &'static str,
        /// Where the error must point.
        field: &'static str,
    },
    /// It does not check it, for this reason.
    Excepted(Reason, &'static str),
}

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

/// Why every list method leaves `limit` alone: it pages with its own page size.
const PAGES_ITSELF: &str = "the method pages with its own page size, within the limit (the spec \
     test checks the value it sends against the spec's maximum)";
/// Why the SMS channel's limits are not checked.
const NO_SMS_CHANNEL: &str = "the method's input has no `sms_channel` yet (SMS fields on contacts \
     are issue 16, item 1); the request never carries one";

/// A replacement that has a street address and a custom field to break.
const CONTACT_UPDATE_BASE: &str = r#"{"contact_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "update_source": "Account",
            "email_address": {"address": "dlang@example.com"}, "street_addresses": [{"kind": "home"}],
            "custom_fields": [{"custom_field_id": "6e7cd1d0-3e2a-11eb-b3a4-fa163e6b01c1"}]}"#;

/// Shorthand for an exception.
const fn except(
    method: &'static str,
    location: &'static str,
    keyword: &'static str,
    reason: Reason,
    why: &'static str,
) -> Exception {
    Exception {
        method,
        location,
        keyword,
        reason,
        why,
    }
}

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

/// One limit no method checks, and why.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    /// The method's id, or `*` for every method claiming the operation.
    pub method: &'static str,
    /// `operation place field` as [`Constraint::location`] writes it.
    pub location: &'static str,
    /// The keyword, or `*` for every limit on that field.
    pub keyword: &'static str,
    /// The kind of reason.
    pub reason: Reason,
    /// The reason, in a sentence specific to this field.
    pub why: &'static str,
}

/// A method input that carries a request field under another name or place.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The method's id.
    pub method: &'static str,
    /// `operation place field` as [`Constraint::location`] writes it; it also maps every field
    /// under it (`… body /import_data/*` maps `… body /import_data/*/city`).
    pub location: &'static str,
    /// The JSON pointer of the field in the method's input (array items at index 0); a field
    /// under `location` goes under it the same way.
    pub input: &'static str,
    /// The input to break instead of the representative call's, as JSON, where that one cannot
    /// carry the field (e.g. a source that is one of several shapes).
    pub base: Option<&'static str>,
}

impl Mapping {
    /// The input pointer for a constraint at `location`, when this mapping covers it.
    pub fn pointer_for(&self, location: &str) -> Option<String> {
        let rest = location.strip_prefix(self.location)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        Some(format!("{}{}", self.input, rest.replace("/*", "/0")))
    }
}

/// The index of the exception that covers `constraint` on `method`, if any.
pub fn exception(method: &str, constraint: &Constraint) -> Option<usize> {
    let location = constraint.location();
    EXCEPTIONS.iter().position(|e| {
        (e.method == "*" || e.method == method)
            && e.location == location
            && (e.keyword == "*" || e.keyword == constraint.keyword)
    })
}

/// The index of the mapping of `constraint`'s field on `method`, if any.
pub fn mapping(method: &str, constraint: &Constraint) -> Option<usize> {
    let location = constraint.location();
    // The most specific mapping wins.
    MAPPINGS
        .iter()
        .enumerate()
        .filter(|(_, m)| m.method == method && m.pointer_for(&location).is_some())
        .max_by_key(|(_, m)| m.location.len())
        .map(|(index, _)| index)
}

/// The reviewed exceptions.
pub const EXCEPTIONS: &[Exception] = &[
    except(
        "bulk.import_contacts",
        "bulkImportContactsJSON body /import_data/*/home country",
        "*",
        Reason::NotSent,
        "the spec spells this key `home country`, with a space, unlike `work_country` and \
         `other_country`; the method sends `home_country`, whose input carries the same limit \
         of 50 characters in its schema",
    ),
    except(
        "emails.create",
        "createEmailCampaignUsingPOST body /email_campaign_activities/*/format_type",
        "required",
        Reason::SetByMethod,
        "`format_type` defaults to 5 (custom code HTML) when the input leaves it out",
    ),
    except(
        "bulk.list_activities",
        "getActivityStatusCollection query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "contact_lists.list",
        "getLists query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "contacts.list",
        "getContacts query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "contacts.poll_updated",
        "getContacts query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "custom_fields.list",
        "getCustomFields query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.contact_activity_details",
        "getContactTracking query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_bounces",
        "getBounces query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_clicks",
        "getClicks query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_did_not_opens",
        "getDidNotOpens query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_forwards",
        "getForwards query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_opens",
        "getOpens query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_opt_outs",
        "getOptouts query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_sends",
        "getSends query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "reports.email_unique_opens",
        "getUniqueOpens query limit",
        "*",
        Reason::SetByMethod,
        PAGES_ITSELF,
    ),
    except(
        "tags.list",
        "getTags query limit",
        "*",
        Reason::SetByMethod,
        "the method pages with 500 a page itself; (the spec states `minLength`/`maxLength` on this integer, meaning 1-500)",
    ),
    except(
        "contacts.poll_updated",
        "getContacts query lists",
        "*",
        Reason::NotExposed,
        "the poll trigger reads every contact changed since its cursor; its input has no filters",
    ),
    except(
        "contacts.poll_updated",
        "getContacts query segment_id",
        "*",
        Reason::NotExposed,
        "the poll trigger reads every contact changed since its cursor; its input has no filters",
    ),
    except(
        "contacts.poll_updated",
        "getContacts query sms_status",
        "*",
        Reason::NotExposed,
        "the poll trigger reads every contact changed since its cursor; its input has no filters",
    ),
    except(
        "contacts.poll_updated",
        "getContacts query status",
        "*",
        Reason::NotExposed,
        "the poll trigger reads every contact changed since its cursor; its input has no filters",
    ),
    except(
        "contacts.poll_updated",
        "getContacts query tags",
        "*",
        Reason::NotExposed,
        "the poll trigger reads every contact changed since its cursor; its input has no filters",
    ),
    except(
        "contact_lists.list",
        "getLists query channel_type",
        "*",
        Reason::NotExposed,
        "the method lists email lists only (the API's default); its input has no `channel_type`",
    ),
    except(
        "contacts.counts",
        "countContact query include",
        "*",
        Reason::NotExposed,
        "the method's input has no `include`: it returns the counts the API gives by default",
    ),
    except(
        "contacts.create",
        "createContact body /sms_channel/full_sms_address",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create",
        "createContact body /sms_channel/sms_channel_consents",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create",
        "createContact body /sms_channel/sms_channel_consents/*/consent_type",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create",
        "createContact body /sms_channel/sms_channel_consents/*/sms_consent_permission",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.update",
        "putContact body /sms_channel/full_sms_address",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.update",
        "putContact body /sms_channel/sms_channel_consents",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.update",
        "putContact body /sms_channel/sms_channel_consents/*/consent_type",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.update",
        "putContact body /sms_channel/sms_channel_consents/*/sms_consent_permission",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/country_code",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/dial_code",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_address",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents/*/consent_medium_details",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents/*/consent_medium_type",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents/*/consent_medium_url",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents/*/consent_type",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.create_or_update",
        "createOrUpdateContact body /sms_channel/sms_channel_consents/*/sms_consent_permission",
        "*",
        Reason::NotExposed,
        NO_SMS_CHANNEL,
    ),
    except(
        "contacts.update",
        "putContact body /email_address/opt_out_reason",
        "*",
        Reason::NotExposed,
        "an update cannot unsubscribe a contact in this connector: the input's email address has no `opt_out_reason`",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/forward_email_link_name",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/greeting_salutation",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/greeting_secondary",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/permission_reminder",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/style_content",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/subscribe_link_name",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/text_content",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "emails.update_activity",
        "updateEmailCampaignActivityUsingPUT body /document_properties/view_as_webpage_text",
        "*",
        Reason::NotExposed,
        "the method writes custom-code emails, which have no document properties; its input has none",
    ),
    except(
        "bulk.import_contacts",
        "bulkImportContactsJSON body /import_data",
        "required",
        Reason::SetByMethod,
        "the method builds `import_data` from `contacts`, which its input requires (1 or more)",
    ),
    except(
        "bulk.import_contacts",
        "getActivity path activity_id",
        "required",
        Reason::SetByMethod,
        "with `wait`, the method polls the activity id the API answered with",
    ),
];

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
