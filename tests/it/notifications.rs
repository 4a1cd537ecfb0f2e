//! Notifications as agents receive them from Redis (architecture §9): each on exactly its
//! channels, kept under its TTL key and in the stream, and only delayed, never lost nor
//! doubled, by a Redis outage, a crash between publishing and marking, or a second
//! publisher on the same store.
//!
//! Pub/sub ignores Redis's logical databases, so each test has a key prefix of its own
//! (whose keys it deletes when it ends) and subscribes to `<prefix>:*` before anything can
//! be published.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gong_relay::config::RawConfig;
use gong_relay::store::{OutboxEntry, Store};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamPendingReply, StreamRangeReply, StreamReadOptions, StreamReadReply};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::pipeline::priorities::signal_calls;
use crate::pipeline::{
    call_id, email_webhook, internal_email, meeting_webhook, post_call, post_calls, post_hs256,
    start, stop, wait_all,
};
use crate::processes::Serve;

/// The notification TTL the tests configure.
const TTL_SECS: i64 = 3600;

/// The Redis the tests share (`GONG_RELAY_TEST_REDIS_URL`, by default the local one).
fn redis_url() -> String {
    std::env::var("GONG_RELAY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

fn redis_required() -> bool {
    std::env::var("GONG_RELAY_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

/// Skips the test, loudly, unless Redis is required (then it fails).
fn skip(why: &str) {
    assert!(!redis_required(), "{why} (GONG_RELAY_REQUIRE_REDIS=1)");
    eprintln!("SKIPPED ({why}); set GONG_RELAY_REQUIRE_REDIS=1 to fail instead");
}

/// A test's own namespace in a Redis (`test:<uuid>`); its keys are deleted when it is
/// dropped, after a failure too.
struct Space {
    url: String,
    prefix: String,
}

impl Space {
    /// A namespace in the shared Redis; `None` (skipped) when it does not answer.
    async fn shared() -> Option<Space> {
        let space = Space::at(redis_url());
        let ping = async {
            let mut conn = space.client().get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(Duration::from_secs(5), ping).await {
            Ok(Ok(_)) => Some(space),
            _ => {
                skip(&format!("Redis unreachable at {}", space.url));
                None
            }
        }
    }

    fn at(url: String) -> Space {
        let prefix = format!("test:{}", uuid::Uuid::now_v7());
        Space { url, prefix }
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(self.url.as_str()).unwrap()
    }

    async fn conn(&self) -> MultiplexedConnection {
        let client = self.client();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// The app publishes here, keeping notifications for [`TTL_SECS`].
    fn configure(&self, c: &mut RawConfig) {
        c.redis_url = Some(self.url.clone());
        c.redis_key_prefix = Some(self.prefix.clone());
        c.redis_notification_ttl = Some(format!("{TTL_SECS}s"));
    }

    /// The same, for a `serve` process.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("REDIS_URL", self.url.clone()),
            ("REDIS_KEY_PREFIX", self.prefix.clone()),
            ("REDIS_NOTIFICATION_TTL", format!("{TTL_SECS}s")),
        ]
    }

    /// The notification ids in a stream, oldest first.
    async fn stream_ids(&self, test: bool) -> Vec<String> {
        let suffix = if test { ":test" } else { "" };
        let stream = format!("{}:stream{suffix}", self.prefix);
        let reply: StreamRangeReply = self.conn().await.xrange_all(stream).await.unwrap();
        reply.ids.iter().map(|e| id_of(e.get("data"))).collect()
    }
}

impl Drop for Space {
    fn drop(&mut self) {
        use redis::Commands;
        let Ok(mut conn) = self
            .client()
            .get_connection_with_timeout(Duration::from_secs(2))
        else {
            return;
        };
        let keys: Vec<String> = conn
            .scan_match(format!("{}:*", self.prefix))
            .map(|keys| keys.filter_map(Result::ok).collect())
            .unwrap_or_default();
        for key in keys {
            let _: Result<(), _> = conn.del(key);
        }
    }
}

/// The `id` of a notification's JSON.
fn id_of(data: Option<String>) -> String {
    let m: Value = serde_json::from_str(&data.expect("a data field")).unwrap();
    m["id"].as_str().unwrap().to_owned()
}

/// Everything published under a prefix from the moment it subscribed: (channel, message).
struct Listener {
    prefix: String,
    got: Arc<Mutex<Vec<(String, Value)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Subscribed to `<prefix>:*` when this returns.
    async fn on(client: redis::Client, prefix: &str) -> Listener {
        let mut pubsub = client.get_async_pubsub().await.unwrap();
        pubsub.psubscribe(format!("{prefix}:*")).await.unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let task = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(m) = messages.next().await {
                let payload: String = m.get_payload().unwrap();
                let json = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
                let channel = m.get_channel_name().to_owned();
                sink.lock().unwrap().push((channel, json));
            }
        });
        Listener {
            prefix: prefix.to_owned(),
            got,
            task,
        }
    }

    async fn start(space: &Space) -> Listener {
        Listener::on(space.client(), &space.prefix).await
    }

    fn marker_channel(&self) -> String {
        format!("{}:marker", self.prefix)
    }

    /// Waits until everything published before this call has arrived: a subscriber gets
    /// its messages in the order Redis published them, so once a marker published now is
    /// in, so is everything before it.
    async fn settle(&self, space: &Space) {
        let marker = uuid::Uuid::now_v7().to_string();
        let _: () = space
            .conn()
            .await
            .publish(self.marker_channel(), &marker)
            .await
            .unwrap();
        let marker = (self.marker_channel(), json!(marker));
        eventually(30, "the marker", || async {
            self.got.lock().unwrap().contains(&marker).then_some(())
        })
        .await;
    }

    /// Per notification id, where it arrived (channels without the prefix, sorted) and
    /// the messages; markers left out.
    fn received(&self) -> BTreeMap<String, (Vec<String>, Vec<Value>)> {
        let mut by_id: BTreeMap<String, (Vec<String>, Vec<Value>)> = BTreeMap::new();
        let skip = self.prefix.len() + 1;
        for (channel, m) in self.got.lock().unwrap().iter() {
            if *channel == self.marker_channel() {
                continue;
            }
            let id = m["id"]
                .as_str()
                .expect("a notification with an id")
                .to_owned();
            let entry = by_id.entry(id).or_default();
            entry.0.push(channel[skip..].to_owned());
            entry.1.push(m.clone());
        }
        for (channels, _) in by_id.values_mut() {
            channels.sort();
        }
        by_id
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a notification must go, as the agents' contract says (written out here rather
/// than taken from the code under test): its type's channel, a copy of an event's result
/// on `priority:high|urgent`, and `:test` on everything of a test event. Sorted.
fn expected_channels(o: &OutboxEntry) -> Vec<String> {
    let (channel, result) = match o.message_type.as_str() {
        "call_processed" => ("calls", true),
        "email_processed" => ("emails", true),
        "meeting_processed" => ("meetings", true),
        "insight" => ("insights", false),
        "action_required" => ("actions", false),
        "processing_error" => ("errors", true),
        other => panic!("unknown notification type {other}"),
    };
    let suffix = if o.is_test { ":test" } else { "" };
    let mut out = vec![format!("{channel}{suffix}")];
    if result && matches!(o.priority.as_str(), "high" | "urgent") {
        out.push(format!("priority:{}{suffix}", o.priority));
    }
    out.sort();
    out
}

/// Every outbox row arrived exactly once on each of its channels, as stored, nothing else
/// arrived, and each is once in its stream (`:stream`, or `:stream:test` for a test event).
async fn assert_each_once(space: &Space, listener: &Listener, rows: &[OutboxEntry]) {
    listener.settle(space).await;
    let mut received = listener.received();
    for o in rows {
        let id = &o.notification_id;
        let (channels, messages) = received.remove(id).unwrap_or_default();
        assert_eq!(channels, expected_channels(o), "{id}");
        let stored: Value = serde_json::from_str(&o.message).unwrap();
        assert!(messages.iter().all(|m| *m == stored), "{id}: {messages:?}");
    }
    assert!(received.is_empty(), "not in the outbox: {received:?}");
    for test in [false, true] {
        let mut want: Vec<&str> = rows
            .iter()
            .filter(|o| o.is_test == test)
            .map(|o| o.notification_id.as_str())
            .collect();
        want.sort();
        let mut have = space.stream_ids(test).await;
        have.sort();
        assert_eq!(have, want, "the stream (test events: {test})");
    }
}

/// Every outbox row, once every one is published (their events must be finished).
async fn all_published(store: &Store, secs: u64) -> Vec<OutboxEntry> {
    eventually(secs, "every notification published", || async {
        let rows = store.outbox_entries().await.unwrap();
        rows.iter()
            .all(|o| o.published_at_ms.is_some())
            .then_some(rows)
    })
    .await
}

/// The call of the webhook fixture, as call `id`: stored unenhanced without a Gong key,
/// and then one `call_processed` notification.
fn fixture_call(id: &str) -> Value {
    let body: Value = serde_json::from_slice(&call_body_for(id)).unwrap();
    body["callData"].clone()
}

/// How many rows are `call_processed` ones.
fn processed_calls(rows: &[OutboxEntry]) -> usize {
    let processed = rows.iter().filter(|o| o.message_type == "call_processed");
    processed.count()
}

async fn redis_health(app: &TestApp) -> String {
    let health: Value = serde_json::from_str(&app.get_text("/health").await).unwrap();
    health["dependencies"]["redis"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn each_notification_reaches_exactly_its_channels(db: TestDb) {
    let Some(space) = Space::shared().await else {
        return;
    };
    let listener = Listener::start(&space).await;
    let (sim, app) = start(&db, |_| {}, |c| space.configure(c)).await;
    let [high, urgent, renewal, low] = signal_calls(&sim);
    let user = internal_email(&low);
    let mut events = post_calls(&app, &[urgent, high, low.clone()]).await;
    let email = email_webhook(&user);
    events.push(post_hs256(&app, "/webhook/gong/emails", &email).await);
    let meeting = meeting_webhook(&user, &call_id(&low), false);
    events.push(post_hs256(&app, "/webhook/gong/meetings", &meeting).await);
    // The test event: an urgent call, with its insights and actions.
    let body = serde_json::to_vec(&json!({"callData": renewal, "isTest": true})).unwrap();
    let test_event = app
        .accepted("/webhook/gong/calls", &body, Some(&gong_token(&body)))
        .await;
    events.push(test_event.clone());
    wait_all(&app, &events, "done", 60).await;
    let rows = all_published(app.store(), 60).await;
    assert_each_once(&space, &listener, &rows).await;

    // Where each event's notifications of a type went.
    let received = listener.received();
    let on = |event: &str, ty: &str| -> Vec<Vec<String>> {
        let of = rows
            .iter()
            .filter(|o| o.event_id == event && o.message_type == ty);
        of.map(|o| received[&o.notification_id].0.clone()).collect()
    };
    assert_eq!(
        on(&events[0], "call_processed"),
        [["calls", "priority:urgent"]]
    );
    let insights = on(&events[0], "insight");
    assert!(!insights.is_empty() && insights.iter().all(|c| *c == ["insights"]));
    assert_eq!(on(&events[0], "action_required"), [["actions"]]);
    assert_eq!(
        on(&events[1], "call_processed"),
        [["calls", "priority:high"]]
    );
    assert_eq!(on(&events[2], "call_processed"), [["calls"]]);
    assert_eq!(
        on(&events[3], "email_processed"),
        [["emails", "priority:urgent"]]
    );
    assert_eq!(on(&events[4], "meeting_processed")[0][0], "meetings");
    assert_eq!(
        on(&test_event, "call_processed"),
        [["calls:test", "priority:urgent:test"]]
    );
    assert!(!on(&test_event, "action_required").is_empty());
    for o in &rows {
        let channels = &received[&o.notification_id].0;
        let test_only = channels.iter().all(|c| c.ends_with(":test"));
        assert_eq!(test_only, o.is_test, "{}: {channels:?}", o.notification_id);
    }

    // Every message has every field, and is kept under its key for about the TTL.
    let fields = [
        "event_id",
        "id",
        "insights",
        "is_test",
        "next_steps",
        "occurred_at",
        "priority",
        "request_id",
        "source_id",
        "summary",
        "title",
        "type",
    ];
    let mut conn = space.conn().await;
    for o in &rows {
        let m: Value = serde_json::from_str(&o.message).unwrap();
        let mut keys: Vec<&str> = m.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, fields, "{m}");
        let key = format!("{}:notification:{}", space.prefix, o.notification_id);
        let kept: String = conn.get(&key).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&kept).unwrap(), m);
        let ttl: i64 = conn.ttl(&key).await.unwrap();
        assert!(ttl > TTL_SECS - 600 && ttl <= TTL_SECS, "{key}: TTL {ttl}");
    }

    // A consumer group reads the stream's entries (no test event's) and acknowledges them.
    let stream = format!("{}:stream", space.prefix);
    let _: () = conn.xgroup_create(&stream, "agents", "0").await.unwrap();
    let opts = StreamReadOptions::default()
        .group("agents", "agent-1")
        .count(1000);
    let read: StreamReadReply = conn.xread_options(&[&stream], &[">"], &opts).await.unwrap();
    let entries: Vec<_> = read.keys.into_iter().flat_map(|k| k.ids).collect();
    let mut ids: Vec<String> = entries.iter().map(|e| id_of(e.get("data"))).collect();
    ids.sort();
    let mut want: Vec<&str> = rows
        .iter()
        .filter(|o| !o.is_test)
        .map(|o| o.notification_id.as_str())
        .collect();
    want.sort();
    assert_eq!(ids, want);
    let entry_ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let acked: usize = conn.xack(&stream, "agents", &entry_ids).await.unwrap();
    assert_eq!(acked, entries.len());
    let pending: StreamPendingReply = conn.xpending(&stream, "agents").await.unwrap();
    assert_eq!(pending.count(), 0);
    stop(app, sim).await;
}

/// The password that keeps the publisher out of a restarted [`OwnRedis`].
const GATE: &str = "gate-password-for-tests";

/// A Redis server of the test's own, on a free port, stopped and started at will.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    /// `None` (skipped) where `redis-server` is not installed.
    fn start() -> Option<OwnRedis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            skip("redis-server is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut redis = OwnRedis {
            port,
            dir,
            child: None,
        };
        redis.run(None);
        Some(redis)
    }

    /// Its URL, with `password` if given.
    fn url(&self, password: Option<&str>) -> String {
        let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
        format!("redis://{auth}127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (nothing saved to disk) and waits until it answers; with
    /// `password`, it serves only clients that give it.
    fn run(&mut self, password: Option<&str>) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = password {
            cmd.args(["--requirepass", p]);
        }
        self.child = Some(cmd.spawn().expect("redis-server starts"));
        let client = redis::Client::open(self.url(password)).unwrap();
        for _ in 0..200 {
            let up = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if up.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server does not answer on port {}", self.port);
    }

    /// SIGKILL.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Lifts the password: every client is served again.
    async fn open_gate(&self) {
        let client = redis::Client::open(self.url(Some(GATE))).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("CONFIG")
            .arg(&["SET", "requirepass", ""])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn a_redis_outage_delays_notifications(db: TestDb) {
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let space = Space::at(redis.url(None));
    let app = TestApp::spawn_with(&db, |c| {
        c.workers = Some("2".into());
        c.retry_backoff = Some("1s".into());
        c.retry_backoff_max = Some("1s".into());
        space.configure(c);
    })
    .await;
    // Up first, so that the connection the publisher holds is one that breaks.
    eventually(30, "redis ok in /health", || async {
        (redis_health(&app).await == "ok").then_some(())
    })
    .await;
    redis.stop();
    let mut events = Vec::new();
    for n in 0..200 {
        events.push(post_call(&app, &fixture_call(&format!("77{n:08}"))).await);
    }
    wait_all(&app, &events, "done", 120).await;
    eventually(30, "redis down in /health", || async {
        (redis_health(&app).await == "down").then_some(())
    })
    .await;
    let queued = app.store().outbox_entries().await.unwrap();
    assert_eq!(processed_calls(&queued), 200);
    assert_eq!(
        app.store().outbox_pending().await.unwrap(),
        queued.len() as i64
    );

    // Redis comes back behind a password the publisher does not have, so nothing can be
    // published before the subscription is in place (a bare restart would race the
    // publisher's next try); then the password is lifted.
    redis.run(Some(GATE));
    let listener = Listener::on(
        redis::Client::open(redis.url(Some(GATE))).unwrap(),
        &space.prefix,
    )
    .await;
    redis.open_gate().await;
    let rows = all_published(app.store(), 120).await;
    assert_eq!(rows.len(), queued.len());
    assert_each_once(&space, &listener, &rows).await;
    assert_eq!(app.store().outbox_pending().await.unwrap(), 0);
    eventually(30, "redis ok in /health again", || async {
        (redis_health(&app).await == "ok").then_some(())
    })
    .await;
    app.stop().await;
}

/// Makes the store refuse marking a notification published (or accept it again): the
/// publisher then publishes and fails to mark, as if it had crashed in between.
async fn block_marking(db: &TestDb, blocked: bool) {
    use sqlx::Connection;
    let sql = if blocked {
        "CREATE TRIGGER arranged_crash BEFORE UPDATE OF published_at_ms ON outbox \
         WHEN NEW.published_at_ms IS NOT NULL BEGIN SELECT RAISE(ABORT, 'arranged'); END"
    } else {
        "DROP TRIGGER arranged_crash"
    };
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn a_crash_between_publish_and_mark_publishes_nothing_twice(db: TestDb) {
    let Some(space) = Space::shared().await else {
        return;
    };
    let migrated = Command::new(env!("CARGO_BIN_EXE_gong-relay"))
        .arg("migrate")
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    block_marking(&db, true).await;
    let listener = Listener::start(&space).await;
    let first = Serve::start_with(&db, &space.env());
    let client = reqwest::Client::new();
    for n in 0..20 {
        first
            .post_call(&client, &fixture_call(&format!("78{n:08}")))
            .await;
    }
    let store = db.store().await;
    eventually(60, "20 events done", || async {
        let events = store.events().await.unwrap();
        let done = events.iter().filter(|e| e.status.as_str() == "done");
        (done.count() == 20).then_some(())
    })
    .await;
    let rows = store.outbox_entries().await.unwrap();
    assert_eq!(processed_calls(&rows), 20);
    // Published (every one received), yet not marked.
    eventually(60, "every notification received", || async {
        (listener.received().len() == rows.len()).then_some(())
    })
    .await;
    assert_eq!(store.outbox_pending().await.unwrap(), rows.len() as i64);
    first.kill();

    block_marking(&db, false).await;
    let second = Serve::start_with(&db, &space.env());
    let rows = all_published(&store, 60).await;
    assert_each_once(&space, &listener, &rows).await;
    second.kill();
}

async fn two_publishers_publish_each_notification_once(db: TestDb) {
    let Some(space) = Space::shared().await else {
        return;
    };
    let listener = Listener::start(&space).await;
    let config = |c: &mut RawConfig| {
        c.workers = Some("2".into());
        space.configure(c);
    };
    let a = TestApp::spawn_with(&db, config).await;
    let b = TestApp::spawn_with(&db, config).await;
    let mut events = Vec::new();
    for n in 0..100 {
        let app = if n % 2 == 0 { &a } else { &b };
        events.push(post_call(app, &fixture_call(&format!("79{n:08}"))).await);
    }
    wait_all(&a, &events, "done", 120).await;
    let rows = all_published(a.store(), 120).await;
    assert_eq!(processed_calls(&rows), 100);
    assert_each_once(&space, &listener, &rows).await;
    a.stop().await;
    b.stop().await;
}

crate::on_both_backends!(each_notification_reaches_exactly_its_channels);
crate::on_sqlite!(outage_sqlite: a_redis_outage_delays_notifications);
crate::on_sqlite!(crash_sqlite: a_crash_between_publish_and_mark_publishes_nothing_twice);
crate::on_postgres!(replicas_postgres: two_publishers_publish_each_notification_once);
