//! The durable inbox, written with group commit.
//!
//! A webhook is acknowledged only after its event is committed. Committing each request on
//! its own would cost one sync (fsync on SQLite, WAL flush on PostgreSQL) per request, so
//! requests hand their event to a committer task instead: it takes everything that queued up
//! while the previous commit ran and writes it as one transaction, then answers each request.
//! Under load the batches grow by themselves; a lone request waits for no timer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{InsertOutcome, Store};
use crate::verify::VerifiedEvent;

/// Most events in one transaction (bounded so bind parameters stay far below both
/// backends' limits: 14 per event).
const MAX_BATCH: usize = 512;
/// Most payload bytes in one transaction: a batch of large bodies must stay far below
/// PostgreSQL's 1 GB message limit and not hold hundreds of MB at once. A single event is
/// always let through, whatever its size (MAX_BODY_BYTES bounds it).
const MAX_BATCH_BYTES: usize = 32 << 20;
/// Requests that may wait for a commit before new ones wait to be queued (backpressure).
const QUEUE_CAPACITY: usize = 16_384;
/// A commit that takes longer is abandoned (rolled back) and answered 503: a store that
/// hangs must not hold the sender's connection open until it gives up on its own. If the
/// commit did land after all, the sender's retry is answered as a duplicate, never lost.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The store could not commit: the sender should retry (503).
    #[error("the inbox could not commit the event: {0}")]
    Unavailable(String),
    /// The committer has stopped (shutdown).
    #[error("the inbox is shutting down")]
    Closed,
}

struct Submission {
    event: VerifiedEvent,
    reply: oneshot::Sender<Result<InsertOutcome, InboxError>>,
}

/// Handle for submitting events. Cloning is cheap; the committer stops when every handle
/// is dropped, after finishing what was submitted.
#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Submission>,
}

impl Inbox {
    /// Starts the committer. `concurrency` commits may run at once: 1 for SQLite (one
    /// writer anyway), a few for PostgreSQL. It commits on connections of its own (see
    /// [`Store::inbox_writer`]), so that readers and workers holding every connection of
    /// `store`'s pool cannot make webhooks wait for one.
    pub fn start(store: Store, concurrency: usize) -> (Inbox, JoinHandle<()>) {
        let concurrency = concurrency.max(1);
        let writer = store.inbox_writer(concurrency as u32);
        // Opens a first connection now rather than at the first webhook: it is ready when
        // webhooks come, and what connecting reports (see `inbox_writer`) is said at start.
        let warm = writer.clone();
        tokio::spawn(async move {
            if let Err(e) = warm.ping().await {
                tracing::warn!(error = %e, "the inbox writer cannot reach the store yet");
            }
        });
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let handle = tokio::spawn(run_committer(writer, rx, concurrency));
        (Inbox { tx }, handle)
    }

    /// Stores the event durably, or says why it could not.
    pub async fn submit(&self, event: VerifiedEvent) -> Result<InsertOutcome, InboxError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Submission { event, reply })
            .await
            .map_err(|_| InboxError::Closed)?;
        // A dropped reply means the committer task died mid-batch: nothing is known to be
        // committed, so the caller must not acknowledge.
        answer.await.map_err(|_| InboxError::Closed)?
    }
}

async fn run_committer(store: Store, mut rx: mpsc::Receiver<Submission>, concurrency: usize) {
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        // Take the permit first, so that while all commits are busy, requests keep queueing
        // in the channel and the next batch collects all of them.
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let Some(first) = rx.recv().await else { break };
        let mut bytes = first.event.payload().len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(s) => {
                    bytes += s.event.payload().len();
                    batch.push(s);
                }
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            commit(&store, batch).await;
            drop(permit);
        });
    }
    // Wait for the commits in flight: shutdown must not cut one off.
    let _ = permits.acquire_many(concurrency as u32).await;
    store.close().await;
}

async fn commit(store: &Store, batch: Vec<Submission>) {
    let start = Instant::now();
    let (events, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|s| (s.event, s.reply)).unzip();
    let result = match tokio::time::timeout(COMMIT_TIMEOUT, store.insert_batch(&events)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("commit took longer than {COMMIT_TIMEOUT:?}")),
    };
    match result {
        Ok(outcomes) => {
            let accepted = outcomes
                .iter()
                .filter(|o| matches!(o, InsertOutcome::Accepted { .. }))
                .count();
            // No `inbox_depth` increment here: the gauge is set with /health's queue counts
            // by one refresh, so /metrics never runs ahead of /health.
            tracing::debug!(
                batch = events.len(),
                accepted,
                commit_ms = start.elapsed().as_secs_f64() * 1e3,
                "inbox batch committed"
            );
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(message) => {
            // Outside any request's span: name the requests so each can be traced.
            let request_ids: Vec<&str> = events.iter().map(|e| e.request_id()).collect();
            tracing::error!(
                batch = events.len(),
                error = %message,
                ?request_ids,
                "inbox commit failed; answering 503"
            );
            for reply in replies {
                let _ = reply.send(Err(InboxError::Unavailable(message.clone())));
            }
        }
    }
}
