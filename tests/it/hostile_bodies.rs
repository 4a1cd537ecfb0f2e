//! Hostile bodies (issue 11, items 2 and 13): what an unauthenticated or slow body costs.
//!
//! The memory and deadline cases run the real binary (`spawn_serve`), since peak resident
//! memory is a property of the process; the "answered before the body is sent" case talks
//! raw HTTP/1.1 over TCP so that the test, not a client library, decides what is sent when.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const CALLS: &str = "/webhook/gong/calls";
const TEN_MIB: usize = 10 * 1024 * 1024;

/// A secret of the length the verifier requires (32 bytes or more).
const SECRET: &str = "hostile-bodies-secret-0123456789abcdef";

/// Peak resident memory of process `pid` in bytes (VmHWM of /proc/<pid>/status).
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kb * 1024
}

fn hs256_for(path: &str, body: &[u8]) -> String {
    sign_hs256(SECRET.as_bytes(), &hs_claims(path, body))
}

/// 150 concurrent 10 MiB bodies without a token or with a bad signature: the process's
/// peak memory stays bounded, and a legitimate webhook sent meanwhile is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_bodies_do_not_cost_memory() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("GONG_WEBHOOK_SECRETS", json!([SECRET]).to_string()),
        ("GONG_WEBHOOK_PUBLIC_URL", PUBLIC_URL.to_owned()),
        ("WORKERS", "0".to_owned()),
    ];
    let (mut child, addr) = spawn_serve(&db, dir.path(), &env);
    let pid = child.id();
    let url = format!("http://{addr}{CALLS}");
    let baseline = peak_rss_bytes(pid);

    // One shared 10 MiB buffer: each request sends it without a copy of its own.
    let big = Bytes::from(vec![b' '; TEN_MIB]);
    let bad_token = sign_hs256(
        b"not-the-configured-secret-0123456789abcdef",
        &hs_claims(CALLS, &big),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut attackers = Vec::new();
    for i in 0..150 {
        let req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(big.clone());
        let req = if i % 2 == 0 {
            req
        } else {
            req.header("authorization", bad_token.clone())
        };
        attackers.push(tokio::spawn(async move {
            req.send().await.ok().map(|r| r.status().as_u16())
        }));
    }

    // A legitimate webhook while the attack is under way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = call_body();
    let sent = Instant::now();
    let res = client
        .post(&url)
        .header("authorization", hs256_for(CALLS, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let legit_latency = sent.elapsed();
    let (status, json) = answer(res).await;
    assert_eq!(status, 200, "{json}");

    let mut statuses = std::collections::BTreeMap::new();
    for a in attackers {
        *statuses.entry(a.await.unwrap()).or_insert(0) += 1;
    }
    let peak = peak_rss_bytes(pid);
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!(
        "peak RSS {:.1} MB (baseline {:.1} MB), legitimate webhook answered in {legit_latency:?}, \
         attackers' answers {statuses:?}",
        peak as f64 / 1e6,
        baseline as f64 / 1e6
    );
    assert!(
        !statuses.contains_key(&Some(200)),
        "no attacker is accepted: {statuses:?}"
    );
    assert!(
        peak < 150_000_000,
        "peak RSS {:.1} MB under 150 unauthenticated 10 MiB bodies",
        peak as f64 / 1e6
    );
}

/// Sends `head` (request line and headers) and `body_start` over a new connection, and
/// reads the answer for at most `wait`; `None` when no complete answer came in time.
async fn raw_answer(addr: &str, head: &str, body_start: &[u8], wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body_start).await.unwrap();
    read_answer(&mut stream, wait).await
}

/// Reads one HTTP answer (head and a Content-Length body) for at most `wait`.
async fn read_answer(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return Some(text);
                }
            }
        }
        (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).to_string())
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// Status code and JSON body of a raw answer.
fn parse_raw(answer: &str) -> (u16, Value) {
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A token-less request announcing 10 MiB is answered 401 after 1 KiB of its body: the
/// server does not wait for (or read) a body that no credential vouches for.
async fn a_request_without_token_is_refused_before_its_body_is_sent(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let head = format!(
        "POST {CALLS} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {TEN_MIB}\r\n\r\n"
    );
    let answer = raw_answer(
        &app.addr.to_string(),
        &head,
        &[b' '; 1024],
        Duration::from_secs(5),
    )
    .await
    .expect("an answer before the body is sent");
    let (status, json) = parse_raw(&answer);
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("missing_token"))
    );
    assert!(app.store().events().await.unwrap().is_empty());
    app.stop().await;
}

