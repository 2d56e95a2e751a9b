//! Rate limits and daily quotas, shared by every handle on one database.

use std::time::{Duration, Instant};

use plugboard_runner::store::Admission;

use super::{Backend, T0_MS, daily, four_per_second, simulate, system_now_ms};

pub async fn rolling_limits_admit_four_per_second_shared_by_two_handles(backend: &impl Backend) {
    let db = backend.database().await;
    let stores = [
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    ];
    let sent = simulate(&stores, 2_000, 0).await;
    // 8 in 2 s at 4/s (no more: any window of 1 s holds at most 4).
    assert_eq!(sent.len(), 8, "{sent:?}");
    for window in sent.windows(5) {
        assert!(window[4] - window[0] >= 1_000, "{sent:?}");
    }
    for second in 0..2 {
        let in_second = sent.iter().filter(|t| **t / 1000 == second).count();
        assert!(in_second <= 4, "{sent:?}");
    }
}

pub async fn slow_responses_push_the_window_back(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    // Each request is answered 400 ms after it is sent: the server may count it that late.
    let sent = simulate(&[store], 3_000, 400).await;
    assert!(sent.len() >= 6, "{sent:?}");
    for window in sent.windows(5) {
        assert!(window[4] - window[0] >= 1_400, "{sent:?}");
    }
}

pub async fn a_daily_quota_stops_at_its_limit_and_resets_at_utc_midnight(backend: &impl Backend) {
    let db = backend.database().await;
    let (a, b) = (
        backend.open(&db).await.unwrap(),
        backend.open(&db).await.unwrap(),
    );
    let day = 86_400_000 * 20_000;
    let late = day + 86_399_000;
    for store in [&a, &b] {
        assert!(matches!(
            store.acquire(&[daily("d", late, 2)], late).await.unwrap(),
            Admission::Granted { .. }
        ));
    }
    for store in [&a, &b] {
        assert_eq!(
            store.acquire(&[daily("d", late, 2)], late).await.unwrap(),
            Admission::Exhausted {
                resets_at_ms: day + 86_400_000
            }
        );
    }
    let next = day + 86_400_000;
    assert!(matches!(
        b.acquire(&[daily("d", next, 2)], next).await.unwrap(),
        Admission::Granted { .. }
    ));
    // The API saying the quota is used up wins over our count.
    a.exhaust("d", next.div_euclid(86_400_000) * 86_400_000, 2)
        .await
        .unwrap();
    assert_eq!(
        b.acquire(&[daily("d", next + 1, 2)], next + 1)
            .await
            .unwrap(),
        Admission::Exhausted {
            resets_at_ms: next + 86_400_000
        }
    );
}

pub async fn a_used_up_quota_charges_no_other_budget(backend: &impl Backend) {
    let db = backend.database().await;
    let store = backend.open(&db).await.unwrap();
    let now = T0_MS;
    // At 4/s and 3 a day: three go, the fourth is refused without taking a rolling slot.
    let charges = |now| [four_per_second("r"), daily("q", now, 3)];
    let mut t = now;
    let mut granted = 0;
    while granted < 3 {
        match store.acquire(&charges(t), t).await.unwrap() {
            Admission::Granted { tickets } => {
                assert_eq!(tickets.len(), 1, "one rolling slot");
                store.complete(&tickets, t).await.unwrap();
                granted += 1;
            }
            Admission::Wait { wait_us } => t += (wait_us + 999) / 1000,
            Admission::Exhausted { .. } => panic!("not yet"),
        }
    }
    t += 5_000;
    assert!(matches!(
        store.acquire(&charges(t), t).await.unwrap(),
        Admission::Exhausted { .. }
    ));
    // The rolling budget alone has room for a burst of 4 spaced requests: nothing was taken
    // from it by the refused one, and it never asks more than one interval of waiting.
    let mut rolling_grants = 0;
    let mut waited_us = 0;
    while rolling_grants < 4 {
        match store.acquire(&[four_per_second("r")], t).await.unwrap() {
            Admission::Granted { tickets } => {
                store.complete(&tickets, t).await.unwrap();
                rolling_grants += 1;
            }
            Admission::Wait { wait_us } => {
                assert!(wait_us <= 252_500, "{wait_us}");
                waited_us += wait_us;
                t += (wait_us + 999) / 1000;
            }
            Admission::Exhausted { .. } => panic!("no counter here"),
        }
    }
    assert!(waited_us <= 3 * 252_500 + 3_000, "{waited_us}");
}

/// Many tasks (each with its own handle, like processes) asking for one 4/s budget on the real
/// clock: whatever the interleaving, no window of the budget ever holds a fifth request.
pub async fn concurrent_admission_from_many_tasks_never_exceeds_the_rate(backend: &impl Backend) {
    const TASKS: usize = 12;
    const RUN: Duration = Duration::from_millis(2_500);
    let db = backend.database().await;
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = backend.open(&db).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let charges = [four_per_second("shared")];
            let mut granted = Vec::new();
            // Bounded: by time, and each wait is at least a millisecond.
            while Instant::now() < deadline {
                let now = system_now_ms();
                match store.acquire(&charges, now).await.unwrap() {
                    Admission::Granted { tickets } => {
                        granted.push(now);
                        store.complete(&tickets, now).await.unwrap();
                    }
                    Admission::Wait { wait_us } => {
                        let wait = Duration::from_micros(wait_us.unsigned_abs())
                            .max(Duration::from_millis(1));
                        tokio::time::sleep(wait).await;
                    }
                    Admission::Exhausted { .. } => panic!("no counter here"),
                }
            }
            granted
        }));
    }
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.expect("no panic"));
    }
    sent.sort_unstable();
    // At most 4 per rolling 1.01 s: 10 in 2.5 s; at least more than one window's worth.
    assert!(
        (5..=10).contains(&sent.len()),
        "{} requests: {sent:?}",
        sent.len()
    );
    for (i, window) in sent.windows(5).enumerate() {
        assert!(
            window[4] - window[0] >= 1_010,
            "requests {i}..{} within {} ms: {sent:?}",
            i + 4,
            window[4] - window[0]
        );
    }
    for pair in sent.windows(2) {
        assert!(pair[1] - pair[0] >= 252, "spaced by the interval: {sent:?}");
    }
}
