//! The worker loop: each worker claims a batch, processes it, and sleeps until woken (a
//! commit) or until its idle poll comes round; a batch's leases are renewed while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Pipeline;
use crate::store::{Claimed, StoreError};

impl Pipeline {
    /// Renews the batch's leases every third of a lease while it is being processed, so a
    /// batch slowed by Gong's rate limit is not taken over and done twice. Renewal stops
    /// after `MAX_HOLD`: a batch stuck that long (a bug) lets its events go to another
    /// worker rather than hold them forever.
    pub(super) fn keep_leases(&self, claimed: &[Claimed]) -> JoinHandle<()> {
        const MAX_HOLD: Duration = Duration::from_secs(3600);
        let store = self.inner.store.clone();
        let lease = self.inner.settings.lease;
        let ids: Vec<String> = claimed.iter().map(|c| c.lease_id.clone()).collect();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let every = lease / 3;
            let mut tick = tokio::time::interval_at(started + every, every);
            while started.elapsed() < MAX_HOLD {
                tick.tick().await;
                // From now on the store's clock, not this process's (see store::queue).
                if let Err(e) = store.extend_leases(&ids, lease.as_millis() as i64).await {
                    tracing::warn!(error = %e, "could not renew leases");
                }
            }
        })
    }

    /// Starts `settings.workers` workers; each stops after its current batch once `stop`
    /// turns true.
    pub fn spawn_workers(&self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let store = Arc::new(StoreSeen::default());
        (0..self.inner.settings.workers)
            .map(|n| {
                let p = self.clone();
                let store = store.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    while !*stop.borrow() {
                        let idle = match p.run_once().await {
                            Ok(claimed) => {
                                store.up();
                                claimed == 0
                            }
                            Err(e) => {
                                store.down(n, &e);
                                true
                            }
                        };
                        if idle {
                            tokio::select! {
                                _ = p.inner.wake.notified() => {}
                                _ = tokio::time::sleep(p.inner.settings.idle_poll) => {}
                                _ = stop.changed() => {}
                            }
                        }
                    }
                })
            })
            .collect()
    }
}

/// Whether the workers last found the store reachable, shared by all of them. While the
/// store is down every idle worker fails to claim each poll (every 500 ms by default): one
/// warning when it goes down and one line when it is back say as much as a line per poll,
/// without burying every other log line of an outage.
#[derive(Default)]
struct StoreSeen {
    down: AtomicBool,
}

impl StoreSeen {
    fn down(&self, worker: usize, e: &StoreError) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                worker, error = %e,
                "claiming events failed: the store is unreachable; workers keep trying and log again when it is back"
            );
        }
    }

    fn up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::warn!("the store is reachable again: workers claim events");
        }
    }
}
