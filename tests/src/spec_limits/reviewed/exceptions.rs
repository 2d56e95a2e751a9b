//! The limits no method checks, each with its reason.

use super::{Exception, Reason};

/// Why every list method leaves `limit` alone: it pages with its own page size.
const PAGES_ITSELF: &str = "the method pages with its own page size, within the limit (the audit \
     checks the value its representative call sends)";

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
        "contacts.counts",
        "countContact query include",
        "*",
        Reason::SetByMethod,
        "`include_new_subscriber: true` sends the enum's only value, `new_subscriber`",
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
    except(
        "bulk.import_contacts_csv",
        "getActivity path activity_id",
        "required",
        Reason::SetByMethod,
        "with `wait`, the method polls the activity id the API answered with",
    ),
    except(
        "bulk.import_contacts_csv",
        "contactsCSVImport form file",
        "required",
        Reason::SetByMethod,
        "the method writes the CSV file from `rows`, which its input requires (1 or more)",
    ),
];
