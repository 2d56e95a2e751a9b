//! Email campaigns as the sandbox keeps them, and sending: a campaign activity is sent when it is
//! scheduled for "now" (`0`), or when its scheduled time has passed and the account is next
//! touched by a campaign or report request ([`Store::settle_sends`]). A send records each
//! recipient (the active members of the activity's lists or segment at that moment, with the
//! address it went to); what they did with it is derived from [`crate::engagement`], and those
//! who opted out are unsubscribed, as the service does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::criteria::Criteria;
use crate::engagement;
use crate::store::{Contact, Store};

/// A campaign's status, as `current_status` shows it (activities show it upper-cased).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CampaignStatus {
    /// Created, not sent.
    Draft,
    /// Waiting for its scheduled time.
    Scheduled,
    /// Sent.
    Done,
    /// Deleted; still listed, its activities are gone.
    Removed,
}

impl CampaignStatus {
    /// The campaign's `current_status`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Scheduled => "Scheduled",
            Self::Done => "Done",
            Self::Removed => "Removed",
        }
    }

    /// An activity's `current_status`.
    pub fn activity_name(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Scheduled => "SCHEDULED",
            Self::Done => "DONE",
            Self::Removed => "REMOVED",
        }
    }
}

/// One contact an activity was sent to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recipient {
    /// The contact.
    pub contact_id: String,
    /// The address the email went to (the contact's address may change later).
    pub email: String,
}

/// One send of an activity (its send history entry).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendRun {
    /// 1, 2, … in the order of sends.
    pub send_id: u32,
    /// When it was sent (the scheduled time).
    pub at: i64,
    /// When the sandbox carried it out (events fall between `at` and this, see
    /// [`engagement::window`]).
    pub settled_at: i64,
    /// The lists it went to.
    pub contact_list_ids: Vec<String>,
    /// The segments it went to.
    pub segment_ids: Vec<i64>,
    /// Who received it.
    pub recipients: Vec<Recipient>,
}

/// A campaign's resend to non-openers (one per campaign).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resend {
    /// Its id (`resend_request_id`).
    pub id: String,
    /// The subject of the resent email.
    pub subject: String,
    /// The delay as given in days, when it was given so.
    pub delay_days: Option<i64>,
    /// The delay after the send, in minutes.
    pub delay_minutes: i64,
}

/// A campaign's A/B test of its subject line (one per campaign, set up while it is a draft).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AbTest {
    /// The subject line tried against the campaign's own.
    pub alternative_subject: String,
    /// The percentage of recipients who get each subject (5 to 50).
    pub test_size: i64,
    /// Hours to wait after the test before choosing the winner (6, 12, 24 or 48).
    pub winner_wait_duration: i64,
}

/// One activity of an email campaign (the primary email or its permalink).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CampaignActivity {
    /// UUID.
    pub id: String,
    /// primary_email | permalink.
    pub role: String,
    /// Sender name.
    pub from_name: String,
    /// Sender address.
    pub from_email: String,
    /// Reply-to address.
    pub reply_to_email: String,
    /// Subject line.
    pub subject: String,
    /// Preheader.
    pub preheader: Option<String>,
    /// HTML body.
    pub html_content: String,
    /// Format type (5: custom code).
    pub format_type: i64,
    /// Recipient lists.
    pub contact_list_ids: Vec<String>,
    /// Recipient segment (at most one).
    pub segment_ids: Vec<i64>,
    /// The footer's physical address, when set on the activity.
    pub physical_address_in_footer: Option<Value>,
    /// Legacy document properties, when set.
    pub document_properties: Option<Value>,
    /// When it is scheduled to be sent.
    pub scheduled_at: Option<i64>,
    /// Every send, oldest first.
    pub sends: Vec<SendRun>,
}

impl CampaignActivity {
    /// A new activity with this content and no recipients.
    pub fn new(id: String, role: &str, content: ActivityContent) -> Self {
        Self {
            id,
            role: role.into(),
            from_name: content.from_name,
            from_email: content.from_email,
            reply_to_email: content.reply_to_email,
            subject: content.subject,
            preheader: content.preheader,
            html_content: content.html_content,
            format_type: content.format_type,
            contact_list_ids: Vec::new(),
            segment_ids: Vec::new(),
            physical_address_in_footer: content.physical_address_in_footer,
            document_properties: None,
            scheduled_at: None,
            sends: Vec::new(),
        }
    }

    /// Whether it has anyone to send to.
    pub fn has_recipients(&self) -> bool {
        !self.contact_list_ids.is_empty() || !self.segment_ids.is_empty()
    }
}

/// What an activity is made of when a campaign is created.
#[derive(Clone, Debug)]
pub struct ActivityContent {
    /// Sender name.
    pub from_name: String,
    /// Sender address.
    pub from_email: String,
    /// Reply-to address.
    pub reply_to_email: String,
    /// Subject line.
    pub subject: String,
    /// Preheader.
    pub preheader: Option<String>,
    /// HTML body.
    pub html_content: String,
    /// Format type.
    pub format_type: i64,
    /// The footer's physical address.
    pub physical_address_in_footer: Option<Value>,
}

/// An email campaign.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Campaign {
    /// UUID.
    pub id: String,
    /// Unique name (among campaigns that are not removed).
    pub name: String,
    /// Draft | Scheduled | Done | Removed.
    pub status: CampaignStatus,
    /// The status to return to when it is unscheduled.
    pub status_before_schedule: Option<CampaignStatus>,
    /// Creation time.
    pub created_at: i64,
    /// Last update.
    pub updated_at: i64,
    /// Its activities.
    pub activities: Vec<CampaignActivity>,
    /// Its resend to non-openers, if any.
    pub resend: Option<Resend>,
    /// Its A/B test, if any (absent from snapshots written before A/B tests were served).
    #[serde(default)]
    pub ab_test: Option<AbTest>,
}

