//! The Snowflake stand-in (tests/snowflake-standin: fakesnow behind an adapter) as the
//! tests use it: one shared instance per test binary, started on first use, each test in a
//! database of its own; and private instances for tests that stop and restart the server.
//!
//! Where python3 with venv is missing, the Snowflake cases are skipped loudly, unless
//! `GONG_RELAY_REQUIRE_SNOWFLAKE=1` (CI), which turns that into a failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gong_relay::config::{SnowflakeAuth, SnowflakeConfig};
use secrecy::SecretString;

use crate::helpers::data_path;

/// The user whose public key the stand-in knows (`tests/data/snowflake_loader.pub.pem`).
pub const KEY_PAIR_USER: &str = "LOADER";

fn required() -> bool {
    std::env::var("GONG_RELAY_REQUIRE_SNOWFLAKE").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running stand-in process; stopped when dropped.
pub struct Standin {
    child: Child,
    port: u16,
    db_dir: PathBuf,
}

impl Standin {
    /// Starts a stand-in on `port` keeping its tables in `db_dir`; `None` (after a loud
    /// line) where it cannot run and is not required.
    pub fn start(port: u16, db_dir: &Path) -> Option<Standin> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/snowflake-standin.sh");
        let public = data_path("snowflake_loader.pub.pem");
        let spawned = Command::new(script)
            .args(["run", "--exit-with-parent", "--port", &port.to_string()])
            .arg("--db-path")
            .arg(db_dir)
            .arg("--user")
            .arg(format!("{KEY_PAIR_USER}={}", public.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if !required() => {
                eprintln!(
                    "SKIPPED (the Snowflake stand-in cannot start: {e}); set GONG_RELAY_REQUIRE_SNOWFLAKE=1 to fail instead"
                );
                return None;
            }
            Err(e) => panic!("the Snowflake stand-in cannot start: {e}"),
        };
        let mut standin = Standin {
            child,
            port,
            db_dir: db_dir.to_owned(),
        };
        // The first run creates the virtual environment (a minute or so).
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if standin.get("/__standin/health").is_some() {
                return Some(standin);
            }
            if let Ok(Some(status)) = standin.child.try_wait() {
                if required() {
                    panic!("the Snowflake stand-in exited: {status}");
                }
                eprintln!(
                    "SKIPPED (the Snowflake stand-in exited: {status}); set GONG_RELAY_REQUIRE_SNOWFLAKE=1 to fail instead"
                );
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the Snowflake stand-in did not answer on port {port}");
    }

    /// The shared instance.
    pub fn shared() -> Option<&'static Standin> {
        static SHARED: OnceLock<Option<(Standin, tempfile::TempDir)>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                Standin::start(free_port(), dir.path()).map(|s| (s, dir))
            })
            .as_ref()
            .map(|(s, _)| s)
    }

    /// A private instance on a free port, with its own tables.
    pub fn private(db_dir: &Path) -> Option<Standin> {
        Standin::start(free_port(), db_dir)
    }

    /// Stops the server (its tables stay in its folder).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and folder.
    pub fn restart(&mut self) {
        self.stop();
        let again = Standin::start(self.port, &self.db_dir).expect("the stand-in restarts");
        *self = again;
    }

    pub fn host(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes every open session answer "expired" (390112) from now on.
    pub fn expire_sessions(&self) {
        self.post("/__standin/expire-sessions")
            .expect("the stand-in answers");
    }

    /// Password login into a fresh database of this stand-in.
    pub fn config(&self) -> SnowflakeConfig {
        static N: AtomicU64 = AtomicU64::new(0);
        let database = format!(
            "GR_TEST_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.config_for(
            &database,
            SnowflakeAuth::Password(SecretString::from("secret")),
            "tester",
        )
    }

    pub fn config_for(&self, database: &str, auth: SnowflakeAuth, user: &str) -> SnowflakeConfig {
        SnowflakeConfig {
            account: "acme".into(),
            user: user.into(),
            auth,
            pool_size: 4,
            warehouse: "COMPUTE_WH".into(),
            database: database.into(),
            schema: "GONG_WEBHOOKS".into(),
            role: None,
            host: self.host(),
        }
    }

    fn get(&self, path: &str) -> Option<String> {
        self.request("GET", path)
    }

    fn post(&self, path: &str) -> Option<String> {
        self.request("POST", path)
    }

    /// A minimal HTTP/1.0 exchange (std only: no runtime needed in `Drop` or sync code).
    fn request(&self, method: &str, path: &str) -> Option<String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/1.").then_some(out)
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        self.stop();
    }
}
