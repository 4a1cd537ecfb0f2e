//! Merges the call look-ups of every worker into few Gong requests.
//!
//! Gong allows about three requests a second for the whole company, and one
//! `calls/extensive` or `calls/transcript` request carries up to 100 call ids. So workers do
//! not call Gong themselves: they hand their call ids to this batcher, which sends one
//! extensive and one transcript request per 100 ids. It waits at most `max_wait` for a batch
//! to fill, and while its requests are in flight (often waiting for the rate limiter) the
//! next batch keeps filling: under load batches grow by themselves.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::gong::models::{CallData, CallTranscript};
use crate::gong::{ContentSelector, GongClient, GongError};

const MAX_IDS: usize = crate::gong::MAX_IDS_PER_REQUEST;
/// Flushes in flight at once: two keep the limiter's burst busy without starving the
/// batches of ids.
const MAX_IN_FLIGHT: usize = 2;

/// What Gong returned for one call id.
#[derive(Debug, Clone, Default)]
pub struct CallLookup {
    /// `None`: Gong does not return the call (yet): processing lag, private or unknown.
    pub call: Option<CallData>,
    /// `None`: no transcript yet.
    pub transcript: Option<CallTranscript>,
}

/// Why a look-up failed, shared by every id of the failed request.
#[derive(Debug, Clone)]
pub struct LookupFailure {
    pub message: String,
    pub retryable: bool,
    /// When Gong or the breaker said when to come back.
    pub retry_after: Option<Duration>,
    /// Gong's circuit breaker is open: nothing was tried, so no attempt is used up.
    pub circuit_open: bool,
}

impl From<&GongError> for LookupFailure {
    fn from(e: &GongError) -> Self {
        LookupFailure {
            message: e.to_string(),
            retryable: e.is_retryable(),
            retry_after: match e {
                GongError::CircuitOpen(d) => Some(*d),
                _ => None,
            },
            circuit_open: matches!(e, GongError::CircuitOpen(_)),
        }
    }
}

pub type LookupResult = Result<CallLookup, LookupFailure>;

struct Request {
    ids: Vec<String>,
    reply: oneshot::Sender<HashMap<String, LookupResult>>,
}

#[derive(Clone)]
pub struct CallBatcher {
    tx: mpsc::Sender<Request>,
}

impl CallBatcher {
    /// Starts the batching task; it ends when every `CallBatcher` clone is dropped.
    pub fn start(client: Arc<GongClient>, max_wait: Duration) -> (CallBatcher, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(256);
        let task = tokio::spawn(run(client, rx, max_wait));
        (CallBatcher { tx }, task)
    }

    /// Looks up `ids`; every id gets an answer.
    pub async fn lookup(&self, ids: Vec<String>) -> HashMap<String, LookupResult> {
        if ids.is_empty() {
            return HashMap::new();
        }
        let (reply, answer) = oneshot::channel();
        let gone = || LookupFailure {
            message: "the Gong batcher stopped (shutting down)".into(),
            retryable: true,
            retry_after: None,
            circuit_open: false,
        };
        if self
            .tx
            .send(Request {
                ids: ids.clone(),
                reply,
            })
            .await
            .is_err()
        {
            return ids.into_iter().map(|id| (id, Err(gone()))).collect();
        }
        answer
            .await
            .unwrap_or_else(|_| ids.into_iter().map(|id| (id, Err(gone()))).collect())
    }
}

async fn run(client: Arc<GongClient>, mut rx: mpsc::Receiver<Request>, max_wait: Duration) {
    let mut waiting: Vec<Request> = Vec::new();
    let mut waiting_ids = 0usize;
    let mut deadline: Option<Instant> = None;
    let mut in_flight = JoinSet::new();
    let mut closed = false;
    loop {
        let due = deadline.is_some_and(|d| Instant::now() >= d) || closed;
        if !waiting.is_empty() && in_flight.len() < MAX_IN_FLIGHT && (waiting_ids >= MAX_IDS || due)
        {
            let batch = take_batch(&mut waiting, &mut waiting_ids);
            in_flight.spawn(flush(client.clone(), batch));
            deadline = (!waiting.is_empty()).then(|| Instant::now() + max_wait);
            continue;
        }
        if closed && waiting.is_empty() && in_flight.is_empty() {
            return;
        }
        let sleep_until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            req = rx.recv(), if !closed => match req {
                Some(r) => {
                    if waiting.is_empty() {
                        deadline = Some(Instant::now() + max_wait);
                    }
                    waiting_ids += r.ids.len();
                    waiting.push(r);
                }
                None => closed = true,
            },
            _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

/// Takes requests, oldest first, while they fit in one request of `MAX_IDS` ids (a single
/// larger request goes alone; the client splits it).
fn take_batch(waiting: &mut Vec<Request>, waiting_ids: &mut usize) -> Vec<Request> {
    let mut n = 0;
    let mut ids = 0;
    for r in waiting.iter() {
        if n > 0 && ids + r.ids.len() > MAX_IDS {
            break;
        }
        ids += r.ids.len();
        n += 1;
    }
    *waiting_ids -= ids;
    waiting.drain(..n).collect()
}

async fn flush(client: Arc<GongClient>, batch: Vec<Request>) {
    let mut seen = HashSet::new();
    let ids: Vec<String> = batch
        .iter()
        .flat_map(|r| r.ids.iter())
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    let results = lookup(&client, &ids).await;
    for r in batch {
        let answer = r
            .ids
            .iter()
            .map(|id| {
                let res = results
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| Ok(CallLookup::default()));
                (id.clone(), res)
            })
            .collect();
        // A worker that gave up waiting (shutdown) is not an error.
        let _ = r.reply.send(answer);
    }
}

/// One extensive request, then one transcript request for the calls Gong returned (a call
/// it does not return has no transcript either).
async fn lookup(client: &GongClient, ids: &[String]) -> HashMap<String, LookupResult> {
    let fail = |e: &GongError| {
        let f = LookupFailure::from(e);
        ids.iter().map(|id| (id.clone(), Err(f.clone()))).collect()
    };
    let mut calls = match client
        .extensive_calls_by_ids(ids, &ContentSelector::full())
        .await
    {
        Ok(b) => b.found,
        Err(e) => return fail(&e),
    };
    let found: Vec<String> = ids
        .iter()
        .filter(|id| calls.contains_key(*id))
        .cloned()
        .collect();
    let mut transcripts = if found.is_empty() {
        HashMap::new()
    } else {
        match client.transcripts_by_ids(&found).await {
            Ok(b) => b.found,
            Err(e) => return fail(&e),
        }
    };
    ids.iter()
        .map(|id| {
            let lookup = CallLookup {
                call: calls.remove(id),
                transcript: transcripts.remove(id),
            };
            (id.clone(), Ok(lookup))
        })
        .collect()
}
