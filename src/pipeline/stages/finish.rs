//! Stage 6: end each event (done with its notifications in the outbox, rescheduled, or
//! dead-lettered, each one fenced transaction), and write the history the stages recorded.

use super::super::job::{Job, Outcome, Stage, StageName, State, Step, log_outcome};
use super::super::outage::WriteFailure;
use super::super::{Pipeline, messages};
use crate::store::{Final, Retry, StoreError};
use crate::telemetry;
use crate::verify::now_ms;
use crate::warehouse::{self, tables::HistoryRow};

impl Pipeline {
    /// Ends each event: done with its notifications, rescheduled, or dead-lettered.
    pub(in crate::pipeline) async fn finish(&self, jobs: &mut [Job]) {
        let stage = Stage::start(StageName::Outbox);
        let mut queued = false;
        for j in jobs.iter_mut() {
            let outcome = j.outcome();
            let result = self.settle(j).await;
            // Done and dead events queued notifications with their transition.
            queued |= matches!(result, Ok(true)) && outcome != Outcome::Retry;
            match result {
                Ok(true) => {
                    metrics::counter!(telemetry::EVENTS_PROCESSED_TOTAL,
                        "kind" => j.c.kind.as_str(), "outcome" => outcome.as_str())
                    .increment(1);
                    let error = j.state.error().map(str::to_owned);
                    stage.record(j, outcome.step(), error.as_deref());
                    log_outcome(j, outcome);
                }
                Ok(false) => {
                    // Our lease ran out and another worker owns the event now: its result
                    // stands, ours is dropped (nothing was written here).
                    stage.record(j, Step::LostLease, Some("lease expired; result discarded"));
                    tracing::warn!(event_id = %j.c.event_id, "lease lost before finishing; result discarded");
                }
                Err(e) => {
                    // The lease will expire and the event will be processed again.
                    let e = format!("store: {e}");
                    stage.record(j, Step::Failed, Some(&e));
                    tracing::error!(event_id = %j.c.event_id, error = %e, "could not finish event");
                }
            }
        }
        if queued {
            self.inner.outbox_wake.notify_one();
        }
    }

    /// Moves one event to its next state in the store, with one fenced statement. False
    /// when the lease is no longer ours.
    async fn settle(&self, j: &Job) -> Result<bool, StoreError> {
        let store = &self.inner.store;
        let now = now_ms();
        let run_at = |delay: &std::time::Duration| now + delay.as_millis() as i64;
        match &j.state {
            State::Running => {
                store
                    .finish(&j.c, Final::Done, None, &j.messages, now)
                    .await
            }
            State::Retry { error, delay } => {
                store
                    .reschedule(&j.c, Retry::Attempted, run_at(delay), error, now)
                    .await
            }
            State::Postpone { error, delay } => {
                store
                    .reschedule(&j.c, Retry::Postponed, run_at(delay), error, now)
                    .await
            }
            State::Dead(error) => {
                let msg = messages::failed(&j.c, error);
                store
                    .finish(&j.c, Final::Dead, Some(error), &[msg], now)
                    .await
            }
        }
    }

    /// Writes the history rows recorded since the last call.
    pub(in crate::pipeline) async fn write_history(&self, jobs: &mut [Job]) {
        // A postponement (Gong cannot be asked: breaker open, budget spent) is not an
        // attempt and leaves no history: during a long outage every waiting event comes
        // back every few seconds, and the event's own row says why it waits.
        let rows: Vec<HistoryRow> = jobs
            .iter_mut()
            .flat_map(|j| {
                let rows = std::mem::take(&mut j.history);
                let keep = !matches!(j.state, State::Postpone { .. });
                rows.into_iter().filter(move |_| keep)
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if let Err(WriteFailure { error: e, .. }) = self.write(&warehouse::HISTORY, &rows).await {
            // History is diagnostics: losing one attempt's rows must not redo the work.
            tracing::warn!(error = %e, rows = rows.len(), "processing history not written");
        }
    }
}
