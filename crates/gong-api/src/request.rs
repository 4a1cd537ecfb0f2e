//! The one request path. Every endpoint calls [`GongClient::call`], which loops over four
//! steps, one function each: wait for a permit (breaker, 429 pause, limiter), send, classify
//! the answer, and back off before the next attempt.
//!
//! Error policy: 429 waits `Retry-After` (bounded, jittered) and holds every caller; 5xx,
//! timeouts and connection errors back off exponentially with jitter; 401/403 are
//! configuration errors: they fail at once and open the breaker at once (see
//! [`crate::CircuitBreaker::record_rejected`]); 404 "No calls found corresponding to the provided
//! filters" is an empty result, other 404s are "not found"; other 4xx fail at once.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::GongClient;
use crate::error::GongError;
use crate::metric;
use crate::models::ErrorResponse;

/// One request as an endpoint describes it. `endpoint` is the path template, used in
/// metrics and logs (never the path itself: it may carry ids).
pub(crate) struct Request<'a> {
    pub endpoint: &'static str,
    pub method: Method,
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a Value>,
}

impl Request<'_> {
    /// Creating a meeting is the one call that must not be repeated blindly: after a
    /// timeout or a 5xx it may have happened. It is retried only when Gong surely did not
    /// act on it (429, or no connection made).
    fn idempotent(&self) -> bool {
        !(self.method == Method::POST && self.endpoint == "/v2/meetings")
    }
}

/// What a successful exchange held.
pub(crate) enum Outcome<T> {
    Data(T),
    /// 404 "No ... found corresponding to the provided filters".
    Empty,
}

/// What one attempt came to.
enum Verdict<T> {
    /// An answer or an error that another attempt cannot change.
    Done(Result<Outcome<T>, GongError>),
    /// Gong asked every caller to wait this long (429).
    Pause(Duration),
    /// A failure that may pass (5xx, timeout, connection); `last` describes it.
    Retry { last: String },
}

