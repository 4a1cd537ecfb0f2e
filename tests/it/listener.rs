//! The listener under hostile or careless clients, against the real binary (issue 11,
//! items 1 and 12): header-read timeout, idle keep-alive, the connection cap and its
//! metric, thousands of hanging connections, and the drain after SIGTERM. Loopback only,
//! every wait bounded.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const HALF_HEADERS: &[u8] = b"POST /webhook/gong/calls HTTP/1.1\r\nHost: relay\r\n";

/// The binary taking HS256 webhooks signed with `SECRET_NEW`, plus `env`.
fn start(
    db: &TestDb,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut all = vec![("GONG_WEBHOOK_SECRETS", json!([SECRET_NEW]).to_string())];
    all.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    spawn_serve(db, dir, &all)
}

/// A signed call webhook for a new call; its status (`None`: no answer within 10 s).
async fn post_webhook(addr: &str, call_id: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let res = post_signed_call(&client, addr, call_id).await.ok()?;
    Some(res.status().as_u16())
}

/// How long until the server closes `s` (reading and dropping whatever it sends), or
/// `None` if it is still open after `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

/// A loopback port free at the time of asking (for `ADMIN_BIND_ADDR`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let res = client.get(url).send().await.ok()?;
    let status = res.status().as_u16();
    Some((status, res.text().await.ok()?))
}

async fn slow_headers_and_idle_keep_alive_are_closed(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(&db, dir.path(), &[("HEADER_READ_TIMEOUT", "1s")]);

    // Half-sent headers: closed after the timeout (not before it, not long after it).
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(HALF_HEADERS).await.unwrap();
    let closed = closed_within(&mut half, Duration::from_secs(5)).await;
    let closed = closed.expect("half-sent headers still open after 5 s");
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );

    // A connection that never sends a byte is closed the same way.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a silent connection still open after 5 s"
    );

    // An idle keep-alive connection after a full answer: hyper arms the header timer
    // again for the next request, so HEADER_READ_TIMEOUT bounds idleness too.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /health/live HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let idle = closed_within(&mut kept, Duration::from_secs(5)).await;
    assert!(
        idle.is_some(),
        "an idle keep-alive connection still open after 5 s"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}

async fn a_webhook_is_served_while_thousands_of_connections_hang(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(&db, dir.path(), &[("HEADER_READ_TIMEOUT", "60s")]);
    // This process holds the 2,000 client sockets: raise its own open-files limit as the
    // service does, so the test does not depend on the shell's `ulimit -n` (often 1,024).
    gong_relay::http::raise_open_files_limit(2_100);
    let mut held = Vec::new();
    for i in 0..2000 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(HALF_HEADERS).await.unwrap();
        }
        held.push(s);
    }
    let started = Instant::now();
    assert_eq!(post_webhook(&addr, "8810001").await, Some(200));
    // Generous for a loaded 2-core machine; the failure this guards against is a refused
    // connection or an answer that never comes.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn connections_over_the_cap_are_refused_and_counted(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let (mut child, addr) = start(
        &db,
        dir.path(),
        &[
            ("MAX_CONNECTIONS", "20"),
            ("HEADER_READ_TIMEOUT", "30s"),
            ("ADMIN_BIND_ADDR", &admin),
        ],
    );
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The open-connections gauge sees them (the admin listener has its own cap).
    eventually(10, "20 open connections on the gauge", || async {
        let (_, metrics) = get(&format!("http://{admin}/metrics")).await?;
        metrics
            .lines()
            .any(|l| l == "http_connections_open{listener=\"public\"} 20")
            .then_some(())
    })
    .await;
    // One more: accepted and closed at once, without an answer.
    let mut over = TcpStream::connect(&addr).await.unwrap();
    let _ = over
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: relay\r\n\r\n")
        .await;
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), over.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a connection over the cap was answered: {read:?}"
    );
    assert_eq!(
        post_webhook(&addr, "8810002").await,
        None,
        "no room for a webhook"
    );
    let (status, metrics) = get(&format!("http://{admin}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("http_connections_refused_total{listener=\"public\"} "))
        .map(|v| v.trim().parse::<f64>().unwrap());
    assert!(refused.is_some_and(|n| n >= 2.0), "{metrics}");

    // Once they close, a legitimate webhook is served again.
    drop(held);
    let status = eventually(10, "a webhook served again", || async {
        post_webhook(&addr, "8810003").await.filter(|s| *s == 200)
    })
    .await;
    assert_eq!(status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn sigterm_drains_before_stopping(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(&db, dir.path(), &[("DRAIN_PERIOD", "4s")]);
    let ready = format!("http://{addr}/health/ready");
    assert_eq!(get(&ready).await.map(|(s, _)| s), Some(200));
    let pid = child.id() as libc::pid_t;
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let sent = Instant::now();
    // Readiness turns at once; webhooks are still taken during the drain.
    eventually(2, "ready turns 503", || async {
        (get(&ready).await?.0 == 503).then_some(())
    })
    .await;
    assert_eq!(post_webhook(&addr, "8810004").await, Some(200));
    assert!(
        sent.elapsed() < Duration::from_secs(4),
        "the checks above took the whole drain period; the test proves nothing"
    );
    // Then it stops on its own.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    assert!(
        sent.elapsed() >= Duration::from_secs(4),
        "{:?}",
        sent.elapsed()
    );
}

crate::on_sqlite!(
    sqlite: slow_headers_and_idle_keep_alive_are_closed,
    a_webhook_is_served_while_thousands_of_connections_hang,
    connections_over_the_cap_are_refused_and_counted,
    sigterm_drains_before_stopping,
);
