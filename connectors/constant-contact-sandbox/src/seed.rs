//! Deterministic seed data: realistic names and addresses, UUID ids, timestamps spread over the
//! past year, list memberships, taggings, custom-field values, SMS numbers, and email campaigns
//! already sent to the first list (so reports have data), all drawn from one seed.

use crate::campaign::{ActivityContent, Campaign, CampaignActivity, CampaignStatus, Stamp};
use crate::config::SandboxConfig;
use crate::criteria::list_criteria;
use crate::store::{
    Address, Contact, ContactList, CustomField, EmailAddr, Note, Phone, Segment, SmsChannel,
    SmsConsent, Store, Tag,
};
use crate::util::{now_ms, uuid};

const FIRST: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "James",
    "Mia",
    "William",
    "Amelia",
    "Benjamin",
    "Harper",
    "Lucas",
    "Evelyn",
    "Henry",
    "Abigail",
    "Alexander",
    "Emily",
    "Daniel",
    "Ella",
    "Mateo",
    "Chloe",
    "Jack",
    "Grace",
    "Aiden",
    "Zoe",
    "Samuel",
    "Nora",
    "Priya",
    "Wei",
    "Fatima",
    "Kenji",
    "Ana",
    "Omar",
    "Ingrid",
    "Diego",
    "Leila",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
    "Rossi",
    "Novak",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
];
const COMPANIES: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Ltd",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Industries",
    "Soylent Co",
    "Tyrell Corp",
];
const TITLES: &[&str] = &[
    "Manager",
    "Engineer",
    "Designer",
    "Director",
    "Analyst",
    "Consultant",
    "Owner",
    "Teacher",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Boston", "MA", "02108"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "73301"),
    ("Seattle", "WA", "98101"),
    ("Portland", "OR", "97201"),
    ("Chicago", "IL", "60601"),
];
const LIST_NAMES: &[&str] = &[
    "Newsletter",
    "Customers",
    "Prospects",
    "Events",
    "VIP",
    "Webinar attendees",
    "Partners",
    "Beta testers",
];
const TAG_NAMES: &[&str] = &[
    "lead",
    "customer",
    "churn-risk",
    "webinar",
    "trade-show",
    "referral",
    "enterprise",
    "smb",
];
const FIELD_LABELS: &[&str] = &[
    "Favorite Color",
    "Membership Level",
    "Account Number",
    "Region",
];
const PERMISSIONS: &[(&str, u32)] = &[
    ("implicit", 40),
    ("explicit", 45),
    ("pending_confirmation", 5),
    ("unsubscribed", 8),
    ("not_set", 2),
];

const YEAR_MS: i64 = 365 * 86_400_000;

/// The body of the seeded campaigns: two links, so the click reports have something to show.
const SEEDED_HTML: &str = "<html><body>[[trackingImage]]<p>Hello!</p>\
    <p><a href=\"https://example.com/news\">Read the news</a> or \
    <a href=\"https://example.com/shop\">visit the shop</a>.</p></body></html>";

/// A US SMS number with promotional consent for the `n`-th seeded contact.
fn seeded_sms(rng: &mut fastrand::Rng, n: usize, created_at: i64) -> SmsChannel {
    let permission = match rng.u8(..10) {
        0 => "unsubscribed",
        1 => "pending_confirmation",
        _ => "explicit",
    };
    SmsChannel {
        id: uuid(rng),
        // Exchange 555, as in fiction; the contact's index keeps each number unique.
        address: format!("{:03}555{:04}", 200 + n / 10_000 % 800, n % 10_000),
        dial_code: "1".into(),
        country_code: "US".into(),
        create_source: "Account".into(),
        update_source: "Account".into(),
        consents: vec![SmsConsent {
            permission: permission.into(),
            consent_type: "promotional_sms".into(),
            opt_in_date: (permission != "pending_confirmation").then_some(created_at),
            opt_out_date: (permission == "unsubscribed").then_some(created_at + 86_400_000),
            advertised_frequency: Some("4".into()),
            advertised_interval: Some("monthly".into()),
            created_at,
            updated_at: created_at,
        }],
    }
}

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

fn nth_name(base: &[&str], n: usize) -> String {
    let name = base[n % base.len()];
    if n < base.len() {
        name.to_owned()
    } else {
        format!("{name} {}", n / base.len() + 1)
    }
}

