//! The real binary, killed with SIGKILL while answering: every acknowledged event survives.
//! Also the binary's start-up checks (fail closed, one line per configuration problem).

use std::process::{Child, Command};

use serde_json::json;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_gong-relay");

fn start_binary(db: &TestDb, dir: &std::path::Path) -> (Child, String) {
    let env = [
        ("GONG_WEBHOOK_SECRETS", json!([SECRET_NEW]).to_string()),
        ("GONG_WEBHOOK_PUBLIC_URL", PUBLIC_URL.to_owned()),
    ];
    spawn_serve(db, dir, &env)
}

async fn sigkill_loses_no_acknowledged_webhook(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_binary(&db, dir.path());
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/webhook/gong/calls");

    let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..400 {
        let client = client.clone();
        let url = url.clone();
        let ack_tx = ack_tx.clone();
        tasks.push(tokio::spawn(async move {
            let body = call_body_for(&format!("77{i:05}"));
            let token = sign_hs256(
                SECRET_NEW.as_bytes(),
                &hs_claims("/webhook/gong/calls", &body),
            );
            let Ok(res) = client
                .post(url)
                .header("authorization", token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
            else {
                return;
            };
            if res.status() == 200
                && let Ok(json) = res.json::<serde_json::Value>().await
            {
                let id = json["event_id"].as_str().unwrap().to_owned();
                let _ = ack_tx.send((id, sha256_hex(&body)));
            }
        }));
    }
    drop(ack_tx);

    // Kill as soon as a good share has been acknowledged, while the rest are in flight.
    let mut acked = Vec::new();
    while acked.len() < 150 {
        match ack_rx.recv().await {
            Some(a) => acked.push(a),
            None => break,
        }
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    while let Some(a) = ack_rx.recv().await {
        acked.push(a);
    }
    assert!(acked.len() >= 150, "only {} acknowledged", acked.len());

    // Restart on the same store: it must open cleanly and hold every acknowledged event.
    let (mut child, addr) = start_binary(&db, dir.path());
    let health = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let store = db.store().await;
    for (id, hash) in &acked {
        let e = store
            .event(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged event {id} lost"));
        assert_eq!(&e.body_sha256, hash);
        assert_eq!(sha256_hex(&e.payload), *hash, "payload intact");
    }
    store.close().await;
    child.kill().unwrap();
    child.wait().unwrap();
}

crate::on_both_backends!(sigkill_loses_no_acknowledged_webhook);

fn run_binary(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_to_start_without_verification() {
    let (code, err) = run_binary(&["serve"], &[("BIND_ADDR", "127.0.0.1:0")]);
    assert_ne!(code, 0);
    assert!(err.contains("GONG_WEBHOOK_PUBLIC_KEYS"), "{err}");

    let (code, err) = run_binary(
        &["serve"],
        &[
            ("BIND_ADDR", "0.0.0.0:0"),
            ("GONG_WEBHOOK_ALLOW_UNSIGNED", "true"),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn bad_configuration_is_one_line_per_problem_without_secrets() {
    let (code, err) = run_binary(
        &["serve"],
        &[
            ("GONG_API_KEY", "topsecretvalue"),
            ("WORKERS", "many"),
            ("GONG_WEBHOOK_PUBLIC_KEYS", "[\"bm90IGEga2V5\"]"),
            ("REDIS_URL", "http://topsecretvalue@host"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("GONG_API_KEY:"), "{err}");
    assert!(err.contains("WORKERS:"), "{err}");
    assert!(err.contains("REDIS_URL:"), "{err}");
    assert!(!err.contains("topsecretvalue"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn migrate_creates_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let (code, err) = run_binary(&["migrate"], &[("DATABASE_URL", &db)]);
    assert_eq!(code, 0, "{err}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = gong_relay::store::Store::connect(&db.into()).await.unwrap();
        assert_eq!(store.inbox_depth().await.unwrap(), 0);
        assert_eq!(store.outbox_pending().await.unwrap(), 0);
        // The warehouse's five tables, in the same (default) database.
        let wh = gong_relay::warehouse::open(&store);
        for table in [
            &gong_relay::warehouse::RAW,
            &gong_relay::warehouse::CALLS,
            &gong_relay::warehouse::EMAILS,
            &gong_relay::warehouse::MEETINGS,
            &gong_relay::warehouse::HISTORY,
        ] {
            assert_eq!(wh.count(table).await.unwrap(), 0, "{}", table.name);
        }
    });
}

/// A database configured with `synchronous_commit = off` would let a crash of PostgreSQL
/// lose webhooks already answered 200: the inbox's connections turn it back on (the rest of
/// the store keeps the database's setting), and `serve` says so once at start.
async fn inbox_commits_are_synchronous_on_a_database_that_says_off(db: TestDb) {
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let store = db.store().await;
    let sql = format!("ALTER DATABASE {name} SET synchronous_commit = off");
    if let gong_relay::store::Store::Postgres(p) = &store {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .unwrap();
    }
    store.close().await;
    let store = db.store().await;
    store.migrate().await.unwrap();
    assert_eq!(
        store.synchronous_commit().await.unwrap().as_deref(),
        Some("off"),
        "the database's sessions"
    );
    let writer = store.inbox_writer(2);
    assert_eq!(
        writer.synchronous_commit().await.unwrap().as_deref(),
        Some("on"),
        "the inbox writer's sessions"
    );
    writer.close().await;
    store.close().await;

    // The real binary warns once, at start, and still acknowledges webhooks.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &db.url)
        .env("LOG_LEVEL", "info")
        .env("GONG_WEBHOOK_SECRETS", json!([SECRET_NEW]).to_string())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let (mut addr, mut warnings) = (None, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (addr.is_none() || warnings == 0) && std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
            continue;
        };
        if line.contains("synchronous_commit is off") {
            assert!(line.contains("WARN"), "{line}");
            warnings += 1;
        }
        if line.contains("gong-relay listening") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            addr = v["addr"].as_str().map(str::to_owned);
        }
    }
    let addr = addr.expect("the binary reports its address");
    assert_eq!(warnings, 1, "warned once at start");
    let res = post_signed_call(&reqwest::Client::new(), &addr, "7400001")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // More commits open no more warnings.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        rx.try_iter()
            .all(|l| !l.contains("synchronous_commit is off"))
    );
    let _ = child.kill();
    let _ = child.wait();
}

crate::on_postgres!(postgres_durability: inbox_commits_are_synchronous_on_a_database_that_says_off);
