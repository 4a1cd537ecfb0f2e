//! The client against the project's Gong simulator (`gong-sim`), over real HTTP on
//! loopback: pagination and cursors, batching, rate limit, 429 pause, retries, auth errors
//! and every endpoint's parsing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{Duration as Days, Utc};
use gong_api::{
    Auth, CallFilter, ClientConfig, ContentSelector, GongClient, GongError, LimitFuture,
    LocalLimiter, RateLimiter,
};
use gong_sim::{ServedRequest, SimConfig, SimHandle};
use secrecy::SecretString;

async fn sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig::loopback();
    tweak(&mut c);
    gong_sim::start(c).await.unwrap()
}

/// A simulator holding to `rate` requests a second, in bursts of up to `burst`.
async fn sim_limited(rate: f64, burst: u32) -> SimHandle {
    sim(|c| {
        c.rate_limit = rate;
        c.burst = burst;
    })
    .await
}

/// The simulator's URL and credentials, a fast limit and short backoffs.
fn client_config(sim: &SimHandle) -> ClientConfig {
    let mut c = sim.client_config();
    c.rate_limit = 50.0;
    c.burst = 10;
    c.backoff_base = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(200);
    c
}

fn served(sim: &SimHandle, path: &str) -> Vec<ServedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

fn all_time() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    (Utc::now() - Days::days(400), Utc::now() + Days::days(1))
}

#[tokio::test]
async fn pages_are_followed_to_the_end() {
    let sim = sim(|c| c.calls = 250).await;
    let client = GongClient::new(client_config(&sim)).unwrap();
    let (from, to) = all_time();
    let calls = client.list_calls(from, to, None).await.unwrap();
    assert_eq!(calls.len(), 250);
    let ids: std::collections::HashSet<_> = calls.iter().map(|c| c.id.clone().unwrap()).collect();
    assert_eq!(ids.len(), 250, "no call twice");
    assert_eq!(served(&sim, "/v2/calls").len(), 3, "100 + 100 + 50");

    let extensive = client
        .extensive_calls(&CallFilter::period(from, to), &ContentSelector::full())
        .await
        .unwrap();
    assert_eq!(extensive.len(), 250);
    assert!(extensive.iter().all(|c| !c.parties.is_empty()));
    sim.shutdown().await;
}

/// A limiter that lets everything through at once, except that the `nth` acquisition
/// waits `pause`: it makes a pagination sequence outlive its cursor deterministically.
struct PauseOnce {
    n: AtomicUsize,
    nth: usize,
    pause: Duration,
}

impl RateLimiter for PauseOnce {
    fn acquire(&self) -> LimitFuture<'_> {
        Box::pin(async move {
            if self.n.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
                tokio::time::sleep(self.pause).await;
            }
            Ok(())
        })
    }
    fn daily_remaining(&self) -> u32 {
        u32::MAX
    }
}