/// A verified request whose body trickles in one byte a second gets 408 `body_timeout` at
/// REQUEST_TIMEOUT (2 s), counted from the request's start, not restarted by each byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_gets_408_at_the_request_deadline() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("GONG_WEBHOOK_SECRETS", json!([SECRET]).to_string()),
        ("REQUEST_TIMEOUT", "2s".to_owned()),
        ("WORKERS", "0".to_owned()),
    ];
    let (mut child, addr) = spawn_serve(&db, dir.path(), &env);
    let body = call_body();
    let head = format!(
        "POST {CALLS} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         authorization: {}\r\ncontent-length: {}\r\n\r\n",
        hs256_for(CALLS, &body),
        body.len()
    );
    let stream = TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            let text = String::from_utf8_lossy(&buf).to_string();
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    };
    let answer = tokio::time::timeout(Duration::from_secs(6), read)
        .await
        .unwrap_or_default();
    let elapsed = started.elapsed();
    trickle.abort();
    child.kill().unwrap();
    child.wait().unwrap();
    let (status, json) = parse_raw(&answer);
    assert_eq!(
        (status, json["error"].as_str()),
        (408, Some("body_timeout")),
        "after {elapsed:?}: {answer:?}"
    );
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        elapsed < Duration::from_millis(3500),
        "answered after {elapsed:?}"
    );
}

/// With the whole body budget held by a verified request that sends nothing, another
/// verified webhook waits for its share instead of being refused, and is accepted as soon
/// as the first request ends and gives its share back.
async fn a_verified_body_waits_for_the_budget_instead_of_being_refused(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.max_body_bytes = Some("8192".into());
        c.max_body_bytes_in_flight = Some("8192".into());
    })
    .await;
    // A verified request announcing 8000 bytes, of which it sends none: it holds 8000 of
    // the 8192 bytes of budget for as long as its connection stays open.
    let held = b"x".repeat(8000);
    let head = format!(
        "POST {CALLS} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         authorization: {}\r\ncontent-length: 8000\r\n\r\n",
        sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(CALLS, &held))
    );
    let mut holder = TcpStream::connect(app.addr).await.unwrap();
    holder.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let body = call_body();
    let token = sign_hs256(SECRET_NEW.as_bytes(), &hs_claims(CALLS, &body));
    let sender = app.sender();
    let mut waiting = tokio::spawn(async move {
        let headers = [
            ("authorization", token.as_str()),
            ("content-type", "application/json"),
        ];
        answer(sender.post(CALLS, body, &headers).await.unwrap()).await
    });
    // Not answered while the budget is held (neither accepted nor refused)...
    let early = tokio::time::timeout(Duration::from_millis(700), &mut waiting).await;
    assert!(
        early.is_err(),
        "answered while the budget was held: {early:?}"
    );
    // ...and accepted once the holder goes away.
    drop(holder);
    let (status, json) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("answered once the budget is free")
        .unwrap();
    assert_eq!(status, 200, "{json}");
    app.stop().await;
}

crate::on_sqlite!(sqlite:
    a_request_without_token_is_refused_before_its_body_is_sent,
    a_verified_body_waits_for_the_budget_instead_of_being_refused,
);
