//! The Gong client against the project's Gong simulator, over real HTTP on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use gong_relay::breaker::BreakerState;
use gong_relay::config::GongAuth;
use gong_relay::gong::limiter::LimitFuture;
use gong_relay::gong::{
    CallFilter, ClientConfig, ContentSelector, GongClient, GongError, LocalLimiter, RateLimiter,
};
use gong_relay::simulator::{self, ServedRequest, SimConfig, SimHandle};
use secrecy::SecretString;

async fn sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..SimConfig::default()
    };
    tweak(&mut c);
    simulator::start(c).await.unwrap()
}

fn client_config(sim: &SimHandle) -> ClientConfig {
    let mut c = ClientConfig::new(
        sim.base_url(),
        GongAuth::Basic {
            access_key: "sim-key".into(),
            secret: SecretString::from("sim-secret"),
        },
    );
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

/// In any window, no more requests than the burst plus what the rate refills in it.
fn assert_within_rate(times: &[Instant], rate: f64, burst: u32) {
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i) {
            let window = end.duration_since(*start).as_secs_f64();
            let allowed = burst as f64 + rate * window + 1.0;
            assert!(
                (j - i + 1) as f64 <= allowed,
                "{} requests in {window:.3}s",
                j - i + 1
            );
        }
    }
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
    let sim = sim(|c| {
        c.rate_limit = 20.0;
        c.burst = 5;
    })
    .await;
    let mut config = client_config(&sim);
    config.rate_limit = rate;
    config.burst = burst;
    let client = Arc::new(GongClient::new(config).unwrap());
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (client, id) = (client.clone(), id.clone());
        tasks.push(tokio::spawn(async move { client.get_call(&id).await }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    let times: Vec<Instant> = sim.requests().iter().map(|r| r.at).collect();
    assert!(sim.requests().iter().all(|r| r.status == 200), "no 429");
    assert_eq!(times.len(), 50);
    assert_within_rate(&times, rate, burst);
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sim = sim(|c| {
        c.rate_limit = 1.0;
        c.burst = 1;
    })
    .await;
    let client = GongClient::new(client_config(&sim)).unwrap(); // 50/s: faster than Gong
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let sim = sim(|c| {
        c.rate_limit = 1.0;
        c.burst = 1;
    })
    .await;
    let client = Arc::new(GongClient::new(client_config(&sim)).unwrap()); // 50/s
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    config.breaker_threshold = 100;
    let client = GongClient::new(config).unwrap();
    let err = client.get_call("1").await.unwrap_err();
    assert!(
        matches!(err, GongError::Unavailable { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(sim.requests().len(), 3);
    sim.set_fail_rate(0.0);
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(client.get_call(&id).await.unwrap().is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_breaker_opens_and_recovers() {
    let sim = sim(|c| c.fail_rate = 1.0).await;
    let mut config = client_config(&sim);
    config.max_retries = 0;
    config.breaker_threshold = 3;
    config.breaker_cool_down = Duration::from_millis(300);
    let client = GongClient::new(config).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            client.get_call("1").await,
            Err(GongError::Unavailable { .. })
        ));
    }
    assert_eq!(client.breaker().state(), BreakerState::Open);
    let before = sim.requests().len();
    assert!(matches!(
        client.get_call("1").await,
        Err(GongError::CircuitOpen(_))
    ));
    assert_eq!(sim.requests().len(), before, "refused without calling Gong");

    sim.set_fail_rate(0.0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(client.get_call(&id).await.unwrap().is_some());
    assert_eq!(client.breaker().state(), BreakerState::Closed);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_call_that_opens_the_breaker_reports_its_own_failure() {
    // Nothing listens there: every attempt is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ClientConfig::new(
        format!("http://127.0.0.1:{port}"),
        GongAuth::Basic {
            access_key: "k".into(),
            secret: SecretString::from("s"),
        },
    );
    config.max_retries = 5;
    config.breaker_threshold = 2;
    config.backoff_base = Duration::from_millis(10);
    let client = GongClient::new(config).unwrap();
    let err = client.get_call("1").await.unwrap_err();
    match &err {
        GongError::Unavailable { attempts, last } => {
            assert_eq!(*attempts, 2, "the breaker stopped the retries");
            assert!(!last.is_empty(), "{err}");
        }
        other => panic!("the connection failure, not {other}"),
    }
    // The next call is refused by the open breaker, without trying.
    assert!(matches!(
        client.get_call("1").await,
        Err(GongError::CircuitOpen(_))
    ));
}

#[tokio::test]
async fn bad_credentials_fail_fast() {
    let sim = sim(|_| {}).await;
    let mut config = client_config(&sim);
    config.auth = GongAuth::Basic {
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
    let filter = gong_relay::gong::StatsFilter {
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
    use gong_relay::gong::models::{MeetingInvitee, MeetingRequest};
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

/// Two clients on one store, as two `serve` replicas (or `serve` and a CLI `backfill`):
/// each is configured with the full limit, and together they still stay within it,
/// because their permits come from the store. (Each on its own bucket would send twice
/// the rate and be refused with 429s.)
async fn clients_sharing_a_store_share_the_rate_limit(db: crate::helpers::TestDb) {
    use gong_relay::gong::StoreLimiter;
    let (rate, burst) = (4.0, 4u32);
    let sim = sim(|c| {
        c.rate_limit = 5.0;
        c.burst = 5;
    })
    .await;
    let id = sim.calls()[0]["metaData"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        // A pool of its own per client, as separate processes would have.
        let store = db.store().await;
        store.migrate().await.unwrap();
        let mut config = client_config(&sim);
        config.rate_limit = rate;
        config.burst = burst;
        let limiter = Arc::new(StoreLimiter::new(store.clone(), rate, burst, 10_000));
        let client = Arc::new(GongClient::with_limiter(config, limiter).unwrap());
        for _ in 0..12 {
            let (client, id) = (client.clone(), id.clone());
            tasks.push(tokio::spawn(async move { client.get_call(&id).await }));
        }
        stores.push(store);
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    let log = sim.requests();
    assert!(log.iter().all(|r| r.status == 200), "a 429: {log:?}");
    let times: Vec<Instant> = log.iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 24);
    assert_within_rate(&times, rate, burst);
    // A process that has not called Gong yet knows what the others spent today.
    let idle = StoreLimiter::new(stores[0].clone(), rate, burst, 10_000);
    assert_eq!(idle.daily_remaining(), 10_000, "before reading the store");
    idle.refresh().await.unwrap();
    assert_eq!(idle.daily_remaining(), 10_000 - 24);
    for s in stores {
        s.close().await;
    }
    sim.shutdown().await;
}

crate::on_both_backends!(clients_sharing_a_store_share_the_rate_limit);

/// With the store down, permits come from a local bucket: Gong work goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_falls_back_to_a_local_limit() {
    use gong_relay::gong::StoreLimiter;
    let Some(db) = crate::helpers::TestDb::new(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let store = db.store().await;
    store.migrate().await.unwrap();
    let limiter = StoreLimiter::new(store.clone(), 100.0, 3, 10_000)
        .fallback_hold(Duration::from_millis(300));
    limiter.acquire().await.unwrap();
    assert_eq!(limiter.daily_remaining(), 9_999, "counted in the store");
    db.set_postgres_up(false).await;
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), limiter.acquire())
            .await
            .expect("a permit while the store is down")
            .unwrap();
    }
    db.set_postgres_up(true).await;
    // Within the hold the fallback still serves (the store is not asked)…
    limiter.acquire().await.unwrap();
    assert_eq!(limiter.daily_remaining(), 9_999);
    // …after it, the store again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    limiter.acquire().await.unwrap();
    assert_eq!(
        limiter.daily_remaining(),
        9_998,
        "back on the store's count, which the fallback permits did not touch"
    );
    store.close().await;
}