#[tokio::test]
async fn an_expired_cursor_restarts_the_sequence_without_duplicates() {
    let sim = sim(|c| {
        c.calls = 250;
        c.cursor_ttl = Duration::from_millis(300);
    })
    .await;
    let limiter = Arc::new(PauseOnce {
        n: AtomicUsize::new(0),
        nth: 3,
        pause: Duration::from_millis(500),
    });
    let client = GongClient::with_limiter(client_config(&sim), limiter).unwrap();
    let (from, to) = all_time();
    let calls = client.list_calls(from, to, None).await.unwrap();
    assert_eq!(calls.len(), 250);
    let statuses: Vec<u16> = served(&sim, "/v2/calls").iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 200, 400, 200, 200, 200], "{statuses:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn not_found_for_the_filters_is_an_empty_result() {
    let sim = sim(|_| {}).await;
    let client = GongClient::new(client_config(&sim)).unwrap();
    let from = Utc::now() - Days::days(9000);
    let calls = client
        .list_calls(from, from + Days::days(1), None)
        .await
        .unwrap();
    assert!(calls.is_empty());
    assert_eq!(served(&sim, "/v2/calls")[0].status, 404);
    assert!(client.get_call("1234567890").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn ids_are_batched_a_hundred_per_request() {
    let sim = sim(|c| c.calls = 260).await;
    let client = GongClient::new(client_config(&sim)).unwrap();
    let mut ids: Vec<String> = sim
        .calls()
        .iter()
        .take(250)
        .map(|c| c["metaData"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.push("999999999999999999".into()); // unknown to Gong
    ids.push(ids[0].clone()); // asked twice
    let batch = client
        .extensive_calls_by_ids(&ids, &ContentSelector::full())
        .await
        .unwrap();
    assert_eq!(batch.found.len(), 250);
    assert_eq!(batch.missing, vec!["999999999999999999".to_string()]);
    assert_eq!(served(&sim, "/v2/calls/extensive").len(), 3, "251 ids");

    let transcripts = client.transcripts_by_ids(&ids).await.unwrap();
    assert_eq!(transcripts.found.len(), 250);
    assert_eq!(served(&sim, "/v2/calls/transcript").len(), 3);
    // Transcript speakers are the call's parties.
    let call = &batch.found[&ids[1]];
    let speakers: std::collections::HashSet<_> = call
        .parties
        .iter()
        .filter_map(|p| p.speaker_id.clone())
        .collect();
    for m in &transcripts.found[&ids[1]].transcript {
        assert!(speakers.contains(m.speaker_id.as_ref().unwrap()));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_callers_stay_within_rate_and_burst() {
    // The client is configured a little under Gong's limit, as in production (2.5/s
    // against Gong's 3/s), so scheduling jitter on the way cannot push it over.
    let (rate, burst) = (16.0, 4u32);
    let sim = sim_limited(20.0, 5).await;
    let mut config = client_config(&sim);
    config.rate_limit = rate;
    config.burst = burst;
    let client = Arc::new(GongClient::new(config).unwrap());
    let id = sim.call_ids().remove(0);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, id) = (client.clone(), id.clone());
        tasks.push(tokio::spawn(async move { client.get_call(&id).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    assert!(sim.requests().iter().all(|r| r.status == 200), "no 429");
    assert_eq!(sim.requests().len(), 50);
    assert_eq!(sim.rate_violation(rate, burst), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sim = sim_limited(1.0, 1).await;
    let client = GongClient::new(client_config(&sim)).unwrap(); // 50/s: faster than Gong
    let id = sim.call_ids().remove(0);
    client.get_call(&id).await.unwrap().unwrap();
    client.get_call(&id).await.unwrap().unwrap();
    let log = sim.requests();
    let throttled = log.iter().position(|r| r.status == 429).expect("a 429");
    let next = &log[throttled + 1];
    assert_eq!(next.status, 200);
    assert!(
        next.at.duration_since(log[throttled].at) >= Duration::from_secs(1),
        "waited Retry-After"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_pauses_every_caller() {
    let sim = sim_limited(1.0, 1).await;
    let client = Arc::new(GongClient::new(client_config(&sim)).unwrap()); // 50/s
    let id = sim.call_ids().remove(0);
    client.get_call(&id).await.unwrap().unwrap();
    // The second call finds the bucket empty: 429, Retry-After 1.
    let first = tokio::spawn({
        let (client, id) = (client.clone(), id.clone());
        async move { client.get_call(&id).await }
    });
    let throttled_at = loop {
        if let Some(r) = sim.requests().iter().find(|r| r.status == 429) {
            break r.at;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // A caller arriving during the pause was not told to wait, yet must.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn({
        let (client, id) = (client.clone(), id.clone());
        async move { client.get_call(&id).await }
    });
    first.await.unwrap().unwrap().unwrap();
    second.await.unwrap().unwrap().unwrap();
    let during: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.at > throttled_at && r.at < throttled_at + Duration::from_secs(1))
        .collect();
    assert!(during.is_empty(), "sent during Retry-After: {during:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_then_given_up() {
    let sim = sim(|c| c.fail_rate = 1.0).await;
    let mut config = client_config(&sim);
    config.max_retries = 2;
    let client = GongClient::new(config).unwrap();
    let err = client.get_call("1").await.unwrap_err();
    assert!(
        matches!(err, GongError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(sim.requests().len(), 3);
    sim.set_fail_rate(0.0);
    let id = sim.call_ids().remove(0);
    assert!(client.get_call(&id).await.unwrap().is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_fail_fast() {
    let sim = sim(|_| {}).await;
    let mut config = client_config(&sim);
    config.auth = Auth::Basic {
        access_key: "sim-key".into(),
        secret: SecretString::from("wrong"),
    };
    let client = GongClient::new(config).unwrap();
    let err = client.get_call("1").await.unwrap_err();
    assert!(matches!(err, GongError::Auth { status: 401, .. }), "{err}");
    assert!(!err.is_retryable());
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode("sim-key:wrong");
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(
            !text.contains(":wrong") && !text.contains(&encoded),
            "{text}"
        );
    }
    assert_eq!(sim.requests().len(), 1, "no retry");
    sim.shutdown().await;
}

#[tokio::test]
async fn users_stats_settings_and_privacy_endpoints_parse() {
    let sim = sim(|_| {}).await;
    let client = GongClient::new(client_config(&sim)).unwrap();
    let users = client.list_users().await.unwrap();
    assert!(!users.is_empty());
    let uid = users[0].id.clone().unwrap().0;
    assert!(client.get_user(&uid).await.unwrap().is_some());
    assert!(
        !client
            .users_extensive(std::slice::from_ref(&uid))
            .await
            .unwrap()
            .is_empty()
    );
    let filter = gong_api::StatsFilter {
        from: (Utc::now() - Days::days(30)).date_naive(),
        to: Utc::now().date_naive(),
        user_ids: vec![],
    };
    let interaction = client.interaction_stats(&filter).await.unwrap();
    assert!(!interaction.is_empty());
    assert!(!interaction[0].person_interaction_stats.is_empty());
    let aggregate = client.activity_aggregate(&filter).await.unwrap();
    assert!(!aggregate[0].user_aggregate_activity_stats.is_empty());
    let daily = client.activity_day_by_day(&filter).await.unwrap();
    assert!(!daily[0].user_daily_activity_stats.is_empty());
    let scorecards = client
        .answered_scorecards(&Default::default())
        .await
        .unwrap();
    assert!(scorecards.iter().all(|s| s.call_id.is_some()));
    assert!(!client.trackers(None).await.unwrap().is_empty());
    assert!(!client.workspaces().await.unwrap().is_empty());
    let email = sim.calls()[0]["parties"][0]["emailAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let refs = client.data_for_email_address(&email).await.unwrap();
    assert!(!refs.calls.is_empty(), "the address took part in a call");
    assert_eq!(
        sim.requests()
            .iter()
            .filter(|r| r.status >= 400 && r.status != 404)
            .count(),
        0,
        "{:?}",
        sim.requests()
    );
    let _ = LocalLimiter::new(1.0, 1, 1); // the default limiter type is public
    sim.shutdown().await;
}

#[tokio::test]
async fn meetings_are_created_updated_and_deleted() {
    use gong_api::models::{MeetingInvitee, MeetingRequest};
    let sim = sim(|_| {}).await;
    let client = GongClient::new(client_config(&sim)).unwrap();
    let organizer = client.list_users().await.unwrap()[0]
        .email_address
        .clone()
        .unwrap();
    let start = Utc::now() + Days::days(1);
    let mut meeting = MeetingRequest {
        start_time: start.to_rfc3339(),
        end_time: (start + Days::hours(1)).to_rfc3339(),
        title: Some("Renewal review".into()),
        invitees: vec![MeetingInvitee {
            email: "buyer@example.com".into(),
            ..Default::default()
        }],
        external_id: None,
        organizer_email: organizer.clone(),
    };
    let created = client.create_meeting(&meeting).await.unwrap();
    let id = created.meeting_id.unwrap().0;
    assert!(created.meeting_url.unwrap().starts_with("https://"));
    meeting.title = Some("Renewal review (moved)".into());
    client.update_meeting(&id, &meeting).await.unwrap();
    client.delete_meeting(&id, &organizer).await.unwrap();
    let err = client.delete_meeting(&id, &organizer).await.unwrap_err();
    assert!(matches!(err, GongError::NotFound(_)), "{err}");
    sim.shutdown().await;
}
