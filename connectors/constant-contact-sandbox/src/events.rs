//! The tracking data of what the sandbox sent: every recipient's [`Outcome`] per send of an
//! activity, the counts the stats and summaries report, and the rates computed from them. The
//! reports (`routes::reports`, `routes::tracking`, `routes::contact_reports`) read only this.

use crate::campaign::{CampaignActivity, Recipient, SendRun};
use crate::engagement::{self, BOUNCE_CODES, Outcome};

/// One recipient of one send, with what they did.
pub struct Delivery<'a> {
    /// The send.
    pub send: &'a SendRun,
    /// Who it went to.
    pub recipient: &'a Recipient,
    /// What they did.
    pub outcome: Outcome,
}

/// Every delivery of `activity`, send by send.
pub fn deliveries(seed: u64, activity: &CampaignActivity) -> Vec<Delivery<'_>> {
    let links = engagement::links_of(&activity.html_content).len();
    activity
        .sends
        .iter()
        .flat_map(|send| {
            let window = engagement::window(send.at, send.settled_at);
            send.recipients.iter().map(move |recipient| Delivery {
                send,
                recipient,
                outcome: engagement::outcome(
                    seed,
                    &activity.id,
                    &recipient.contact_id,
                    send.at,
                    window,
                    links,
                ),
            })
        })
        .collect()
}

/// What the stats of an activity (or the sum of a campaign's) count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Emails sent.
    pub sends: i64,
    /// Contacts who opened at least once.
    pub opens: i64,
    /// Every open.
    pub opens_all: i64,
    /// Every open, by device ([`engagement::DEVICES`] order).
    pub opens_by_device: [i64; 4],
    /// Contacts who clicked at least once.
    pub clicks: i64,
    /// Every click.
    pub clicks_all: i64,
    /// Every click, by device.
    pub clicks_by_device: [i64; 4],
    /// Contacts who forwarded.
    pub forwards: i64,
    /// Contacts who opted out.
    pub optouts: i64,
    /// Emails that bounced.
    pub bounces: i64,
    /// Bounces by code ([`BOUNCE_CODES`] order).
    pub bounces_by_code: [i64; 7],
    /// Delivered emails not opened.
    pub not_opened: i64,
}

impl Counts {
    /// Counts the deliveries.
    pub fn of(deliveries: &[Delivery<'_>]) -> Self {
        let mut counts = Self::default();
        for d in deliveries {
            let o = &d.outcome;
            counts.sends += 1;
            if let Some((code, _)) = o.bounce {
                counts.bounces += 1;
                if let Some(i) = BOUNCE_CODES.iter().position(|(c, _)| *c == code) {
                    counts.bounces_by_code[i] += 1;
                }
                continue;
            }
            if o.opens.is_empty() {
                counts.not_opened += 1;
            } else {
                counts.opens += 1;
            }
            for open in &o.opens {
                counts.opens_all += 1;
                counts.opens_by_device[open.device] += 1;
            }
            if !o.clicks.is_empty() {
                counts.clicks += 1;
            }
            for click in &o.clicks {
                counts.clicks_all += 1;
                counts.clicks_by_device[click.device] += 1;
            }
            counts.forwards += i64::from(o.forward_at.is_some());
            counts.optouts += i64::from(o.opt_out.is_some());
        }
        counts
    }

    /// Adds another activity's counts.
    pub fn add(&mut self, other: &Self) {
        self.sends += other.sends;
        self.opens += other.opens;
        self.opens_all += other.opens_all;
        self.clicks += other.clicks;
        self.clicks_all += other.clicks_all;
        self.forwards += other.forwards;
        self.optouts += other.optouts;
        self.bounces += other.bounces;
        self.not_opened += other.not_opened;
        for i in 0..4 {
            self.opens_by_device[i] += other.opens_by_device[i];
            self.clicks_by_device[i] += other.clicks_by_device[i];
        }
        for i in 0..7 {
            self.bounces_by_code[i] += other.bounces_by_code[i];
        }
    }

    /// Emails that reached their recipient.
    pub fn delivered(&self) -> i64 {
        self.sends - self.bounces
    }
}

/// `part` as a percentage of `whole`, with one decimal (0 when `whole` is 0).
pub fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 / whole as f64 * 1000.0).round() / 10.0
}

/// The rates the stats and summaries report: opens, clicks, did-not-open and opt-outs as a share
/// of delivered emails; bounces as a share of sends; desktop and mobile as a share of all opens
/// or clicks.
pub struct Rates {
    /// Unique opens of delivered.
    pub open: f64,
    /// Unique clicks of delivered.
    pub click: f64,
    /// Not opened of delivered.
    pub did_not_open: f64,
    /// Bounces of sends.
    pub bounce: f64,
    /// Opt-outs of delivered.
    pub unsubscribe: f64,
    /// Opens on a computer of all opens.
    pub desktop_open: f64,
    /// Opens on a phone of all opens.
    pub mobile_open: f64,
    /// Clicks on a computer of all clicks.
    pub desktop_click: f64,
    /// Clicks on a phone of all clicks.
    pub mobile_click: f64,
}

impl Rates {
    /// The rates of `counts`.
    pub fn of(counts: &Counts) -> Self {
        let delivered = counts.delivered();
        Self {
            open: percent(counts.opens, delivered),
            click: percent(counts.clicks, delivered),
            did_not_open: percent(counts.not_opened, delivered),
            bounce: percent(counts.bounces, counts.sends),
            unsubscribe: percent(counts.optouts, delivered),
            desktop_open: percent(counts.opens_by_device[0], counts.opens_all),
            mobile_open: percent(counts.opens_by_device[1], counts.opens_all),
            desktop_click: percent(counts.clicks_by_device[0], counts.clicks_all),
            mobile_click: percent(counts.clicks_by_device[1], counts.clicks_all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_have_one_decimal_and_survive_zero() {
        assert!((percent(1, 3) - 33.3).abs() < 1e-9);
        assert!((percent(2, 3) - 66.7).abs() < 1e-9);
        assert!(percent(5, 0).abs() < 1e-9);
    }
}