/// An answer as read off the wire.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl GongClient {
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        req: Request<'_>,
    ) -> Result<Outcome<T>, GongError> {
        let mut attempt: u32 = 0;
        // The last failure of this call: when its own retries open the breaker, that
        // failure (a refused connection, a 503) is the useful error, not "breaker open".
        let mut failed: Option<String> = None;
        loop {
            attempt += 1;
            self.permit(attempt, &mut failed).await?;
            let verdict = match self.send(&req).await {
                Ok(answer) => self.classify(&req, attempt, answer),
                Err(e) => self.transport_failure(&req, attempt, e),
            };
            match verdict {
                Verdict::Done(result) => return result,
                // The wait happens in `permit`, together with every other caller.
                Verdict::Pause(wait) => self.pause_for(wait),
                Verdict::Retry { last } => {
                    if attempt > self.config.max_retries {
                        return Err(GongError::Unavailable {
                            attempts: attempt,
                            last,
                        });
                    }
                    let wait = self.backoff(attempt);
                    tracing::warn!(endpoint = req.endpoint, attempt, wait_ms = wait.as_millis() as u64, error = %last, "Gong request failed; retrying");
                    failed = Some(last);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Waits until a request may go: the breaker allows it, no 429 pause holds, and the
    /// limiter grants a permit (which fails when the day's budget is spent).
    async fn permit(&self, attempt: u32, failed: &mut Option<String>) -> Result<(), GongError> {
        if let Some(breaker) = &self.breaker
            && let Err(retry_in) = breaker.allow()
        {
            return Err(match failed.take() {
                Some(last) => GongError::Unavailable {
                    attempts: attempt - 1,
                    last,
                },
                None => GongError::CircuitOpen(retry_in),
            });
        }
        self.wait_out_pause().await;
        self.limiter.acquire().await?;
        // A 429 may have arrived while we waited for the permit.
        self.wait_out_pause().await;
        self.publish_budget();
        Ok(())
    }

    async fn send(&self, req: &Request<'_>) -> Result<Answer, SendError> {
        let url = format!("{}{}", self.base_url, req.path);
        let mut builder = self
            .http
            .request(req.method.clone(), &url)
            .header(AUTHORIZATION, self.authorization.clone());
        if !req.query.is_empty() {
            builder = builder.query(req.query);
        }
        if let Some(b) = req.body {
            builder = builder.json(b);
        }
        let res = builder.send().await.map_err(SendError::Request)?;
        let status = res.status();
        count(req.endpoint, status.as_str());
        let retry_after = res
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = res.bytes().await.map_err(SendError::Body)?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// No complete answer: the request could not be built, sent, or its body read.
    fn transport_failure<T>(&self, req: &Request<'_>, attempt: u32, e: SendError) -> Verdict<T> {
        let (e, sent) = match e {
            // Our request cannot be built (e.g. a malformed base URL): no retry.
            SendError::Request(e) if e.is_builder() => {
                return Verdict::Done(Err(GongError::Api {
                    status: 0,
                    errors: vec![transport_error(e)],
                }));
            }
            SendError::Request(e) => {
                count(req.endpoint, "error");
                let sent = !e.is_connect();
                (e, sent)
            }
            SendError::Body(e) => (e, true),
        };
        self.record(false);
        let last = transport_error(e);
        self.note_failure(req.endpoint, &last);
        if sent && !req.idempotent() {
            return Verdict::Done(Err(GongError::Unavailable {
                attempts: attempt,
                last,
            }));
        }
        Verdict::Retry { last }
    }

    fn classify<T: DeserializeOwned>(
        &self,
        req: &Request<'_>,
        attempt: u32,
        answer: Answer,
    ) -> Verdict<T> {
        let status = answer.status;
        if status.is_success() {
            self.record(true);
            self.note_accepted();
            return Verdict::Done(
                serde_json::from_slice(&answer.body)
                    .map(Outcome::Data)
                    .map_err(|e| GongError::Decode {
                        endpoint: req.endpoint,
                        message: e.to_string(),
                    }),
            );
        }
        let errors = error_messages(&answer.body);
        if matches!(status.as_u16(), 401 | 403) {
            return Verdict::Done(Err(self.rejected_answer(req, status, errors)));
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Gong checks credentials before its quota: it knew who we were.
            self.note_accepted();
            return self.throttled(req, attempt, answer.retry_after);
        }
        if status.is_server_error() {
            self.record(false);
            // Status only: health reports may be public, and a 5xx body (Gong's or a
            // proxy's) is no business of their readers.
            self.note_failure(req.endpoint, status.as_str());
            let last = format!("{status}: {}", errors.join("; "));
            if !req.idempotent() {
                return Verdict::Done(Err(GongError::Unavailable {
                    attempts: attempt,
                    last,
                }));
            }
            return Verdict::Retry { last };
        }
        // A 4xx: Gong answered (and took our credentials), the request is what is wrong.
        self.record(true);
        self.note_accepted();
        if status == StatusCode::NOT_FOUND && is_empty_result(&errors) {
            return Verdict::Done(Ok(Outcome::Empty));
        }
        Verdict::Done(Err(client_error(status, errors)))
    }

    /// A 401/403: the credentials (or the tenant host, scopes, IP allow-list) are wrong.
    /// Not the request's fault and not passing by itself: the breaker opens at once, so
    /// that callers wait (and probe once per cool-down) instead of failing their work.
    fn rejected_answer(
        &self,
        req: &Request<'_>,
        status: StatusCode,
        errors: Vec<String>,
    ) -> GongError {
        if let Some(b) = &self.breaker {
            b.record_rejected();
        }
        // The status only: health reports may be public, and Gong's words add nothing.
        self.note_failure(
            req.endpoint,
            &format!("credentials rejected ({})", status.as_u16()),
        );
        self.note_rejected(status.as_u16());
        client_error(status, errors)
    }

    /// A 429: Gong is up and only asks us to slow down.
    fn throttled<T>(
        &self,
        req: &Request<'_>,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Verdict<T> {
        self.record(true);
        metrics::counter!(metric::RATE_LIMIT_HITS_TOTAL).increment(1);
        self.note_failure(req.endpoint, "429 Too Many Requests");
        // A wait longer than we are willing to hold a caller (the daily quota, say) is
        // handed back: the caller reschedules the work.
        let too_long = retry_after.is_some_and(|r| r > self.config.max_retry_after);
        if attempt > self.config.max_retries || too_long {
            return Verdict::Done(Err(GongError::RateLimited { attempts: attempt }));
        }
        let wait = self.retry_after_wait(retry_after, attempt);
        tracing::warn!(
            endpoint = req.endpoint,
            wait_ms = wait.as_millis() as u64,
            attempt,
            "Gong answered 429"
        );
        Verdict::Pause(wait)
    }

    fn record(&self, success: bool) {
        if let Some(b) = &self.breaker {
            if success {
                b.record_success();
            } else {
                b.record_failure();
            }
        }
    }

    /// Holds every caller for `wait` from now (or longer, if a pause is already set).
    fn pause_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Sleeps while a 429 pause is in force (it may be extended meanwhile).
    async fn wait_out_pause(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half random, so
    /// retries of many callers spread out but none retries immediately.
    fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .config
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.backoff_max);
        let half = step / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    /// `Retry-After` as given (bounded by `max_retry_after`) plus up to 10% (at most 1 s) of
    /// jitter, so callers that were told the same second do not return together.
    fn retry_after_wait(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        let base = retry_after
            .unwrap_or_else(|| self.backoff(attempt))
            .min(self.config.max_retry_after);
        let jitter = base.mul_f64(0.1).min(Duration::from_secs(1));
        base + jitter.mul_f64(rand::rng().random::<f64>())
    }
}

enum SendError {
    /// No answer: the request failed before a status came back.
    Request(reqwest::Error),
    /// A status came, but the body did not.
    Body(reqwest::Error),
}

fn count(endpoint: &'static str, status: &str) {
    metrics::counter!(metric::CALLS_TOTAL, "endpoint" => endpoint, "status" => status.to_owned())
        .increment(1);
}

fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    // Without the URL's query: it may carry e-mail addresses.
    format!("{kind}: {}", e.without_url())
}

fn error_messages(body: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) if !e.errors.is_empty() => e.errors,
        _ => vec![String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()],
    }
}

/// Gong's "nothing matched" 404 (also for users, stats, scorecards: "No ... found
/// corresponding to the provided filters").
fn is_empty_result(errors: &[String]) -> bool {
    errors.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        e.starts_with("no ") && e.contains("found") && e.contains("provided filters")
    })
}

fn client_error(status: StatusCode, errors: Vec<String>) -> GongError {
    // Checked first: Gong's status for an expired cursor is not documented.
    if errors
        .iter()
        .any(|e| e.to_ascii_lowercase().contains("cursor has expired"))
    {
        return GongError::CursorExpired;
    }
    match status.as_u16() {
        401 | 403 => GongError::Auth {
            status: status.as_u16(),
            errors,
        },
        404 => GongError::NotFound(errors),
        s => GongError::Api { status: s, errors },
    }
}
