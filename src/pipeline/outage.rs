//! The outage policy for the warehouse. Every stage ends in a warehouse write; a write
//! that fails because the warehouse is down (and a ping agrees) opens the breaker and
//! postpones the batch without using attempts, for as long as the outage has lasted so far.
//! Any other failure is the batch's own and uses an attempt, so a row the warehouse refuses
//! still reaches the dead-letter queue.

use std::time::Duration;

use rand::Rng;

use super::Pipeline;
use super::job::{Job, Stage, State, Step};
use crate::warehouse::{self, Rows, WarehouseError};

/// A failed warehouse write, and whether the warehouse itself is down.
pub(super) struct WriteFailure {
    pub error: WarehouseError,
    pub outage: bool,
}

impl Pipeline {
    /// One warehouse write, told to the breaker. A failure is an outage only when the
    /// error says so *and* the warehouse does not answer a ping either: a statement that
    /// fails (even by breaking its connection) against a warehouse that is up is the
    /// batch's problem, which must use attempts and end in the dead-letter queue rather
    /// than be postponed forever.
    pub(super) async fn write<T: serde::Serialize>(
        &self,
        table: &'static warehouse::Table,
        rows: &[T],
    ) -> Result<(), WriteFailure> {
        // A row that does not fit its table is our bug, never an outage.
        let rows = Rows::of(table, rows).map_err(|error| WriteFailure {
            error,
            outage: false,
        })?;
        let Err(error) = self.inner.warehouse.write(&rows).await else {
            self.warehouse_up();
            return Ok(());
        };
        let outage = error.is_outage() && self.inner.warehouse.ping().await.is_err();
        if outage {
            self.inner.warehouse_breaker.record_failure();
            let mut since = self
                .inner
                .outage_since
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            since.get_or_insert_with(tokio::time::Instant::now);
        } else {
            self.warehouse_up();
        }
        Err(WriteFailure { error, outage })
    }

    pub(super) fn warehouse_up(&self) {
        self.inner.warehouse_breaker.record_success();
        *self
            .inner
            .outage_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// How long an event waits for the warehouse: as long as the outage has lasted so far,
    /// between `RETRY_BACKOFF` and `RETRY_BACKOFF_MAX`, with jitter.
    pub(super) fn outage_delay(&self) -> Duration {
        let s = &self.inner.settings;
        let lasted = self
            .inner
            .outage_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let base = lasted.clamp(s.retry_base, s.retry_max.max(s.retry_base));
        base.mul_f64(rand::rng().random_range(0.75..=1.0))
    }

    /// When the warehouse breaker is open and no batch comes to probe it (an idle
    /// queue), a ping does: without it the breaker and `/health` would stay "open" until
    /// the next event. Run periodically by the app.
    pub async fn probe_warehouse(&self) {
        if self.inner.warehouse_breaker.state() == crate::breaker::BreakerState::Closed
            || self.inner.warehouse_breaker.allow().is_err()
        {
            return;
        }
        match self.inner.warehouse.ping().await {
            Ok(()) => self.warehouse_up(),
            Err(_) => self.inner.warehouse_breaker.record_failure(),
        }
    }

    /// An outage postpones the event (no attempt used: a warehouse down for hours must
    /// not dead-letter what it delays); any other failure is an attempt that failed.
    pub(super) fn write_failed(&self, stage: &Stage, j: &mut Job, f: &WriteFailure) {
        let s = &self.inner.settings;
        let error = format!("warehouse: {}", f.error);
        stage.record(j, Step::Retry, Some(&error));
        if f.outage {
            j.state = State::Postpone {
                error,
                delay: self.outage_delay(),
            };
        } else {
            j.retry(s, error, None);
        }
    }

    /// Writes rows of a batch (each with its job's index), one statement for all of them
    /// when the warehouse takes them. When it refuses the statement for a row's sake (not an
    /// outage), the rows are split in halves and each half written again, down to the rows
    /// it refuses alone (as the Gong batcher does for a call Gong refuses): one bad row then
    /// fails alone and uses its own attempt, while the others are stored in the same pass.
    /// A batch of n rows with one bad row costs about 2·log2(n) statements more.
    ///
    /// Returns the outcome of each group of indices written together.
    pub(super) async fn write_rows<T: serde::Serialize>(
        &self,
        table: &'static warehouse::Table,
        rows: &[(usize, &T)],
    ) -> Vec<(Vec<usize>, Result<(), WriteFailure>)> {
        let mut out = Vec::new();
        // Depth first, first half first: the order of the rows is kept.
        let mut pending: Vec<&[(usize, &T)]> = vec![rows];
        let mut outage: Option<String> = None;
        while let Some(part) = pending.pop() {
            if part.is_empty() {
                continue;
            }
            let idx: Vec<usize> = part.iter().map(|(i, _)| *i).collect();
            if let Some(why) = &outage {
                // The warehouse went down while the batch was being split: the rest waits
                // with it, without a statement each.
                let error = WarehouseError::Unavailable(why.clone());
                out.push((
                    idx,
                    Err(WriteFailure {
                        error,
                        outage: true,
                    }),
                ));
                continue;
            }
            let typed: Vec<&T> = part.iter().map(|(_, r)| *r).collect();
            match self.write(table, &typed).await {
                Err(f) if !f.outage && part.len() > 1 => {
                    // Once per batch: the halves' refusals say the same again.
                    if part.len() == rows.len() {
                        tracing::warn!(
                            table = table.name, rows = part.len(), error = %f.error,
                            "the warehouse refused a batch; writing it in halves to isolate the rows it refuses"
                        );
                    }
                    let (a, b) = part.split_at(part.len() / 2);
                    pending.push(b);
                    pending.push(a);
                }
                result => {
                    if let Err(f) = &result
                        && f.outage
                    {
                        outage = Some(f.error.to_string());
                    }
                    out.push((idx, result));
                }
            }
        }
        out
    }
}
