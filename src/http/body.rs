//! Reading a webhook body: within MAX_BODY_BYTES, a shared memory budget and the request's
//! deadline.
//!
//! A body is read only after the request's headers verified (see `verify`), and every byte
//! of it is first paid for from one semaphore whose permits are bytes
//! (MAX_BODY_BYTES_IN_FLIGHT), so the memory held by bodies in flight is bounded as a whole,
//! not only per request. A body with a Content-Length pays for all of it before the first
//! byte is read; a chunked body pays chunk by chunk as the chunks arrive.
//!
//! When the budget is spent, a verified request waits for it, within the request's
//! deadline, instead of being refused: Gong never retries a delivery, so a refusal loses the
//! event for good, while waiting costs only time; the budget comes back as soon as the
//! bodies ahead are committed or refused. Only a request whose deadline passes while it
//! waits is refused (503 `overloaded`, since the sender did nothing wrong).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Config;

/// The limits every webhook body is read within; cheap to clone (the budget is shared).
#[derive(Clone, Debug)]
pub struct BodyLimits {
    /// MAX_BODY_BYTES: a larger body gets 413.
    pub max_body_bytes: usize,
    /// REQUEST_TIMEOUT: the deadline of the whole request, counted from its start.
    pub request_timeout: Duration,
    /// MAX_BODY_BYTES_IN_FLIGHT permits, one per byte of body held by any request.
    budget: Arc<Semaphore>,
}

/// Why a body could not be read; the webhook handler maps each to its answer.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than MAX_BODY_BYTES")]
    TooLarge,
    #[error("the body did not arrive before the request's deadline")]
    Timeout,
    #[error("no memory budget for the body became free before the request's deadline")]
    Overloaded,
    #[error("the body could not be read: {0}")]
    Read(String),
}

/// A body read in full, with the share of the budget it holds: the share is given back
/// when this value is dropped (after the inbox has committed the event, or refused it).
#[derive(Debug)]
pub struct ReadBody {
    pub bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

impl BodyLimits {
    pub fn new(max_body_bytes: usize, max_in_flight: usize, request_timeout: Duration) -> Self {
        BodyLimits {
            max_body_bytes,
            request_timeout,
            // The configuration keeps both at most u32::MAX, far below the semaphore's cap.
            budget: Arc::new(Semaphore::new(max_in_flight.min(Semaphore::MAX_PERMITS))),
        }
    }

    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.max_body_bytes,
            config.max_body_bytes_in_flight,
            config.request_timeout,
        )
    }

    /// Reads `body` in full before `deadline`, paying for it from the budget first.
    /// `content_length` is the request's Content-Length header, when it has a valid one.
    pub async fn read(
        &self,
        body: Body,
        content_length: Option<u64>,
        deadline: Instant,
    ) -> Result<ReadBody, BodyError> {
        if content_length.is_some_and(|n| n > self.max_body_bytes as u64) {
            // Refused before a byte is read: the announced size alone is too much.
            return Err(BodyError::TooLarge);
        }
        let mut held = match content_length {
            Some(0) | None => None,
            Some(n) => Some(self.pay(n as usize, deadline).await?),
        };
        let mut buf = BytesMut::with_capacity(content_length.unwrap_or(0) as usize);
        let mut stream = body.into_data_stream();
        loop {
            let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Err(BodyError::Timeout),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if buf.len() + chunk.len() > self.max_body_bytes {
                return Err(BodyError::TooLarge);
            }
            if content_length.is_none() && !chunk.is_empty() {
                // Chunked: the chunk is paid for before it is kept, and before more is read.
                let permit = self.pay(chunk.len(), deadline).await?;
                match held.as_mut() {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(ReadBody {
            bytes: buf.freeze(),
            _budget: held,
        })
    }

    /// `bytes` permits from the budget, waiting for them until `deadline`.
    async fn pay(
        &self,
        bytes: usize,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, BodyError> {
        // At most max_body_bytes (checked by the caller), which the configuration keeps at
        // or below both u32::MAX and the budget, so the wait always ends.
        let n = u32::try_from(bytes).map_err(|_| BodyError::TooLarge)?;
        let acquire = self.budget.clone().acquire_many_owned(n);
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one would mean shutting down.
            Ok(Err(_)) | Err(_) => Err(BodyError::Overloaded),
        }
    }

    /// Bytes of budget free now (for tests and diagnostics).
    pub fn budget_available(&self) -> usize {
        self.budget.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_body_holds_its_bytes_of_the_budget_until_dropped() {
        let limits = BodyLimits::new(100, 150, Duration::from_secs(5));
        let read = limits
            .read(Body::from(vec![b'x'; 80]), Some(80), deadline())
            .await
            .unwrap();
        assert_eq!(read.bytes.len(), 80);
        assert_eq!(limits.budget_available(), 70);
        drop(read);
        assert_eq!(limits.budget_available(), 150);
    }

    #[tokio::test]
    async fn a_chunked_body_pays_for_what_it_receives() {
        let limits = BodyLimits::new(100, 150, Duration::from_secs(5));
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"de")),
        ];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let read = limits.read(body, None, deadline()).await.unwrap();
        assert_eq!(&read.bytes[..], b"abcde");
        assert_eq!(limits.budget_available(), 145);
    }

    #[tokio::test]
    async fn larger_than_the_limit_is_refused_announced_or_not() {
        let limits = BodyLimits::new(10, 150, Duration::from_secs(5));
        let announced = limits.read(Body::empty(), Some(11), deadline()).await;
        assert!(matches!(announced, Err(BodyError::TooLarge)));
        let chunked = limits
            .read(Body::from(vec![0u8; 11]), None, deadline())
            .await;
        assert!(matches!(chunked, Err(BodyError::TooLarge)));
        assert_eq!(
            limits.budget_available(),
            150,
            "a refused body gives its budget back"
        );
    }

    #[tokio::test]
    async fn when_the_budget_is_spent_a_body_waits_until_its_deadline() {
        let limits = BodyLimits::new(100, 100, Duration::from_secs(5));
        let first = limits
            .read(Body::from(vec![0u8; 100]), Some(100), deadline())
            .await
            .unwrap();
        // With the whole budget held, the next body waits, and is refused at its deadline.
        let soon = Instant::now() + Duration::from_millis(100);
        let waiting = limits.read(Body::from(vec![0u8; 10]), Some(10), soon).await;
        assert!(matches!(waiting, Err(BodyError::Overloaded)));
        // Once the first is done, the next one goes through.
        let second = {
            let limits = limits.clone();
            tokio::spawn(async move {
                limits
                    .read(Body::from(vec![0u8; 10]), Some(10), deadline())
                    .await
            })
        };
        tokio::task::yield_now().await;
        drop(first);
        assert_eq!(second.await.unwrap().unwrap().bytes.len(), 10);
    }
}
