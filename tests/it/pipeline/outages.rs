//! Warehouse outages: the warehouse in a database of its own (as Snowflake will be) goes down
//! while the queue stays up. Events wait without using attempts, Gong is not asked for data
//! that could not be stored, and everything lands once the warehouse is back.

use std::sync::Arc;
use std::time::Duration;

use gong_relay::breaker::BreakerState;
use gong_relay::gong::GongLink;
use gong_relay::insights::Rules;
use gong_relay::pipeline::{Pipeline, Settings};
use gong_relay::store::{Store, StoredEvent};
use gong_relay::warehouse::{self, CALLS, RAW, Warehouse};
use gong_sim::{SimConfig, SimHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::*;

/// A receive-only app on the store's database with calls from the simulator posted, and a
/// warehouse in a PostgreSQL database of its own, which the test takes down and up.
struct Split {
    wh_db: TestDb,
    wh_store: Store,
    wh: Arc<dyn Warehouse>,
    sim: SimHandle,
    app: TestApp,
    calls: i64,
}

/// A pipeline's running workers.
struct Workers {
    pipeline: Pipeline,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Split {
    /// `None` where PostgreSQL cannot be had (and is not required).
    async fn new(
        store_db: &TestDb,
        sim: impl FnOnce(&mut SimConfig),
        calls: usize,
    ) -> Option<Split> {
        let wh_db = TestDb::new(Backend::Postgres).await?;
        let sim = simulator_with(sim).await;
        let posted = sim.create_calls(calls);
        // Receive-only: the pipeline under test is built over the other warehouse.
        let app = TestApp::spawn(store_db).await;
        post_calls(&app, &posted).await;
        let wh_store = wh_db.store().await;
        let wh = warehouse::open(&wh_store);
        wh.migrate().await.unwrap();
        Some(Split {
            wh_db,
            wh_store,
            wh,
            sim,
            app,
            calls: calls as i64,
        })
    }

    /// Starts a pipeline over the app's store and this warehouse: one worker, fast retries.
    fn run(&self, max_attempts: u32) -> Workers {
        let gong = GongLink::standalone(self.sim.client_config()).unwrap();
        let settings = Settings {
            workers: 1,
            claim_batch: 25,
            lease: Duration::from_secs(10),
            max_attempts,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(200),
            batch_wait: Duration::from_millis(20),
            idle_poll: Duration::from_millis(50),
        };
        let store = self.app.store().clone();
        let pipeline = Pipeline::new(
            store,
            self.wh.clone(),
            Some(gong),
            Rules::builtin(),
            settings,
        );
        let (stop, stopped) = watch::channel(false);
        let handles = pipeline.spawn_workers(stopped);
        Workers {
            pipeline,
            stop,
            handles,
        }
    }

    async fn events_all(&self, what: &str, secs: u64, check: impl Fn(&StoredEvent) -> bool) {
        eventually(secs, what, || async {
            let events = self.app.store().events().await.unwrap();
            events.iter().all(&check).then_some(())
        })
        .await;
    }

    /// Once the warehouse is back: every event is done and every call has its row. Stops
    /// the workers and returns their pipeline.
    async fn all_land(self, workers: Workers) -> Pipeline {
        self.wh_db.set_postgres_up(true).await;
        let what = "every event to be done after the outage";
        self.events_all(what, 60, |e| e.status == "done").await;
        assert_eq!(self.wh.count(&CALLS).await.unwrap(), self.calls);
        workers.stop.send(true).unwrap();
        for w in workers.handles {
            w.await.unwrap();
        }
        self.wh_store.close().await;
        self.sim.shutdown().await;
        workers.pipeline
    }
}

/// MAX_ATTEMPTS 2 would dead-letter the events in a few hundred milliseconds if the outage
/// used attempts; the breaker opens, and closes again once the warehouse is back.
async fn a_warehouse_outage_postpones_without_using_attempts(store_db: TestDb) {
    let Some(split) = Split::new(&store_db, |_| {}, 10).await else {
        return;
    };
    split.wh_db.set_postgres_up(false).await;
    let workers = split.run(2);
    let breaker = workers.pipeline.warehouse_breaker();
    eventually(30, "the warehouse breaker to open", || async {
        (breaker.state() != BreakerState::Closed).then_some(())
    })
    .await;
    // Several breaker cool-downs: each lets one probe batch fail again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for e in split.app.store().events().await.unwrap() {
        assert_ne!(e.status, "dead", "an outage dead-lettered {}", e.event_id);
        assert!(e.attempts <= 1, "the outage used attempts: {}", e.attempts);
    }
    assert!(
        split.sim.requests().is_empty(),
        "Gong asked during the outage"
    );

    let pipeline = split.all_land(workers).await;
    assert_eq!(
        pipeline.warehouse_breaker().state(),
        BreakerState::Closed,
        "closed again"
    );
}

/// The warehouse goes down while a batch waits for Gong (its raw rows are stored): the
/// enhanced rows cannot be written, and the batch waits without using its only attempt.
async fn a_warehouse_outage_mid_batch_postpones_it(store_db: TestDb) {
    let slow = |c: &mut SimConfig| c.latency = Duration::from_millis(1500);
    let Some(split) = Split::new(&store_db, slow, 5).await else {
        return;
    };
    // MAX_ATTEMPTS 1: an attempt spent on the outage would dead-letter the events.
    let workers = split.run(1);
    eventually(30, "the raw rows, then Gong being asked", || async {
        let raw = split.wh.count(&RAW).await.ok()?;
        (raw == split.calls && !split.sim.requests().is_empty()).then_some(())
    })
    .await;
    split.wh_db.set_postgres_up(false).await;
    let postponed = |e: &StoredEvent| e.status == "failed" && e.attempts == 0;
    split
        .events_all("the batch to be postponed", 30, postponed)
        .await;
    split.all_land(workers).await;
}

// The store on SQLite, the warehouse on PostgreSQL.
crate::on_sqlite!(
    sqlite_store: a_warehouse_outage_postpones_without_using_attempts,
    a_warehouse_outage_mid_batch_postpones_it,
);