impl Campaign {
    /// When it was last sent, if ever.
    pub fn last_sent(&self) -> Option<i64> {
        self.activities
            .iter()
            .flat_map(|a| &a.sends)
            .map(|s| s.at)
            .max()
    }
}

/// Which time a contact changed by a send (an opt-out) is stamped with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// The moment the sandbox carries the send out: a client polling for changes since its last
    /// poll sees the opt-out even when the send was scheduled before that poll.
    Now,
    /// The opt-out's own time: for the seeded history, which no client has polled yet.
    EventTime,
}

/// Whether an email goes to `contact` now: not deleted, with an address, not unsubscribed or
/// on hold.
pub fn reachable(contact: &Contact) -> bool {
    contact.deleted_at.is_none()
        && contact
            .email
            .as_ref()
            .is_some_and(|e| !matches!(e.permission_to_send.as_str(), "unsubscribed" | "temp_hold"))
}

impl Store {
    /// The campaign and activity positions of the activity `id`.
    pub fn find_activity(&self, id: &str) -> Option<(usize, usize)> {
        self.campaigns.iter().enumerate().find_map(|(ci, c)| {
            c.activities
                .iter()
                .position(|a| a.id == id)
                .map(|ai| (ci, ai))
        })
    }

    /// Sends every scheduled activity whose time has come (at its scheduled time).
    pub fn settle_sends(&mut self, now: i64) {
        let due: Vec<(usize, usize, i64)> = self
            .campaigns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.status == CampaignStatus::Scheduled)
            .flat_map(|(ci, c)| {
                c.activities
                    .iter()
                    .enumerate()
                    .filter_map(move |(ai, a)| a.scheduled_at.map(|at| (ci, ai, at)))
            })
            .filter(|(_, _, at)| *at <= now)
            .collect();
        for (ci, ai, at) in due {
            self.send(ci, ai, at, now, Stamp::Now);
        }
    }

    /// Sends activity `ai` of campaign `ci` as of `at` (carried out at `now`): records the
    /// recipients, marks the campaign Done and unsubscribes whoever opted out. Contacts who
    /// received an earlier send of the activity are not sent it again.
    pub fn send(&mut self, ci: usize, ai: usize, at: i64, now: i64, stamp: Stamp) {
        let activity = &self.campaigns[ci].activities[ai];
        let already: std::collections::HashSet<&str> = activity
            .sends
            .iter()
            .flat_map(|s| &s.recipients)
            .map(|r| r.contact_id.as_str())
            .collect();
        let segments: Vec<crate::criteria::Prepared> = activity
            .segment_ids
            .iter()
            .filter_map(|id| self.segments.iter().find(|s| s.id == *id))
            .filter_map(|s| Criteria::parse(&s.criteria).ok())
            .map(|c| c.prepare(self))
            .collect();
        let lists = &activity.contact_list_ids;
        let mut recipients: Vec<Recipient> = self
            .contacts
            .values()
            // Contacts added after the send time did not receive it.
            .filter(|c| reachable(c) && c.created_at <= at && !already.contains(c.id.as_str()))
            .filter(|c| {
                c.list_memberships.iter().any(|l| lists.contains(l))
                    || segments.iter().any(|s| s.matches(c))
            })
            .filter_map(|c| {
                c.email.as_ref().map(|e| Recipient {
                    contact_id: c.id.clone(),
                    email: e.address.clone(),
                })
            })
            .collect();
        recipients.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
        let run = SendRun {
            send_id: u32::try_from(activity.sends.len() + 1).unwrap_or(u32::MAX),
            at,
            settled_at: now,
            contact_list_ids: activity.contact_list_ids.clone(),
            segment_ids: activity.segment_ids.clone(),
            recipients,
        };
        let links = engagement::links_of(&activity.html_content).len();
        let window = engagement::window(at, now);
        let opted_out: Vec<(String, i64, &'static str)> = run
            .recipients
            .iter()
            .filter_map(|r| {
                engagement::outcome(
                    self.engagement_seed,
                    &activity.id,
                    &r.contact_id,
                    at,
                    window,
                    links,
                )
                .opt_out
                .map(|(when, why)| (r.contact_id.clone(), when, why))
            })
            .collect();
        let campaign = &mut self.campaigns[ci];
        campaign.status = CampaignStatus::Done;
        campaign.status_before_schedule = None;
        campaign.updated_at = campaign.updated_at.max(at);
        let activity = &mut campaign.activities[ai];
        activity.scheduled_at = None;
        activity.sends.push(run);
        for (contact, when, why) in opted_out {
            let stamp = match stamp {
                Stamp::Now => self.tick(),
                Stamp::EventTime => self
                    .contacts
                    .get(&contact)
                    .map_or(when, |c| c.updated_at.max(when)),
            };
            self.update_contact_at(&contact, stamp, |c| {
                if let Some(email) = &mut c.email {
                    email.permission_to_send = "unsubscribed".into();
                    email.opt_out_source = Some("Contact".into());
                    email.opt_out_date = Some(when);
                    email.opt_out_reason = Some(why.into());
                    email.updated_at = when;
                }
                c.update_source = "Contact".into();
            });
        }
    }
}
