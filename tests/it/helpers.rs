//! Test helpers: the real app on port 0 with its own database, and token signing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gong_relay::app::{self, RunningApp};
use gong_relay::config::{Config, RawConfig};
use gong_relay::store::{Store, StoredEvent};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Value, json};

/// HS256 secrets and URL keys are at least 32 bytes (the verifier refuses shorter ones).
pub const SECRET_OLD: &str = "old-shared-secret-0123456789abcdef";
pub const SECRET_NEW: &str = "new-shared-secret-9876543210fedcba";
pub const URL_KEY: &str = "url-key-Zx81kq0Pp2m4Qw7Rt5Yu3Io9Lk";
pub const PUBLIC_URL: &str = "https://relay.example.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read_data(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap()
}

/// The Gong webhook fixture.
pub fn call_body() -> Vec<u8> {
    std::fs::read(data_path("webhook_call.json")).unwrap()
}

/// A call webhook body for another call id (same shape as the fixture).
pub fn call_body_for(id: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&call_body()).unwrap();
    v["callData"]["metaData"]["id"] = json!(id);
    serde_json::to_vec(&v).unwrap()
}

/// The fixture and a Gong token for it.
pub fn signed_fixture() -> (Vec<u8>, String) {
    let body = call_body();
    let token = gong_token(&body);
    (body, token)
}

/// Administrative PostgreSQL URL (a database the tests may create others from).
fn pg_admin_url() -> String {
    std::env::var("GONG_RELAY_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn pg_required() -> bool {
    std::env::var("GONG_RELAY_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// One isolated database: a temporary SQLite file, or a fresh PostgreSQL database that is
/// dropped when this value is dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// `None` when PostgreSQL is unreachable and not required (the test is then skipped,
    /// loudly). With `GONG_RELAY_REQUIRE_PG=1` (CI) an unreachable server fails the test.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("relay.db").display());
                Some(TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = pg_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if !pg_required() => {
                        eprintln!(
                            "SKIPPED (PostgreSQL unreachable at {admin}: {e}); set GONG_RELAY_REQUIRE_PG=1 to fail instead"
                        );
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL unreachable at {admin}: {e}"),
                };
                let name = format!(
                    "gr_test_{}_{}_{}",
                    std::process::id(),
                    DB_COUNTER.fetch_add(1, Ordering::Relaxed),
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').unwrap().0;
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }

    pub async fn store(&self) -> Store {
        Store::connect(&SecretString::from(self.url.clone()))
            .await
            .unwrap()
    }
}

impl TestDb {
    /// A real PostgreSQL outage confined to this test's database: while `up` is false,
    /// new connections are refused and the open ones are terminated.
    pub async fn set_postgres_up(&self, up: bool) {
        use sqlx::Connection;
        let name = self.pg_name.as_ref().expect("a PostgreSQL test database");
        let mut c = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {up}"
        )))
        .execute(&mut c)
        .await
        .unwrap();
        if !up {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(name)
            .execute(&mut c)
            .await
            .unwrap();
        }
        let _ = c.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async context guarantees: use a thread with its own runtime.
        let admin = pg_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
        })
        .join();
    }
}

/// The configuration tests start from: every verification method, a public URL, quiet logs,
/// and no workers (a receive-only instance: the receipt tests inspect the inbox as the
/// webhooks left it). Pipeline tests set `workers`.
pub fn base_config(db: &TestDb) -> RawConfig {
    RawConfig {
        workers: Some("0".into()),
        bind_addr: Some("127.0.0.1:0".into()),
        database_url: Some(db.url.clone()),
        gong_webhook_secrets: Some(json!([SECRET_OLD, SECRET_NEW]).to_string()),
        gong_webhook_public_keys: Some(json!([read_data("gong_rule_a.pub.b64")]).to_string()),
        gong_webhook_url_keys: Some(json!([URL_KEY]).to_string()),
        gong_webhook_public_url: Some(PUBLIC_URL.into()),
        log_level: Some(std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into())),
        // Stop at once: no load balancer to drain in a test (the drain has its own test).
        drain_period: Some("0".into()),
        ..Default::default()
    }
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub app: RunningApp,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: &TestDb, tweak: impl FnOnce(&mut RawConfig)) -> TestApp {
        let mut raw = base_config(db);
        tweak(&mut raw);
        let config = Config::from_raw(raw).expect("test configuration is valid");
        gong_relay::telemetry::init_logging(config.log_format, &config.log_level);
        let app = app::start(config).await.expect("app starts");
        TestApp {
            addr: app.addr(),
            app,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a JSON body to a webhook route with an optional `Authorization` value.
    pub async fn post(&self, path: &str, body: &[u8], auth: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send().await.unwrap()
    }

    /// POSTs `body` to `path` with exactly these headers (no content type unless named).
    pub async fn post_with(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        self.sender().post(path, body, headers).await.unwrap()
    }

    /// A handle that posts to this app from spawned tasks.
    pub fn sender(&self) -> Sender {
        Sender {
            client: self.client.clone(),
            base: self.url(""),
        }
    }

    /// POSTs as [`TestApp::post`] does and expects a 200; returns the event id.
    pub async fn accepted(&self, path: &str, body: &[u8], auth: Option<&str>) -> String {
        let (status, json) = answer(self.post(path, body, auth).await).await;
        assert_eq!(status, 200, "{json}");
        json["event_id"].as_str().unwrap().to_owned()
    }

    /// The stored event with this id (it must exist).
    pub async fn stored(&self, event_id: &str) -> StoredEvent {
        self.store().event(event_id).await.unwrap().expect("stored")
    }

    /// The body of a GET of `path`, as text.
    pub async fn get_text(&self, path: &str) -> String {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        res.text().await.unwrap()
    }

    pub fn store(&self) -> &Store {
        self.app.store()
    }

    pub async fn stop(self) {
        self.app.shutdown().await.unwrap();
    }
}

/// Posts to a [`TestApp`] from spawned tasks (the app itself stays with the test).
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    base: String,
}

