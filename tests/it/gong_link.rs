//! The service's side of the Gong API: its breaker, fed by the client (`GongLink`), and
//! the rate limit shared through the store by every process (`StoreLimiter`).

use std::sync::Arc;
use std::time::Duration;

use gong_api::{ClientConfig, GongError, RateLimiter};
use gong_relay::breaker::{Breaker, BreakerState};
use gong_relay::gong::{GongLink, StoreLimiter};
use gong_sim::{SimConfig, SimHandle};

use crate::helpers::{Backend, TestDb};

async fn sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig::loopback();
    tweak(&mut c);
    gong_sim::start(c).await.unwrap()
}

/// A link whose breaker opens after `threshold` failures for `cool_down`.
fn link(config: ClientConfig, threshold: u32, cool_down: Duration) -> GongLink {
    let limiter = Arc::new(gong_api::LocalLimiter::new(50.0, 10, 10_000));
    GongLink::new(
        config,
        limiter,
        Breaker::new("gong_api", threshold, cool_down),
    )
    .unwrap()
}

#[tokio::test]
async fn the_breaker_opens_and_recovers() {
    let sim = sim(|c| c.fail_rate = 1.0).await;
    let mut config = sim.client_config();
    config.max_retries = 0;
    let link = link(config, 3, Duration::from_millis(300));
    let client = &link.client;
    for _ in 0..3 {
        assert!(matches!(
            client.get_call("1").await,
            Err(GongError::Unavailable { .. })
        ));
    }
    assert_eq!(link.breaker.state(), BreakerState::Open);
    let before = sim.requests().len();
    assert!(matches!(
        client.get_call("1").await,
        Err(GongError::CircuitOpen(_))
    ));
    assert_eq!(sim.requests().len(), before, "refused without calling Gong");

    sim.set_fail_rate(0.0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let id = sim.call_ids().remove(0);
    assert!(client.get_call(&id).await.unwrap().is_some());
    assert_eq!(link.breaker.state(), BreakerState::Closed);
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
        gong_api::Auth::Bearer("t".to_owned().into()),
    );
    config.max_retries = 5;
    config.backoff_base = Duration::from_millis(10);
    let link = link(config, 2, Duration::from_secs(30));
    let client = &link.client;
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

/// Gong refusing the key will not pass by itself: the first 401 opens the breaker (no
/// counting to the threshold), `last_failure` names it without Gong's words, later calls
/// wait without asking Gong, and once the key is accepted the probe closes the breaker.
#[tokio::test]
async fn refused_credentials_open_the_breaker_at_once() {
    let sim = sim(|_| {}).await;
    sim.set_credentials_rejected(true);
    let link = link(sim.client_config(), 5, Duration::from_millis(200));
    let client = &link.client;
    let id = sim.call_ids().remove(0);
    assert!(matches!(
        client.get_call(&id).await,
        Err(GongError::Auth { status: 401, .. })
    ));
    assert_eq!(link.breaker.state(), BreakerState::Open);
    assert!(client.credentials_rejected());
    let (last, _) = client.last_failure().unwrap();
    assert_eq!(last, "/v2/calls/{id}: credentials rejected (401)");
    assert!(matches!(
        client.get_call(&id).await,
        Err(GongError::CircuitOpen(_))
    ));
    assert_eq!(
        sim.requests().len(),
        1,
        "the open breaker held the second call"
    );

    sim.set_credentials_rejected(false);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(client.get_call(&id).await.unwrap().is_some());
    assert_eq!(link.breaker.state(), BreakerState::Closed);
    assert!(!client.credentials_rejected());
    sim.shutdown().await;
}

/// Two clients on one store, as two `serve` replicas (or `serve` and a CLI `backfill`):
/// each is configured with the full limit, and together they still stay within it,
/// because their permits come from the store. (Each on its own bucket would send twice
/// the rate and be refused with 429s.)
async fn clients_sharing_a_store_share_the_rate_limit(db: TestDb) {
    let (rate, burst) = (4.0, 4u32);
    let sim = sim(|c| {
        c.rate_limit = 5.0;
        c.burst = 5;
    })
    .await;
    let id = sim.call_ids().remove(0);
    let mut tasks = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        // A pool of its own per client, as separate processes would have.
        let store = db.store().await;
        store.migrate().await.unwrap();
        let limiter = Arc::new(StoreLimiter::new(store.clone(), rate, burst, 10_000));
        let client =
            Arc::new(gong_api::GongClient::with_limiter(sim.client_config(), limiter).unwrap());
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
    assert_eq!(log.len(), 24);
    assert_eq!(sim.rate_violation(rate, burst), None);
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
    let Some(db) = TestDb::new(Backend::Postgres).await else {
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
