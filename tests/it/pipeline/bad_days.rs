//! Bad days seen from outside, in the real binary's log: a store outage is told once when
//! it starts and once when it ends, not at every poll of every worker; Gong credentials
//! that Gong refuses are reported at start-up with what to fix.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// `gong-relay serve` whose every log line is kept for the test to read; killed on drop.
struct Logged {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Logged {
    /// `serve` on a free port over `db`, taking RS256 webhooks, with `env` on top.
    fn start(db: &TestDb, env: &[(&str, String)]) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gong-relay"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", &db.url)
            .env("LOG_LEVEL", "info")
            .env(
                "GONG_WEBHOOK_PUBLIC_KEYS",
                json!([read_data("gong_rule_a.pub.b64")]).to_string(),
            )
            .env("GONG_WEBHOOK_PUBLIC_URL", PUBLIC_URL)
            .env("GONG_RECONCILE_INTERVAL", "0")
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        // Reads every line, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Logged {
            child,
            lines,
            _dir: dir,
        }
    }

    /// The lines logged so far that contain `needle`.
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// Waits (at most `secs`) for a line containing `needle`; returns it.
    async fn wait_line(&self, needle: &str, secs: u64) -> String {
        eventually(secs, &format!("a log line with {needle:?}"), || async {
            self.lines_with(needle).pop()
        })
        .await
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The store (PostgreSQL) down for four seconds under two idle workers, which poll every
/// 500 ms, and the health probe, which pings every second: at most a couple of lines say
/// so, not one per poll per worker (about 16) or per probe, and one says when it is back.
async fn a_store_outage_is_logged_once_per_change(db: TestDb) {
    let serve = Logged::start(&db, &[("WORKERS", "2".into())]);
    serve.wait_line("gong-relay listening", 30).await;
    db.set_postgres_up(false).await;
    serve.wait_line("claiming events failed", 30).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let down = serve.lines_with("claiming events failed");
    assert!(
        down.len() <= 2,
        "{} lines during a 4 s outage: {down:#?}",
        down.len()
    );
    // The health probe pings the store every second: one line for the outage too.
    let health = serve.lines_with("health: store unreachable");
    assert_eq!(health.len(), 1, "{health:#?}");
    db.set_postgres_up(true).await;
    serve.wait_line("store is reachable again", 30).await;
    serve.wait_line("health: store reachable again", 30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(serve.lines_with("store is reachable again").len(), 1);
    assert_eq!(serve.lines_with("health: store reachable again").len(), 1);
}

/// `serve` over a Gong that refuses the key: it starts anyway, its start-up check says
/// what to fix, and neither it nor the reconciler (every 200 ms) keeps asking Gong: the
/// breaker holds them for its cool-down.
async fn refused_credentials_are_reported_at_start(db: TestDb) {
    let sim = super::simulator_with(|_| {}).await;
    sim.set_credentials_rejected(true);
    let serve = Logged::start(
        &db,
        &[
            ("GONG_API_KEY", "sim-key:sim-secret".into()),
            ("GONG_API_BASE_URL", sim.base_url()),
            ("GONG_RECONCILE_INTERVAL", "200ms".into()),
        ],
    );
    serve.wait_line("gong-relay listening", 30).await;
    let line = serve.wait_line("start-up check", 15).await;
    assert_contains_all(
        &line,
        &["ERROR", "GONG_API_KEY", "GONG_API_BASE_URL", "401"],
    );
    assert!(!line.contains("sim-secret"), "{line}");
    // Several reconciler intervals.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut serve = serve;
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve still runs"
    );
    let asked = sim.requests().len();
    assert!(asked <= 2, "{asked} requests to a Gong refusing the key");
    assert_eq!(
        serve
            .lines_with("Gong refused the API credentials (401)")
            .len(),
        1,
        "the refusal is logged once, not per request"
    );
    drop(serve);
    sim.shutdown().await;
}

crate::on_postgres!(postgres: a_store_outage_is_logged_once_per_change);
crate::on_sqlite!(sqlite: refused_credentials_are_reported_at_start);