impl Sender {
    /// POSTs `body` to `path` with exactly these headers; a failed send is the caller's.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await
    }
}

/// Each of `needles` is in `text` (a metrics page, a log).
pub fn assert_contains_all(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

/// Waits until `check` holds, polling; panics with `what` after `secs`.
pub async fn eventually<F, Fut, T>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Status and JSON body of a response.
pub async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, body)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn sha256_hex(data: &[u8]) -> String {
    gong_relay::verify::sha256_hex(data)
}

/// Claims as Gong sends them, for `path` on the public URL, expiring in 5 minutes.
pub fn gong_claims(path: &str, body: &[u8]) -> Value {
    json!({
        "webhook_url": format!("{PUBLIC_URL}{path}"),
        "body_sha256": sha256_hex(body),
        "exp": now() + 300,
    })
}

/// HS256 claims (Gong's claims plus `iat`).
pub fn hs_claims(path: &str, body: &[u8]) -> Value {
    let mut c = gong_claims(path, body);
    c["iat"] = json!(now());
    c
}

pub fn sign_rs256(key_file: &str, claims: &Value) -> String {
    sign_rs256_with_header(key_file, claims, Header::new(Algorithm::RS256))
}

pub fn sign_rs256_with_header(key_file: &str, claims: &Value, mut header: Header) -> String {
    header.typ = None;
    let key = EncodingKey::from_rsa_pem(read_data(key_file).as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

/// A token with `alg: none` and an empty signature.
pub fn unsigned_token(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// A Gong-style RS256 token for the calls route and this body (rule key A). Each call
/// gives a different token (RS256 is deterministic: same claims, same token), as two
/// deliveries by Gong would.
pub fn gong_token(body: &[u8]) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut claims = gong_claims("/webhook/gong/calls", body);
    claims["exp"] = json!(now() + 300 + (SEQ.fetch_add(1, Ordering::Relaxed) % 600) as i64);
    sign_rs256("gong_rule_a.key.pem", &claims)
}

/// Runs each named test function once per backend: `mod sqlite` and `mod postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::on_sqlite!(sqlite: $($name),*);
        $crate::on_postgres!(postgres: $($name),*);
    };
}

/// Runs each named test function on a SQLite `TestDb`, in `mod $module`.
#[macro_export]
macro_rules! on_sqlite {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::helpers::TestDb::new($crate::helpers::Backend::Sqlite)
                        .await
                        .unwrap();
                    super::$name(db).await;
                }
            )*
        }
    };
}

/// Runs each named test function on a PostgreSQL `TestDb`, in `mod $module` (skipped, loudly,
/// where PostgreSQL cannot be had and is not required).
#[macro_export]
macro_rules! on_postgres {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) =
                        $crate::helpers::TestDb::new($crate::helpers::Backend::Postgres).await
                    {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// Starts the real `gong-relay serve` on a free loopback port, in `dir`, with a clean
/// environment plus `env`; returns the child and the address it reports in its start-up
/// log line (so a port taken by another test cannot be mistaken for it).
pub fn spawn_serve(db: &TestDb, dir: &Path, env: &[(&str, String)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gong-relay"));
    cmd.arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", &db.url)
        .env("LOG_LEVEL", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads every line, so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("gong-relay listening") {
                let v: Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["addr"].as_str().unwrap().to_owned());
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the binary reports its address");
    (child, addr)
}

/// `gong-relay args` in `dir`, with a clean environment (only `PATH`) plus `env`: what a
/// user's shell would run, without the test process's variables leaking in.
pub fn relay_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gong-relay"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Posts a call webhook signed with [`SECRET_NEW`] (HS256) to a service at `addr`.
pub async fn post_signed_call(
    client: &reqwest::Client,
    addr: &str,
    call_id: &str,
) -> reqwest::Result<reqwest::Response> {
    const CALLS: &str = "/webhook/gong/calls";
    let body = call_body_for(call_id);
    let token = sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(CALLS, &body));
    client
        .post(format!("http://{addr}{CALLS}"))
        .header("authorization", token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
}

/// An event the service queues itself (backfill, reconciler), as the store takes it.
pub fn internal_event(source_id: &str) -> gong_relay::store::InternalEvent {
    gong_relay::store::InternalEvent {
        event_id: format!("internal-{source_id}"),
        kind: gong_relay::verify::EventKind::Call,
        source_id: source_id.to_owned(),
        payload: serde_json::to_vec(&json!({"callData": {"metaData": {"id": source_id}}})).unwrap(),
        request_id: format!("req-{source_id}"),
        origin: "backfill",
    }
}
