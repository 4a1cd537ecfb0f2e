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

use gong_api::models::{CallData, CallTranscript};
use gong_api::{ContentSelector, GongClient, GongError};

const MAX_IDS: usize = gong_api::MAX_IDS_PER_REQUEST;
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
    /// Gong cannot be asked right now for reasons that say nothing about the event (the
    /// circuit breaker is open, the day's budget is spent, Gong keeps answering 429, Gong
    /// refuses our credentials): wait
    /// this long without using up an attempt, so an outage delays events, never
    /// dead-letters them.
    pub postpone: Option<Duration>,
    /// Gong refused this request's content (400, an answer we cannot read), not us: another
    /// grouping of the ids may succeed.
    pub content_refused: bool,
}

impl From<&GongError> for LookupFailure {
    fn from(e: &GongError) -> Self {
        let postpone = match e {
            GongError::CircuitOpen(d) => Some(*d),
            GongError::Budget(_) => Some(until_next_utc_day()),
            GongError::RateLimited { .. } => Some(Duration::ZERO),
            // Our credentials, not the event: the breaker is open now (see gong-api's
            // request.rs), and the next try meets it and waits out its cool-down.
            GongError::Auth { .. } => Some(Duration::ZERO),
            _ => None,
        };
        LookupFailure {
            message: e.to_string(),
            retryable: e.is_retryable(),
            postpone,
            content_refused: matches!(e, GongError::Api { .. } | GongError::Decode { .. }),
        }
    }
}

/// The daily budget is counted per UTC day (see `gong::limiter`).
fn until_next_utc_day() -> Duration {
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    (midnight - now).to_std().unwrap_or_default() + Duration::from_secs(60)
}

/// Gong ids are strings of digits; anything else would make Gong refuse the whole batch.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_digit())
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
            postpone: None,
            content_refused: false,
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
            // Only while a flush could start: with every flight busy, a passed deadline
            // would wake this loop at once, forever (the flights' completion wakes it).
            _ = tokio::time::sleep_until(sleep_until),
                if deadline.is_some() && in_flight.len() < MAX_IN_FLIGHT => {}
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
    // Ids Gong could never know are answered "not found" without asking: one of them
    // would make Gong refuse the request for every other id.
    let (ids, odd): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| plausible_id(id));
    let mut results = lookup(&client, &ids).await;
    results.extend(odd.into_iter().map(|id| (id, Ok(CallLookup::default()))));
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

/// Looks the ids up; when Gong refuses a batch for good (a 400, an answer we cannot
/// read), the batch is halved and each half asked again, so that one bad call fails alone
/// instead of taking up to 99 others to the dead-letter queue.
fn lookup<'a>(
    client: &'a GongClient,
    ids: &'a [String],
) -> std::pin::Pin<Box<dyn std::future::Future<Output = HashMap<String, LookupResult>> + Send + 'a>>
{
    Box::pin(async move {
        let results = lookup_once(client, ids).await;
        let refused = ids.len() > 1
            && results
                .values()
                .any(|r| matches!(r, Err(f) if f.content_refused));
        if !refused {
            return results;
        }
        let (a, b) = ids.split_at(ids.len() / 2);
        let mut merged = lookup(client, a).await;
        merged.extend(lookup(client, b).await);
        merged
    })
}

/// One extensive request, then one transcript request for the calls Gong returned (a call
/// it does not return has no transcript either).
async fn lookup_once(client: &GongClient, ids: &[String]) -> HashMap<String, LookupResult> {
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