/// Builds the seeded account for `config`.
pub fn seed(config: &SandboxConfig) -> Store {
    let mut store = Store::new(config.seed);
    let mut rng = fastrand::Rng::with_seed(config.seed);
    let now = now_ms();
    let year_ago = now - YEAR_MS;

    for n in 0..config.lists {
        let created_at = year_ago + rng.i64(0..YEAR_MS / 4);
        store.lists.push(ContactList {
            id: uuid(&mut rng),
            name: nth_name(LIST_NAMES, n),
            description: Some(format!("Seeded list number {}", n + 1)),
            favorite: n == 0,
            created_at,
            updated_at: created_at,
        });
    }
    for n in 0..config.tags {
        let created_at = year_ago + rng.i64(0..YEAR_MS / 4);
        store.tags.push(Tag {
            id: uuid(&mut rng),
            name: nth_name(TAG_NAMES, n),
            tag_source: Some("Contact".into()),
            created_at,
            updated_at: created_at,
        });
    }
    for n in 0..config.custom_fields {
        let label = nth_name(FIELD_LABELS, n);
        let created_at = year_ago + rng.i64(0..YEAR_MS / 4);
        store.custom_fields.push(CustomField {
            id: uuid(&mut rng),
            name: label.to_lowercase().replace(' ', "_"),
            label,
            kind: "string".into(),
            created_at,
            updated_at: created_at,
        });
    }
    for n in 0..config.segments {
        let created_at = year_ago + rng.i64(0..YEAR_MS / 4);
        let list = store.lists.get(n % store.lists.len().max(1));
        store.segments.push(Segment {
            id: i64::try_from(n).unwrap_or(0) + 1,
            name: list.map_or_else(
                || format!("Segment {}", n + 1),
                |l| format!("Members of {}", l.name),
            ),
            criteria: list_criteria(list.map_or("", |l| l.id.as_str())),
            created_at,
            edited_at: created_at,
            deleted_at: None,
        });
    }

    let list_ids: Vec<String> = store.lists.iter().map(|l| l.id.clone()).collect();
    let tag_ids: Vec<String> = store.tags.iter().map(|t| t.id.clone()).collect();
    let field_ids: Vec<String> = store.custom_fields.iter().map(|f| f.id.clone()).collect();
    let weight_total: u32 = PERMISSIONS.iter().map(|(_, w)| w).sum();
    store.contacts.reserve(config.contacts);
    store.by_email.reserve(config.contacts);
    // SMS numbers come from a generator of their own, so the rest of the seed is what it was
    // before contacts had them.
    let mut sms_rng = fastrand::Rng::with_seed(config.seed ^ 0x5A5_C4A7);
    for n in 0..config.contacts {
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let domain = pick(&mut rng, DOMAINS);
        let address = format!(
            "{}.{}.{n}@{domain}",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let created_at = year_ago + rng.i64(0..YEAR_MS);
        let updated_at = created_at + rng.i64(0..=(now - created_at));
        let mut roll = rng.u32(0..weight_total);
        let mut permission = PERMISSIONS[0].0;
        for (name, weight) in PERMISSIONS {
            if roll < *weight {
                permission = name;
                break;
            }
            roll -= weight;
        }
        let unsubscribed = permission == "unsubscribed";
        let id = uuid(&mut rng);
        let mut contact = Contact {
            id,
            email: Some(EmailAddr {
                address,
                permission_to_send: permission.into(),
                opt_in_source: Some(if rng.bool() { "Contact" } else { "Account" }.into()),
                opt_in_date: Some(created_at),
                opt_out_source: unsubscribed.then(|| "Contact".into()),
                opt_out_date: unsubscribed.then_some(updated_at),
                opt_out_reason: None,
                confirm_status: "off".into(),
                created_at,
                updated_at,
                resubscribe_requested: false,
            }),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            job_title: rng.bool().then(|| pick(&mut rng, TITLES).into()),
            company_name: rng.bool().then(|| pick(&mut rng, COMPANIES).into()),
            birthday_month: None,
            birthday_day: None,
            anniversary: None,
            create_source: if rng.u8(..10) < 7 {
                "Account"
            } else {
                "Contact"
            }
            .into(),
            update_source: "Account".into(),
            created_at,
            updated_at,
            ..Contact::default()
        };
        if rng.u8(..4) == 0 {
            contact.birthday_month = Some(rng.i64(1..=12));
            contact.birthday_day = Some(rng.i64(1..=28));
        }
        if !list_ids.is_empty() {
            let count = 1 + rng.usize(..list_ids.len().min(3));
            let start = rng.usize(..list_ids.len());
            contact.list_memberships = (0..count)
                .map(|i| list_ids[(start + i) % list_ids.len()].clone())
                .collect();
        }
        if !tag_ids.is_empty() && rng.bool() {
            let count = 1 + rng.usize(..tag_ids.len().min(2));
            let start = rng.usize(..tag_ids.len());
            contact.taggings = (0..count)
                .map(|i| tag_ids[(start + i) % tag_ids.len()].clone())
                .collect();
        }
        for field in &field_ids {
            if rng.u8(..3) == 0 {
                contact
                    .custom_fields
                    .push((field.clone(), format!("value-{}", rng.u16(..1000))));
            }
        }
        if rng.bool() {
            let source = contact.create_source.clone();
            contact.phone_numbers.push(Phone {
                id: uuid(&mut rng),
                number: format!("+1-555-{:03}-{:04}", rng.u16(100..1000), rng.u16(..10_000)),
                kind: if rng.bool() { "mobile" } else { "work" }.into(),
                created_at,
                updated_at: created_at,
                create_source: source.clone(),
                update_source: source,
            });
        }
        if sms_rng.u8(..5) == 0 {
            contact.sms = Some(seeded_sms(&mut sms_rng, n, created_at));
        }
        if rng.u8(..3) == 0 {
            let (city, state, zip) = CITIES[rng.usize(..CITIES.len())];
            contact.street_addresses.push(Address {
                id: uuid(&mut rng),
                kind: "home".into(),
                street: Some(format!("{} Main St", rng.u16(1..2000))),
                city: Some(city.into()),
                state: Some(state.into()),
                postal_code: Some(zip.into()),
                country: Some("United States".into()),
                created_at,
            });
        }
        if rng.u8(..10) == 0 {
            contact.notes.push(Note {
                id: uuid(&mut rng),
                content: "Met at the spring trade show.".into(),
                created_at: updated_at,
            });
        }
        store.insert_contact(contact);
    }

    for n in 0..config.campaigns {
        let created_at = year_ago + rng.i64(0..YEAR_MS);
        let sent = n + 1 < config.campaigns || config.campaigns == 1;
        let name = format!("Monthly newsletter #{}", n + 1);
        let campaign_id = uuid(&mut rng);
        let content = ActivityContent {
            from_name: "Sandbox Sender".into(),
            from_email: "sender@example.com".into(),
            reply_to_email: "reply@example.com".into(),
            subject: name.clone(),
            preheader: Some("News from the sandbox".into()),
            html_content: SEEDED_HTML.into(),
            format_type: 5,
            physical_address_in_footer: None,
        };
        let activities = ["primary_email", "permalink"]
            .into_iter()
            .map(|role| {
                let mut activity = CampaignActivity::new(uuid(&mut rng), role, content.clone());
                if role == "primary_email" {
                    activity.contact_list_ids = list_ids.iter().take(1).cloned().collect();
                }
                activity
            })
            .collect();
        store.campaigns.push(Campaign {
            id: campaign_id,
            name,
            status: CampaignStatus::Draft,
            status_before_schedule: None,
            created_at,
            updated_at: created_at + rng.i64(0..86_400_000),
            activities,
            resend: None,
            ab_test: None,
        });
        if sent {
            let index = store.campaigns.len() - 1;
            let at = store.campaigns[index].updated_at;
            // Carried out up to two days later: the recipients' events spread over that time.
            let settled = (at + 2 * 86_400_000).min(now);
            store.send(index, 0, at, settled, Stamp::EventTime);
        }
    }
    store.campaigns.sort_by_key(|c| c.created_at);
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_emails_are_unique() {
        let config = SandboxConfig {
            contacts: 500,
            ..SandboxConfig::default()
        };
        let a = seed(&config);
        let b = seed(&config);
        assert_eq!(a.contacts.len(), 500);
        assert_eq!(a.by_email.len(), 500);
        assert_eq!(a.by_updated.len(), 500);
        let ids_a: Vec<_> = a.by_updated.iter().collect();
        let ids_b: Vec<_> = b.by_updated.iter().map(|(_, id)| id).collect();
        assert_eq!(ids_a.iter().map(|(_, id)| id).collect::<Vec<_>>(), ids_b);
        assert_eq!(a.lists.len(), 5);
        assert_eq!(a.segments[0].id, 1);
    }
}
