//! The real binary as separate `serve` processes: killed with SIGKILL mid-batch, and two
//! of them sharing one PostgreSQL queue.

use std::collections::HashMap;
use std::process::Child;
use std::time::Duration;

use gong_relay::store::Store;
use gong_relay::warehouse::{self, CALLS, HISTORY, Warehouse};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::pipeline::{call_webhook, simulator_with};

/// A `gong-relay serve` child process.
pub(crate) struct Serve {
    child: Child,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// `serve` with the simulator as Gong, fast retries, then `extra`.
    async fn start(db: &TestDb, sim_url: &str, extra: &[(&str, &str)]) -> Serve {
        let mut env: Vec<(&str, String)> = vec![
            ("GONG_API_KEY", "sim-key:sim-secret".into()),
            ("GONG_API_BASE_URL", sim_url.into()),
            ("GONG_API_RATE_LIMIT", "100".into()),
            ("GONG_API_BURST_LIMIT", "100".into()),
            ("GONG_RECONCILE_INTERVAL", "0".into()),
            ("RETRY_BACKOFF", "100ms".into()),
            ("RETRY_BACKOFF_MAX", "500ms".into()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Serve::start_with(db, &env)
    }

    /// `serve` that takes webhooks signed with rule key A, with `env` on top (and no Gong
    /// API unless `env` names one).
    pub(crate) fn start_with(db: &TestDb, env: &[(&str, String)]) -> Serve {
        let mut all: Vec<(&str, String)> = vec![
            (
                "GONG_WEBHOOK_PUBLIC_KEYS",
                json!([read_data("gong_rule_a.pub.b64")]).to_string(),
            ),
            ("GONG_WEBHOOK_PUBLIC_URL", PUBLIC_URL.into()),
        ];
        all.extend(env.iter().cloned());
        let dir = tempfile::tempdir().unwrap();
        let (child, addr) = spawn_serve(db, dir.path(), &all);
        Serve {
            child,
            base: format!("http://{addr}"),
            _dir: dir,
        }
    }

    /// Sends a signed call webhook; the answer as it came.
    async fn send_call(&self, client: &reqwest::Client, call: &Value) -> reqwest::Response {
        let body = call_webhook(call);
        client
            .post(format!("{}/webhook/gong/calls", self.base))
            .header("content-type", "application/json")
            .header("authorization", gong_token(&body))
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends a signed call webhook that must be accepted; returns the event id.
    pub(crate) async fn post_call(&self, client: &reqwest::Client, call: &Value) -> String {
        let (status, json) = answer(self.send_call(client, call).await).await;
        assert_eq!(status, 200, "{json}");
        json["event_id"].as_str().unwrap().to_owned()
    }

    /// SIGKILL: no shutdown code runs.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn statuses(store: &Store) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for e in store.events().await.unwrap() {
        *by.entry(e.status.as_str().to_owned()).or_insert(0) += 1;
    }
    by
}

/// Waits until the number of events in `status` satisfies `enough`.
async fn wait_for(store: &Store, status: &str, secs: u64, enough: impl Fn(usize) -> bool) {
    eventually(secs, &format!("events {status}"), || async {
        let n = statuses(store).await.get(status).copied().unwrap_or(0);
        enough(n).then_some(())
    })
    .await;
}

/// Every event done once: one row per call, one `call_processed` notification per call,
/// at most one successful finish per event.
async fn assert_exactly_once(store: &Store, wh: &dyn Warehouse, calls: &[Value]) {
    assert_eq!(wh.count(&CALLS).await.unwrap(), calls.len() as i64);
    let outbox = store.outbox_entries().await.unwrap();
    let processed: Vec<_> = outbox
        .iter()
        .filter(|o| o.message_type == "call_processed")
        .collect();
    assert_eq!(processed.len(), calls.len(), "one notification per call");
    for c in calls {
        let id = c["metaData"]["id"].as_str().unwrap();
        let r = wh.fetch(&CALLS, id).await.unwrap().expect("row");
        assert_eq!(r["enhanced"], json!(true), "{id}");
    }
    for e in store.events().await.unwrap() {
        let history = wh.select(&HISTORY, "event_id", &e.event_id).await.unwrap();
        let count = |stage: &str| {
            history
                .iter()
                .filter(|h| h["stage"] == json!(stage) && h["status"] == json!("ok"))
                .count()
        };
        // Its rows were stored by an attempt (written before finishing)…
        assert!(count("store_enhanced") >= 1, "{history:?}");
        // …and at most one attempt finished it (the finish row, written just after
        // finishing, is lost when the process dies in between).
        assert!(
            count("outbox") <= 1,
            "event {} finished more than once: {history:?}",
            e.event_id
        );
    }
}

async fn a_killed_worker_loses_nothing_and_duplicates_nothing(db: TestDb) {
    // Slow Gong answers keep batches in flight long enough to be cut by the kill.
    let sim = simulator_with(|c| c.latency = Duration::from_millis(700)).await;
    let calls = sim.create_calls(100);
    let env = [("WORKERS", "2"), ("WORKER_LEASE", "2s")];
    let first = Serve::start(&db, &sim.base_url(), &env).await;
    let client = reqwest::Client::new();
    for c in &calls {
        first.post_call(&client, c).await;
    }
    let store = db.store().await;
    wait_for(&store, "done", 60, |n| n > 0).await;
    // From now on Gong hangs. A batch whose Gong answers were all in before this finishes
    // within milliseconds; one still processing a second later is stuck on Gong, so the
    // kill lands in the middle of it (polling for "processing" alone races a batch that
    // is about to finish).
    sim.set_latency(Duration::from_secs(120));
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A batch stuck on Gong.
    wait_for(&store, "processing", 60, |n| n > 0).await;
    first.kill();
    let at_kill = statuses(&store).await;
    assert!(
        at_kill.get("processing").copied().unwrap_or(0) > 0,
        "the kill came mid-batch: {at_kill:?}"
    );
    sim.set_latency(Duration::from_millis(700));

    let _second = Serve::start(&db, &sim.base_url(), &env).await;
    wait_for(&store, "done", 90, |n| n == calls.len()).await;
    let wh = warehouse::open(&store);
    assert_exactly_once(&store, wh.as_ref(), &calls).await;
    store.close().await;
    sim.shutdown().await;
}

async fn two_processes_share_one_postgres_queue(db: TestDb) {
    let sim = simulator_with(|_| {}).await;
    let calls = sim.create_calls(500);
    let env = [("WORKERS", "4")];
    let a = Serve::start(&db, &sim.base_url(), &env).await;
    let b = Serve::start(&db, &sim.base_url(), &env).await;
    let client = reqwest::Client::new();
    for (i, c) in calls.iter().enumerate() {
        let to = if i % 2 == 0 { &a } else { &b };
        to.post_call(&client, c).await;
    }
    let store = db.store().await;
    wait_for(&store, "done", 120, |n| n == calls.len()).await;
    // Nobody processed an event twice: one claim each, one finish each.
    for e in store.events().await.unwrap() {
        assert_eq!(e.attempts, 1, "event {} claimed more than once", e.event_id);
    }
    let wh = warehouse::open(&store);
    assert_exactly_once(&store, wh.as_ref(), &calls).await;
    store.close().await;
    sim.shutdown().await;
}

/// PostgreSQL goes away mid-processing (connections cut and refused) and comes back:
/// webhooks are refused meanwhile (never acknowledged without a commit), the work waits,
/// and every event accepted before or after is done exactly once, none dead-lettered.
async fn a_postgres_outage_delays_work_and_loses_none(db: TestDb) {
    let sim = simulator_with(|c| c.latency = Duration::from_millis(300)).await;
    let calls = sim.create_calls(41);
    let env = [
        ("WORKERS", "2"),
        ("WORKER_LEASE", "2s"),
        ("MAX_ATTEMPTS", "3"),
    ];
    let serve = Serve::start(&db, &sim.base_url(), &env).await;
    let client = reqwest::Client::new();
    for c in &calls[..40] {
        serve.post_call(&client, c).await;
    }
    let store = db.store().await;
    wait_for(&store, "done", 60, |n| n > 0).await;

    db.set_postgres_up(false).await;
    let late = &calls[40];
    let refused = serve.send_call(&client, late).await;
    assert_eq!(refused.status(), 503, "no acknowledgement without a commit");
    // /health answers from a snapshot whose store ping is refreshed every second.
    eventually(10, "/health 503 while the store is down", || async {
        let health = client.get(format!("{}/health", serve.base)).send().await;
        (health.unwrap().status() == 503).then_some(())
    })
    .await;
    // Longer than a lease, and than every retry the events would get if the outage were
    // spent on their attempts.
    tokio::time::sleep(Duration::from_secs(5)).await;
    db.set_postgres_up(true).await;

    // Gong's own retry is not to be counted on: the sender delivers again after a 503.
    serve.post_call(&client, late).await;
    wait_for(&store, "done", 90, |n| n == calls.len()).await;
    let wh = warehouse::open(&store);
    assert_exactly_once(&store, wh.as_ref(), &calls).await;
    store.close().await;
    sim.shutdown().await;
}

crate::on_both_backends!(a_killed_worker_loses_nothing_and_duplicates_nothing);

crate::on_postgres!(
    postgres_only: a_postgres_outage_delays_work_and_loses_none,
    two_processes_share_one_postgres_queue,
);
