//! What the binary says when it cannot start or has nothing to work on: one line per
//! problem naming the dependency, where it is (never the credentials) and the cause once;
//! and a failed start leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestDb, relay_command};

const SECRETS: &str = r#"["0123456789abcdef0123456789abcdef"]"#;

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    relay_command(dir, args, env).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A busy port is one line with its cause once, and is found before the store is opened:
/// no gong-relay.db is left in the folder.
#[test]
fn serve_on_a_busy_port_says_so_once_and_leaves_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = run(
        dir.path(),
        &["serve"],
        &[("GONG_WEBHOOK_SECRETS", SECRETS), ("BIND_ADDR", &addr)],
    );
    assert_eq!(
        stderr(&out),
        format!(
            "error: cannot listen on {addr} (BIND_ADDR): Address already in use (os error 98)\n"
        )
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_missing_postgres_database_is_one_line() {
    // Skipped (loudly) where PostgreSQL is not running, like the other PostgreSQL tests.
    if TestDb::new(Backend::Postgres).await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres@127.0.0.1:5432/gr_missing_db_xyz";
    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("GONG_WEBHOOK_SECRETS", SECRETS),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", url),
        ],
    );
    assert_eq!(
        stderr(&out),
        "error: cannot open the store (DATABASE_URL: postgres at 127.0.0.1:5432, database \
         gr_missing_db_xyz): database \"gr_missing_db_xyz\" does not exist\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// Nothing listens on port 1: the refusal is reported at once, with the host and port and
/// without the password, instead of "pool timed out" after 5 s.
#[test]
fn an_unreachable_postgres_is_one_line_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(
        dir.path(),
        &["migrate"],
        &[("DATABASE_URL", "postgres://postgres:hunter2@127.0.0.1:1/x")],
    );
    let took = started.elapsed();
    assert_eq!(
        stderr(&out),
        "error: cannot open the store (DATABASE_URL: postgres at 127.0.0.1:1, database x): \
         Connection refused (os error 111)\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

/// A missing verification method is one line of the configuration's list (exit 2), not an
/// error of its own printed twice.
#[test]
fn missing_verification_is_one_line_of_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve"], &[("LOG_FORMAT", "xml")]);
    assert_eq!(
        stderr(&out),
        "configuration error:\n  LOG_FORMAT: must be json or pretty\n  no webhook verification \
         configured: set GONG_WEBHOOK_PUBLIC_KEYS (the Gong rule's public key), \
         GONG_WEBHOOK_SECRETS or GONG_WEBHOOK_URL_KEYS; for a local trial only, \
         GONG_WEBHOOK_ALLOW_UNSIGNED=true with a loopback BIND_ADDR\n"
    );
    assert_eq!(out.status.code(), Some(2));

    let out = run(
        dir.path(),
        &["serve"],
        &[
            ("GONG_WEBHOOK_ALLOW_UNSIGNED", "true"),
            ("BIND_ADDR", "0.0.0.0:0"),
        ],
    );
    assert_eq!(
        stderr(&out),
        "configuration error:\n  GONG_WEBHOOK_ALLOW_UNSIGNED: refused because BIND_ADDR \
         0.0.0.0:0 is not a loopback address; unsigned webhooks are only for local trials on \
         127.0.0.1\n"
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

/// `LOG_LEVEL=loud` is refused like any other bad value; `warning` means `warn` (before,
/// both silenced every log).
#[test]
fn log_level_is_validated_and_warning_means_warn() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["dlq", "list"], &[("LOG_LEVEL", "loud")]);
    assert_eq!(
        stderr(&out),
        "configuration error:\n  LOG_LEVEL: \"loud\" is not a level: use error, warn, info, \
         debug, trace or off, or a tracing filter such as info,gong_relay=debug\n"
    );
    assert_eq!(out.status.code(), Some(2));

    // Without GONG_WEBHOOK_PUBLIC_URL, serve warns at start; at `warning` it says so and
    // leaves out the info lines.
    let mut child = relay_command(
        dir.path(),
        &["serve"],
        &[
            ("GONG_WEBHOOK_SECRETS", SECRETS),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("LOG_LEVEL", "warning"),
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let first = first.expect("a warning is logged at start");
    assert!(first.contains("\"level\":\"WARN\""), "{first}");
    assert!(first.contains("GONG_WEBHOOK_PUBLIC_URL"), "{first}");
}

/// The commands that work on the service's store refuse to run where there is none, and
/// create nothing.
#[test]
fn store_commands_need_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let expected =
        "error: no store at ./gong-relay.db; set DATABASE_URL or run from the service's folder\n";
    for args in [
        &["dlq", "list"][..],
        &["dlq", "retry", "--all"],
        &["reprocess", "--since", "2024-01-01"],
        &["backfill", "--from", "2024-01-01", "--to", "2024-01-02"],
    ] {
        let out = run(dir.path(), args, &[]);
        assert_eq!(stderr(&out), expected, "{args:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{args:?}");
    }
}
