//! The sandbox's email campaigns and their reports, over real HTTP on 127.0.0.1: every answer is
//! validated against the official spec's response definition for its operation and status, and
//! every operation's effect is checked where a user would see it (an unscheduled campaign is a
//! draft again, a sent one has a send history, reports count what was sent, opted-out recipients
//! are unsubscribed).

mod sandbox_api;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use sandbox_api::{
    Api, Checker, HTML, list_of_new_contacts, new_campaign, num_of, recipients, start, str_of,
};
use serde_json::{Value, json};

const M_GET: Method = Method::GET;

#[tokio::test]
async fn a_campaign_is_given_recipients_scheduled_unscheduled_renamed_tested_and_deleted() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let list = list_of_new_contacts(&mut c, "lifecycle", 12).await;
    let (campaign, activity) = new_campaign(&mut c, "Lifecycle", HTML).await;
    let activity_path = format!("/v3/emails/activities/{activity}");

    // Without recipients the activity cannot be scheduled, as the service says.
    let refused = c
        .schedule(&activity_path, "2031-01-01T10:00:00.000Z", 400)
        .await;
    assert!(
        str_of(&refused, "/0/error_message").contains("contact_list_ids"),
        "{refused}"
    );

    // PUT replaces the properties and keeps the sub-resources left out.
    let mut body = recipients(&[&list]);
    body["preheader"] = json!("A preheader");
    let updated = c.call(Method::PUT, &activity_path, Some(body), 200).await;
    assert_eq!(updated["contact_list_ids"], json!([list]));
    assert_eq!(updated["subject"], "Hello");
    assert_eq!(updated["html_content"], HTML, "html_content is kept");
    let read = c
        .get(&format!(
            "{activity_path}?include=html_content,physical_address_in_footer,permalink_url"
        ))
        .await;
    assert_eq!(read["contact_list_ids"], json!([list]));
    assert_eq!(read["preheader"], "A preheader");
    assert_eq!(read["current_status"], "DRAFT");
    assert!(read["physical_address_in_footer"]["address_line1"].is_string());
    // Lists and segments together, and unknown lists, are refused.
    let mut both = recipients(&[&list]);
    both["segment_ids"] = json!([1]);
    c.call(Method::PUT, &activity_path, Some(both), 400).await;
    c.call(
        Method::PUT,
        &activity_path,
        Some(recipients(&["00000000-0000-4000-8000-000000000000"])),
        400,
    )
    .await;

    // Scheduled, then unscheduled: back to a draft with no schedule.
    let scheduled = c
        .schedule(&activity_path, "2031-01-01T10:00:00.000Z", 201)
        .await;
    assert_eq!(
        scheduled,
        json!([{"scheduled_date": "2031-01-01T10:00:00.000Z"}])
    );
    assert_eq!(
        c.get(&format!("{activity_path}/schedules")).await,
        scheduled
    );
    let campaign_path = format!("/v3/emails/{campaign}");
    assert_eq!(c.get(&campaign_path).await["current_status"], "Scheduled");
    // A scheduled campaign can be neither updated nor deleted.
    c.call(Method::PUT, &activity_path, Some(recipients(&[&list])), 400)
        .await;
    c.call(Method::DELETE, &campaign_path, None, 400).await;
    c.call(
        Method::DELETE,
        &format!("{activity_path}/schedules"),
        None,
        204,
    )
    .await;
    assert_eq!(c.get(&campaign_path).await["current_status"], "Draft");
    assert_eq!(c.get(&activity_path).await["current_status"], "DRAFT");
    assert_eq!(
        c.get(&format!("{activity_path}/schedules")).await,
        json!([])
    );
    c.call(
        Method::DELETE,
        &format!("{activity_path}/schedules"),
        None,
        400,
    )
    .await;

    // Renamed; names stay unique.
    let renamed = c
        .call(
            Method::PATCH,
            &campaign_path,
            Some(json!({"name": "Lifecycle, renamed"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "Lifecycle, renamed");
    assert_eq!(c.get(&campaign_path).await["name"], "Lifecycle, renamed");
    new_campaign(&mut c, "Another", HTML).await;
    c.call(
        Method::PATCH,
        &campaign_path,
        Some(json!({"name": "Another"})),
        409,
    )
    .await;
    c.call(
        Method::PATCH,
        &campaign_path,
        Some(json!({"name": "x".repeat(81)})),
        400,
    )
    .await;

    // Test sends: up to 5 recipients each, 50 a day.
    c.call(
        Method::POST,
        &format!("{activity_path}/tests"),
        Some(json!({"email_addresses": ["me@example.com"], "personal_message": "Look"})),
        204,
    )
    .await;
    let six: Vec<String> = (0..6).map(|n| format!("t{n}@example.com")).collect();
    c.call(
        Method::POST,
        &format!("{activity_path}/tests"),
        Some(json!({"email_addresses": six})),
        400,
    )
    .await;
    let five: Vec<String> = (0..5).map(|n| format!("t{n}@example.com")).collect();
    for _ in 0..9 {
        c.call(
            Method::POST,
            &format!("{activity_path}/tests"),
            Some(json!({"email_addresses": five})),
            204,
        )
        .await;
    }
    let over = c
        .call(
            Method::POST,
            &format!("{activity_path}/tests"),
            Some(json!({"email_addresses": five})),
            400,
        )
        .await;
    assert!(str_of(&over, "/0/error_message").contains("50"), "{over}");

    // The preview is the HTML without the tracking image, with the owner in the variables.
    let preview = c.get(&format!("{activity_path}/previews")).await;
    let html = str_of(&preview, "/preview_html_content");
    assert!(
        !html.contains("[[trackingImage]]") && html.contains("Hello Sandra!"),
        "{html}"
    );
    assert!(str_of(&preview, "/preview_text_content").starts_with("Hello Sandra!"));
    assert_eq!(
        c.get(&format!("{activity_path}/send_history")).await,
        json!([])
    );

    // Deleted: still listed, as Removed; its activities are gone.
    c.call(Method::DELETE, &campaign_path, None, 204).await;
    assert_eq!(c.get(&campaign_path).await["current_status"], "Removed");
    let listed = c.all_pages("/v3/emails?limit=2", "campaigns").await;
    assert!(
        listed
            .iter()
            .any(|x| x["campaign_id"] == campaign.as_str() && x["current_status"] == "Removed")
    );
    c.call(M_GET, &activity_path, None, 404).await;
    c.call(Method::DELETE, &campaign_path, None, 404).await;
    c.call(
        Method::PATCH,
        &campaign_path,
        Some(json!({"name": "Too late"})),
        400,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

/// Sends a new campaign at once to a new list of `count` contacts; returns the checker's view of
/// `(list, campaign, activity)`.
async fn sent_campaign(c: &mut Checker<'_>, name: &str, count: usize) -> (String, String, String) {
    let list = list_of_new_contacts(c, name, count).await;
    let (campaign, activity) = new_campaign(c, name, sandbox_api::HTML).await;
    c.call(
        Method::PUT,
        &format!("/v3/emails/activities/{activity}"),
        Some(recipients(&[&list])),
        200,
    )
    .await;
    let now = c
        .schedule(&format!("/v3/emails/activities/{activity}"), "0", 201)
        .await;
    assert_eq!(now, json!([]), "a send now answers an empty schedule");
    (list, campaign, activity)
}

/// Every record of a tracking report, 50 a page.
async fn tracking(c: &mut Checker<'_>, activity: &str, report: &str) -> Vec<Value> {
    c.all_pages(
        &format!("/v3/reports/email_reports/{activity}/tracking/{report}?limit=50"),
        "tracking_activities",
    )
    .await
}

fn contacts_of(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| str_of(r, "/contact_id").to_owned())
        .collect()
}

#[tokio::test]
async fn reports_count_what_the_sandbox_sent() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let (list, campaign, activity) = sent_campaign(&mut c, "reported", 300).await;

    // Sent: Done, with one send in the history, to every member of the list.
    assert_eq!(
        c.get(&format!("/v3/emails/{campaign}")).await["current_status"],
        "Done"
    );
    let history = c
        .get(&format!("/v3/emails/activities/{activity}/send_history"))
        .await;
    assert_eq!(num_of(&history, "/0/count"), 300);
    assert_eq!(history[0]["contact_list_ids"], json!([list]));
    assert_eq!(history[0]["send_status"], "COMPLETED");

    let members: BTreeSet<String> = c
        .all_pages(&format!("/v3/contacts?lists={list}&limit=100"), "contacts")
        .await
        .iter()
        .map(|x| str_of(x, "/contact_id").to_owned())
        .collect();
    let sends = tracking(&mut c, &activity, "sends").await;
    assert_eq!(contacts_of(&sends), members, "one send per member");
    assert_eq!(sends.len(), 300);
    let times: Vec<&str> = sends.iter().map(|s| str_of(s, "/created_time")).collect();

    let opens = tracking(&mut c, &activity, "opens").await;
    let unique_opens = tracking(&mut c, &activity, "unique_opens").await;
    let did_not_open = tracking(&mut c, &activity, "didnotopens").await;
    let clicks = tracking(&mut c, &activity, "clicks").await;
    let bounces = tracking(&mut c, &activity, "bounces").await;
    let optouts = tracking(&mut c, &activity, "optouts").await;
    let forwards = tracking(&mut c, &activity, "forwards").await;
    assert!(!times.is_empty());
    assert!(
        !opens.is_empty() && !clicks.is_empty(),
        "300 recipients open and click"
    );
    assert_eq!(contacts_of(&unique_opens).len(), unique_opens.len());
    assert_eq!(contacts_of(&opens), contacts_of(&unique_opens));
    assert!(contacts_of(&clicks).is_subset(&contacts_of(&opens)));
    assert!(contacts_of(&opens).is_disjoint(&contacts_of(&did_not_open)));
    assert!(contacts_of(&bounces).is_disjoint(&contacts_of(&opens)));
    assert_eq!(
        unique_opens.len() + did_not_open.len() + bounces.len(),
        300,
        "every recipient opened, did not open, or bounced"
    );
    for record in &opens {
        assert!(matches!(
            str_of(record, "/device_type"),
            "computer" | "mobile" | "tablet" | "other"
        ));
    }
    let newest_first: Vec<&str> = opens.iter().map(|o| str_of(o, "/created_time")).collect();
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, sorted, "most recent first");

    // The stats count the same.
    let stats = c
        .get(&format!(
            "/v3/reports/stats/email_campaign_activities/{activity}"
        ))
        .await;
    let s = &stats["results"][0]["stats"];
    assert_eq!(num_of(s, "/em_sends"), 300);
    assert_eq!(num_of(s, "/em_opens"), unique_opens.len() as i64);
    assert_eq!(num_of(s, "/em_opens_all"), opens.len() as i64);
    assert_eq!(num_of(s, "/em_clicks"), contacts_of(&clicks).len() as i64);
    assert_eq!(num_of(s, "/em_clicks_all"), clicks.len() as i64);
    assert_eq!(num_of(s, "/em_bounces"), bounces.len() as i64);
    assert_eq!(num_of(s, "/em_optouts"), optouts.len() as i64);
    assert_eq!(num_of(s, "/em_forwards"), forwards.len() as i64);
    assert_eq!(num_of(s, "/em_not_opened"), did_not_open.len() as i64);
    let by_device: i64 = ["computer", "mobile", "tablet", "other", "none"]
        .iter()
        .map(|d| num_of(s, &format!("/em_opens_all_{d}")))
        .sum();
    assert_eq!(by_device, opens.len() as i64);
    assert_eq!(stats["results"][0]["campaign_id"], campaign.as_str());
    let campaign_stats = c
        .get(&format!("/v3/reports/stats/email_campaigns/{campaign}"))
        .await;
    let cs = &campaign_stats["results"][0];
    assert_eq!(num_of(cs, "/stats/em_sends"), 300);
    let delivered = 300.0 - bounces.len() as f64;
    let open_rate = (unique_opens.len() as f64 / delivered * 1000.0).round() / 10.0;
    assert_eq!(cs["percents"]["open"], json!(open_rate));
    // A draft has no stats; an unknown activity is an error entry, a malformed id a 404.
    let (_, draft) = new_campaign(&mut c, "never sent", sandbox_api::HTML).await;
    let mixed = c
        .get(&format!(
            "/v3/reports/stats/email_campaign_activities/{activity},{draft}"
        ))
        .await;
    assert_eq!(mixed["results"].as_array().map(Vec::len), Some(1));
    assert_eq!(mixed["errors"].as_array().map(Vec::len), Some(1));
    c.call(
        M_GET,
        "/v3/reports/stats/email_campaign_activities/not-an-id",
        None,
        404,
    )
    .await;
    c.call(
        M_GET,
        "/v3/reports/stats/email_campaigns/00000000-0000-4000-8000-000000000000",
        None,
        404,
    )
    .await;

    // The links report agrees with the clicks, per link and with url_id.
    let links = c
        .get(&format!(
            "/v3/reports/email_reports/{activity}/links?no_clicks=true"
        ))
        .await;
    let link_counts = links["link_click_counts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(link_counts.len(), 2, "both links, clicked or not");
    for link in &link_counts {
        let url_id = str_of(link, "/url_id");
        let per_link = c
            .all_pages(
                &format!(
                    "/v3/reports/email_reports/{activity}/tracking/clicks?url_id={url_id}&limit=50"
                ),
                "tracking_activities",
            )
            .await;
        assert!(per_link.iter().all(|r| r["link_url"] == link["link_url"]));
        assert_eq!(
            num_of(link, "/unique_clicks"),
            contacts_of(&per_link).len() as i64
        );
    }

    // Opt-outs unsubscribed their contacts.
    for record in &optouts {
        let contact = c
            .get(&format!("/v3/contacts/{}", str_of(record, "/contact_id")))
            .await;
        assert_eq!(
            contact["email_address"]["permission_to_send"],
            "unsubscribed"
        );
        assert_eq!(contact["email_address"]["opt_out_source"], "Contact");
    }
    // Bounces by code.
    if let Some(first) = bounces.first() {
        let code = str_of(first, "/bounce_code");
        let only = c
            .all_pages(
                &format!(
                    "/v3/reports/email_reports/{activity}/tracking/bounces?bounce_code={code}&limit=50"
                ),
                "tracking_activities",
            )
            .await;
        assert!(!only.is_empty() && only.iter().all(|b| b["bounce_code"] == code));
    }
    c.call(
        M_GET,
        &format!("/v3/reports/email_reports/{activity}/tracking/bounces?bounce_code=Q"),
        None,
        400,
    )
    .await;
    c.call(
        M_GET,
        &format!("/v3/reports/email_reports/{activity}/tracking/sends?limit=501"),
        None,
        400,
    )
    .await;

    // The summary lists the campaign with the same unique counts.
    let summaries = c
        .all_pages(
            "/v3/reports/summary_reports/email_campaign_summaries?limit=2",
            "bulk_email_campaign_summaries",
        )
        .await;
    let mine = summaries
        .iter()
        .find(|x| x["campaign_id"] == campaign.as_str())
        .expect("the sent campaign is summarised");
    assert_eq!(num_of(mine, "/unique_counts/sends"), 300);
    assert_eq!(
        num_of(mine, "/unique_counts/opens"),
        unique_opens.len() as i64
    );
    assert_eq!(num_of(mine, "/unique_counts/bounces"), bounces.len() as i64);

    // One recipient's contact reports.
    let opener = str_of(&unique_opens[0], "/contact_id").to_owned();
    let details = c
        .all_pages(
            &format!(
                "/v3/reports/contact_reports/{opener}/activity_details?tracking_activities_list=em_sends,em_opens&limit=1"
            ),
            "tracking_activities",
        )
        .await;
    let kinds: BTreeSet<&str> = details
        .iter()
        .map(|d| str_of(d, "/tracking_activity_type"))
        .collect();
    assert_eq!(kinds, BTreeSet::from(["em_opens", "em_sends"]));
    assert!(
        details
            .iter()
            .all(|d| d["campaign_activity_id"] == activity.as_str())
    );
    assert_eq!(details[0]["campaign_activity_name"], "reported");
    let repeated = c
        .get(&format!(
            "/v3/reports/contact_reports/{opener}/activity_details?tracking_activity_type=em_sends&include_campaign_activity_names=false"
        ))
        .await;
    assert_eq!(
        repeated["tracking_activities"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        repeated["tracking_activities"][0]
            .get("campaign_activity_name")
            .is_none()
    );
    c.call(
        M_GET,
        &format!("/v3/reports/contact_reports/{opener}/activity_details"),
        None,
        400,
    )
    .await;
    let range = "start=2025-01-01T00:00:00.000Z&end=2029-01-01T00:00:00.000Z";
    let summary = c
        .get(&format!(
            "/v3/reports/contact_reports/{opener}/activity_summary?{range}"
        ))
        .await;
    assert_eq!(
        summary["campaign_activities"][0]["campaign_activity_id"],
        activity.as_str()
    );
    assert!(num_of(&summary, "/campaign_activities/0/em_opens") >= 1);
    let rates = c
        .get(&format!(
            "/v3/reports/contact_reports/{opener}/open_and_click_rates?{range}"
        ))
        .await;
    assert_eq!(num_of(&rates, "/included_activities_count"), 1);
    assert_eq!(rates["average_open_rate"], json!(1.0));
    c.call(
        M_GET,
        &format!(
            "/v3/reports/contact_reports/{opener}/open_and_click_rates?start=2010-01-01&end=2030-01-01"
        ),
        None,
        400,
    )
    .await;
    c.assert_conforms();
    sandbox.stop().await;
}

#[tokio::test]
async fn a_scheduled_campaign_whose_time_has_passed_counts_as_sent() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let list = list_of_new_contacts(&mut c, "later", 5).await;
    let (campaign, activity) = new_campaign(&mut c, "Later", HTML).await;
    c.call(
        Method::PUT,
        &format!("/v3/emails/activities/{activity}"),
        Some(recipients(&[&list])),
        200,
    )
    .await;
    // The past is refused; a moment from now is accepted.
    c.schedule(
        &format!("/v3/emails/activities/{activity}"),
        "2020-01-01T00:00:00.000Z",
        400,
    )
    .await;
    let soon = format_ms(now_ms() + 1_500);
    c.schedule(&format!("/v3/emails/activities/{activity}"), &soon, 201)
        .await;
    assert_eq!(
        c.get(&format!("/v3/emails/{campaign}")).await["current_status"],
        "Scheduled"
    );
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert_eq!(
        c.get(&format!("/v3/emails/{campaign}")).await["current_status"],
        "Done"
    );
    let history = c
        .get(&format!("/v3/emails/activities/{activity}/send_history"))
        .await;
    assert_eq!(num_of(&history, "/0/count"), 5);
    assert_eq!(
        history[0]["run_date"],
        json!(soon),
        "sent at its scheduled time"
    );
    assert_eq!(
        c.get(&format!("/v3/emails/activities/{activity}/schedules"))
            .await,
        json!([])
    );

    // Scheduled again once Done: only contacts added since receive it.
    c.call(
        Method::POST,
        "/v3/contacts",
        Some(
            json!({"email_address": {"address": "late.joiner@example.com"},
                    "create_source": "Account", "list_memberships": [list]}),
        ),
        201,
    )
    .await;
    c.schedule(&format!("/v3/emails/activities/{activity}"), "0", 201)
        .await;
    let history = c
        .get(&format!("/v3/emails/activities/{activity}/send_history"))
        .await;
    assert_eq!(num_of(&history, "/1/count"), 1);
    assert_eq!(num_of(&history, "/1/send_id"), 2);
    c.assert_conforms();
    sandbox.stop().await;
}

#[tokio::test]
async fn one_resend_to_non_openers_per_campaign() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let (_, _, activity) = sent_campaign(&mut c, "resent", 10).await;
    let path = format!("/v3/emails/activities/{activity}/non_opener_resends");
    assert_eq!(c.get(&path).await, json!([]));
    for bad in [
        json!({"resend_subject": "Again", "delay_minutes": 60}),
        json!({"resend_subject": "Again", "delay_days": 11}),
        json!({"resend_subject": "Again"}),
        json!({"delay_days": 2}),
    ] {
        c.call(Method::POST, &path, Some(bad), 400).await;
    }
    let created = c
        .call(
            Method::POST,
            &path,
            Some(
                json!({"resend_subject": "In case you missed it", "delay_days": 2,
                        "delay_minutes": 30}),
            ),
            201,
        )
        .await;
    assert_eq!(created["delay_days"], 2, "delay_minutes is ignored");
    let id = str_of(&created, "/resend_request_id").to_owned();
    let listed = c.get(&path).await;
    assert_eq!(listed[0]["resend_request_id"], id.as_str());
    assert_eq!(listed[0]["resend_status"], "SCHEDULED");
    assert!(listed[0]["resend_date"].is_string());
    c.call(
        Method::POST,
        &path,
        Some(json!({"resend_subject": "Twice", "delay_minutes": 720})),
        409,
    )
    .await;
    c.call(
        Method::DELETE,
        &format!("{path}/00000000-0000-4000-8000-000000000000"),
        None,
        404,
    )
    .await;
    c.call(Method::DELETE, &format!("{path}/{id}"), None, 204)
        .await;
    assert_eq!(c.get(&path).await, json!([]));
    c.assert_conforms();
    sandbox.stop().await;
}

/// The stats of every report of a fresh sandbox after the same requests.
async fn report_figures() -> BTreeMap<String, Value> {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let mut c = Checker::new(&api);
    let (_, _, activity) = sent_campaign(&mut c, "determinism", 120).await;
    let mut figures = BTreeMap::new();
    let mut stats = c
        .get(&format!(
            "/v3/reports/stats/email_campaign_activities/{activity}"
        ))
        .await;
    stats["results"][0]["last_refresh_time"] = Value::Null;
    figures.insert("stats".into(), stats["results"][0].clone());
    for report in ["opens", "clicks", "bounces", "optouts"] {
        let who: Vec<String> = contacts_of(&tracking(&mut c, &activity, report).await)
            .into_iter()
            .collect();
        figures.insert(report.into(), json!(who));
    }
    c.assert_conforms();
    sandbox.stop().await;
    figures
}

#[tokio::test]
async fn the_same_requests_against_the_same_seed_report_the_same_figures() {
    let first = report_figures().await;
    let second = report_figures().await;
    assert_eq!(first, second);
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// `YYYY-MM-DDThh:mm:ss.fffZ`, as the sandbox answers dates.
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}
