//! Coverage claims: Account, contacts, lists, tags, custom fields, segments and bulk activities.

use super::{Claim, LeftOut};

/// Why the v2 cross-reference operations are left out.
const V2_XREFS: &str =
    "maps ids of the retired v2 API to v3 ids; a connection made today only ever sees v3 ids";

/// The operations this area's methods cover.
pub(super) const CLAIMS: &[Claim] = &[
    Claim {
        operation: "getSmsEngagementHistory",
        methods: &["contacts.sms_engagement_history"],
    },
    Claim {
        operation: "getContactsExport",
        methods: &["bulk.download_export"],
    },
    Claim {
        operation: "postContactsExport",
        methods: &["bulk.export_contacts"],
    },
    Claim {
        operation: "getActivityStatusCollection",
        methods: &["bulk.list_activities"],
    },
    Claim {
        operation: "postCustomFieldDelete",
        methods: &["bulk.delete_custom_fields"],
    },
    Claim {
        operation: "postListDelete",
        methods: &["bulk.delete_lists"],
    },
    Claim {
        operation: "postTagDelete",
        methods: &["bulk.delete_tags"],
    },
    Claim {
        operation: "postTagRemoveContact",
        methods: &["bulk.remove_tags"],
    },
    Claim {
        operation: "postTagAddContact",
        methods: &["bulk.add_tags"],
    },
    Claim {
        operation: "addAccountEmailAddress",
        methods: &["account.add_email"],
    },
    Claim {
        operation: "retrieveEmailAddresses",
        methods: &["account.list_emails"],
    },
    Claim {
        operation: "putPhysicalAddress",
        methods: &["account.update_physical_address"],
    },
    Claim {
        operation: "addPhysicalAddress",
        methods: &["account.add_physical_address"],
    },
    Claim {
        operation: "getPhysicalAddress",
        methods: &["account.get_physical_address"],
    },
    Claim {
        operation: "putCustomerById",
        methods: &["account.update_summary"],
    },
    Claim {
        operation: "getTag",
        methods: &["tags.get"],
    },
    Claim {
        operation: "getCustomField",
        methods: &["custom_fields.get"],
    },
    Claim {
        operation: "resubscribeContact",
        methods: &["contacts.resubscribe"],
    },
    Claim {
        operation: "updateSegmentName",
        methods: &["segments.rename"],
    },
    Claim {
        operation: "deleteSegment",
        methods: &["segments.delete"],
    },
    Claim {
        operation: "updateSegment",
        methods: &["segments.update"],
    },
    Claim {
        operation: "createSegment",
        methods: &["segments.create"],
    },
    Claim {
        operation: "getAccountById",
        methods: &["account.get_summary"],
    },
    Claim {
        operation: "getUserPrivileges",
        methods: &["account.get_user_privileges"],
    },
    Claim {
        operation: "getContacts",
        methods: &["contacts.list", "contacts.poll_updated"],
    },
    Claim {
        operation: "getContact",
        methods: &["contacts.get"],
    },
    Claim {
        operation: "createContact",
        methods: &["contacts.create"],
    },
    Claim {
        operation: "putContact",
        methods: &["contacts.update"],
    },
    Claim {
        operation: "createOrUpdateContact",
        methods: &["contacts.create_or_update"],
    },
    Claim {
        operation: "deleteContact",
        methods: &["contacts.delete"],
    },
    Claim {
        operation: "countContact",
        methods: &["contacts.counts"],
    },
    Claim {
        operation: "getLists",
        methods: &["contact_lists.list"],
    },
    Claim {
        operation: "getList",
        methods: &["contact_lists.get"],
    },
    Claim {
        operation: "createList",
        methods: &["contact_lists.create"],
    },
    Claim {
        operation: "putList",
        methods: &["contact_lists.update"],
    },
    Claim {
        operation: "deleteListActivity",
        methods: &["contact_lists.delete"],
    },
    Claim {
        operation: "getTags",
        methods: &["tags.list"],
    },
    Claim {
        operation: "postTag",
        methods: &["tags.create"],
    },
    Claim {
        operation: "putTag",
        methods: &["tags.update"],
    },
    Claim {
        operation: "deleteTag",
        methods: &["tags.delete"],
    },
    Claim {
        operation: "getCustomFields",
        methods: &["custom_fields.list"],
    },
    Claim {
        operation: "postCustomFields",
        methods: &["custom_fields.create"],
    },
    Claim {
        operation: "putCustomField",
        methods: &["custom_fields.update"],
    },
    Claim {
        operation: "deleteCustomField",
        methods: &["custom_fields.delete"],
    },
    Claim {
        operation: "getAccountSegments",
        methods: &["segments.list"],
    },
    Claim {
        operation: "getSegmentDetail",
        methods: &["segments.get"],
    },
    Claim {
        operation: "contactsCSVImport",
        methods: &["bulk.import_contacts_csv"],
    },
    Claim {
        operation: "bulkImportContactsJSON",
        methods: &["bulk.import_contacts"],
    },
    Claim {
        operation: "postListAddContact",
        methods: &["bulk.add_to_lists"],
    },
    Claim {
        operation: "postListRemoveContact",
        methods: &["bulk.remove_from_lists"],
    },
    Claim {
        operation: "postContactDelete",
        methods: &["bulk.delete_contacts"],
    },
    Claim {
        operation: "getActivity",
        methods: &[
            "bulk.get_activity",
            "bulk.wait_for_activity",
            "bulk.import_contacts",
            "bulk.import_contacts_csv",
        ],
    },
];

/// The operations of this area no method covers.
pub(super) const LEFT_OUT: &[LeftOut] = &[
    LeftOut {
        operation: "getContactIdXrefs",
        reason: V2_XREFS,
    },
    LeftOut {
        operation: "getListIdXrefs",
        reason: V2_XREFS,
    },
];
