//! The listener: our own accept loop over hyper, in place of `axum::serve`.
//!
//! `axum::serve` has no header-read timeout and no cap on open connections, so a client
//! could hold a socket forever by sending half a request line, and ~20k idle sockets ran the
//! process out of file descriptors (issue 11, item 1). Gong never retries a delivery, so a
//! webhook refused because the listener is full of junk is lost: bounding what junk can hold
//! is a durability matter. Here:
//!
//! - every connection is HTTP/1.1 through hyper with `HEADER_READ_TIMEOUT`: a client that
//!   has not sent complete headers in time is closed. hyper also starts that timer when a
//!   keep-alive connection goes idle after an answer (`proto/h1/conn.rs`: the next head
//!   read arms it), so the same value bounds idle keep-alive connections; a test checks it;
//! - at most `MAX_CONNECTIONS` are open: one over the cap is accepted and closed at once
//!   (so it does not sit in the kernel's backlog, and the client learns at once), and
//!   counted in `http_connections_refused_total{listener}`; `http_connections_open{listener}`
//!   is the gauge (`public` or `admin`);
//! - TCP_NODELAY on every socket (small answers would otherwise wait for delayed ACKs);
//! - graceful shutdown as `axum::serve` did it: once `stop` resolves no connection is
//!   accepted, idle ones are closed, and in-flight requests finish (each answer waits for
//!   its commit), and [`serve`] returns when the last connection is gone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::telemetry;

/// hyper's own cap on the number of request headers. It answers 431 with an empty body
/// when it is exceeded, so it sits above the limit our middleware answers with JSON
/// (`super::MAX_HEADERS`).
const HYPER_MAX_HEADERS: usize = 256;

/// hyper's read buffer, which bounds the request line and headers (more: hyper's bare
/// 431) and what one slow connection can make us hold while it sends them: 4,096 of them
/// hold at most 256 MiB, where hyper's default (~400 KiB) would allow 1.6 GiB. Above
/// `super::MAX_HEADER_BYTES`, so that headers between the two get our JSON 431.
const HYPER_MAX_BUF: usize = 64 * 1024;

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// Complete headers must arrive within this, and an idle keep-alive connection is
    /// closed after it.
    pub header_read_timeout: Duration,
    /// Open connections; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

/// Which listener a connection came to: the `listener` label of the connection metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerName {
    /// `BIND_ADDR`.
    Public,
    /// `ADMIN_BIND_ADDR`.
    Admin,
}

impl ListenerName {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerName::Public => "public",
            ListenerName::Admin => "admin",
        }
    }
}

/// Serves `router` on `listener` until `stop` resolves, then shuts down gracefully (see
/// the module comment). Accept errors never end the loop: with the file descriptors
/// exhausted the loop backs off a little and goes on, since the connections that hold
/// them will be closed by their timeouts.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    name: ListenerName,
    stop: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_headers(HYPER_MAX_HEADERS)
        .max_buf_size(HYPER_MAX_BUF);
    let http = Arc::new(http);
    // Dropping `shutdown_tx` tells every connection to finish; each holds a `done_rx`
    // clone, so `done_tx.closed()` resolves when the last connection is gone.
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: closed at once. The client sees the connection closed (or
            // reset) and a real sender retries; what holds the slots is bounded by
            // HEADER_READ_TIMEOUT, so the cap frees itself.
            metrics::counter!(telemetry::HTTP_CONNECTIONS_REFUSED_TOTAL, "listener" => name.as_str())
                .increment(1);
            drop(tcp);
            continue;
        };
        tokio::spawn(connection(
            tcp,
            router.clone(),
            http.clone(),
            OpenConnection::new(slot, name),
            shutdown_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    drop(shutdown_rx);
    drop(shutdown_tx);
    drop(done_rx);
    done_tx.closed().await;
}

/// One connection, served until it closes, or until shutdown asks it to finish its
/// request in flight (if any) and close.
async fn connection(
    tcp: TcpStream,
    router: Router,
    http: Arc<hyper::server::conn::http1::Builder>,
    _open: OpenConnection,
    mut shutdown: watch::Receiver<()>,
    _done: watch::Receiver<()>,
) {
    let _ = tcp.set_nodelay(true);
    // The router takes hyper's `Incoming` body as it is (any `http_body::Body`).
    let service = TowerToHyperService::new(router);
    let conn = http.serve_connection(TokioIo::new(tcp), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            log_connection_end(result);
            return;
        }
        // Either a send or the sender dropped: shutdown has begun.
        _ = shutdown.changed() => conn.as_mut().graceful_shutdown(),
    }
    log_connection_end(conn.await);
}

/// Connection errors (a client that went away, a header timeout) are the client's
/// business: debug level, so junk traffic cannot flood the log.
fn log_connection_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection closed with an error");
    }
}

/// An accept that failed. A refused or reset connection is the client's; anything else
/// (EMFILE, ENFILE, ENOMEM) is ours: wait a little so the loop does not spin, and go on.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Holds a connection's slot and counts it in `http_connections_open` while alive.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
    name: ListenerName,
}

impl OpenConnection {
    fn new(slot: OwnedSemaphorePermit, name: ListenerName) -> OpenConnection {
        metrics::gauge!(telemetry::HTTP_CONNECTIONS_OPEN, "listener" => name.as_str())
            .increment(1.0);
        OpenConnection { _slot: slot, name }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(telemetry::HTTP_CONNECTIONS_OPEN, "listener" => self.name.as_str())
            .decrement(1.0);
    }
}

/// Descriptors the process needs besides its connections' sockets (store, Redis, Gong
/// client, logs), kept aside when judging whether `MAX_CONNECTIONS` fits.
const RESERVED_FDS: u64 = 256;

/// Raises the soft open-files limit to the hard limit (many systems start processes at
/// 1024, which 4,096 connections do not fit), and warns when `max_connections` (on all
/// listeners) still does not fit under it. Returns the soft limit in force, if known.
pub fn raise_open_files_limit(max_connections: usize) -> Option<u64> {
    let limit = raise_nofile();
    match limit {
        Some(soft) if (max_connections as u64).saturating_add(RESERVED_FDS) > soft => {
            tracing::warn!(
                max_connections,
                open_files_limit = soft,
                "MAX_CONNECTIONS does not fit under the open-files limit (RLIMIT_NOFILE): \
                 accepts will fail before the cap is reached; raise the limit (ulimit -n) \
                 or lower MAX_CONNECTIONS"
            );
        }
        Some(_) => {}
        None => tracing::warn!("could not read the open-files limit (RLIMIT_NOFILE)"),
    }
    limit
}

#[cfg(unix)]
fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    // rlim_t is u64 on Linux, not on every unix.
    #[allow(clippy::unnecessary_cast)]
    Some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
fn raise_nofile() -> Option<u64> {
    None
}
