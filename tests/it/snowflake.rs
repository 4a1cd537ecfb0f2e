//! Snowflake through its stand-in, beyond the warehouse matrix (`warehouse.rs`): the whole
//! pipeline with `WAREHOUSE=snowflake`, the server stopped mid-run, sessions that expire,
//! key-pair logins.

use std::time::Duration;

use gong_relay::breaker::BreakerState;
use gong_relay::config::{RawConfig, SnowflakeAuth, SnowflakeConfig};
use gong_relay::warehouse::{CALLS, RAW, Rows, SnowflakeWarehouse, Warehouse};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::*;
use crate::pipeline::{call_id, post_calls, start, stop, wait_all};
use crate::standin::{KEY_PAIR_USER, Standin};
use crate::warehouse::raw;

/// The app's variables for `cfg` (a password login).
fn use_snowflake(cfg: &SnowflakeConfig) -> impl FnOnce(&mut RawConfig) + use<> {
    let cfg = cfg.clone();
    move |c: &mut RawConfig| {
        c.warehouse = Some("snowflake".into());
        c.snowflake_account = Some(cfg.account.clone());
        c.snowflake_user = Some(cfg.user.clone());
        c.snowflake_password = Some("secret".into());
        c.snowflake_database = Some(cfg.database.clone());
        c.snowflake_schema = Some(cfg.schema.clone());
        c.snowflake_host = Some(cfg.host.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_end_to_end_on_snowflake() {
    let Some(standin) = Standin::shared() else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let cfg = standin.config();
    let (sim, app) = start(&db, |_| {}, use_snowflake(&cfg)).await;
    let calls = sim.create_calls(5);
    let events = post_calls(&app, &calls).await;
    wait_all(&app, &events, "done", 60).await;

    let wh = app.app.pipeline().warehouse().clone();
    assert_eq!(wh.backend(), "snowflake");
    assert_eq!(wh.count(&RAW).await.unwrap(), 5);
    assert_eq!(wh.count(&CALLS).await.unwrap(), 5);
    let row = wh
        .fetch(&CALLS, &call_id(&calls[0]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row["enhanced"], json!(true), "{row:?}");
    assert!(row["participants"].is_array(), "{row:?}");
    // The health check names the backend and finds it reachable.
    let health: serde_json::Value = serde_json::from_str(&app.get_text("/health").await).unwrap();
    assert_eq!(
        health["dependencies"]["warehouse"]["backend"],
        json!("snowflake")
    );
    assert_eq!(health["dependencies"]["warehouse"]["status"], json!("ok"));
    stop(app, sim).await;
}

/// The stand-in stopped while 200 events are processed: the warehouse breaker opens, the
/// events wait without using attempts (MAX_ATTEMPTS 2 would dead-letter them within a
/// second otherwise), and all land once, exactly once, after it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snowflake_outage_delays_events_and_loses_none() {
    let folder = tempfile::tempdir().unwrap();
    let Some(mut standin) = Standin::private(folder.path()) else {
        return;
    };
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let cfg = standin.config();
    let (sim, app) = start(
        &db,
        |_| {},
        |c| {
            use_snowflake(&cfg)(c);
            c.max_attempts = Some("2".into());
        },
    )
    .await;
    let calls = sim.create_calls(200);
    let events = post_calls(&app, &calls).await;
    let wh = app.app.pipeline().warehouse().clone();
    eventually(60, "the first rows to land", || async {
        (wh.count(&RAW).await.ok()? > 0).then_some(())
    })
    .await;

    standin.stop();
    let breaker = app.app.pipeline().warehouse_breaker();
    eventually(60, "the warehouse breaker to open", || async {
        (breaker.state() != BreakerState::Closed).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for e in app.store().events().await.unwrap() {
        assert_ne!(e.status, "dead", "the outage dead-lettered {}", e.event_id);
        assert!(e.attempts <= 1, "the outage used attempts: {}", e.attempts);
    }

    standin.restart();
    wait_all(&app, &events, "done", 120).await;
    assert_eq!(wh.count(&RAW).await.unwrap(), 200, "each raw row once");
    assert_eq!(wh.count(&CALLS).await.unwrap(), 200, "each call once");
    stop(app, sim).await;
}

/// A session Snowflake reports expired (390112) is replaced and the statement retried on
/// a fresh login, invisibly to the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_replaced_and_the_statement_retried() {
    let Some(standin) = Standin::shared() else {
        return;
    };
    let wh = SnowflakeWarehouse::new(&standin.config()).unwrap();
    wh.migrate().await.unwrap();
    let write = |id: &str| Rows::of(&RAW, &[raw(id, "call-x", json!({"n": 1}))]).unwrap();
    wh.write(&write("evt-1")).await.unwrap();
    standin.expire_sessions();
    wh.write(&write("evt-2")).await.unwrap();
    wh.ping().await.unwrap();
    assert_eq!(wh.count(&RAW).await.unwrap(), 2);
}

fn key_pair(
    database: &str,
    standin: &Standin,
    file: &str,
    passphrase: Option<&str>,
) -> SnowflakeConfig {
    let pem = std::fs::read_to_string(data_path(file)).unwrap();
    let auth = SnowflakeAuth::KeyPair {
        pem: SecretString::from(pem),
        passphrase: passphrase.map(SecretString::from),
    };
    standin.config_for(database, auth, KEY_PAIR_USER)
}

/// Key-pair logins, with a plain and an encrypted PKCS#8 key; a key Snowflake does not
/// know is refused, and that is an outage (credentials are not the rows' fault).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pair_logins_work_and_a_wrong_key_is_refused() {
    let Some(standin) = Standin::shared() else {
        return;
    };
    let database = standin.config().database;
    for (file, passphrase) in [
        ("snowflake_loader.key.pem", None),
        ("snowflake_loader.key.enc.pem", Some("test-passphrase")),
    ] {
        let wh = SnowflakeWarehouse::new(&key_pair(&database, standin, file, passphrase)).unwrap();
        wh.migrate().await.unwrap();
        wh.ping().await.unwrap();
    }
    let wrong = SnowflakeWarehouse::new(&key_pair(&database, standin, "gong_rule_a.key.pem", None))
        .unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(err.is_outage(), "{err:?}");
    assert!(
        !err.to_string().contains("BEGIN"),
        "no key material in errors: {err}"
    );
}
