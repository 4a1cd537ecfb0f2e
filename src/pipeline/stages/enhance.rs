//! Stage 2: ask Gong for what each event needs (one batched look-up for every call id,
//! the user directory for emails and meetings), and decide per event what Gong's answer
//! means: postpone (Gong cannot be asked now), retry, dead-letter, or go on with partial
//! data (processing lag).

use std::collections::HashMap;

use super::super::Pipeline;
use super::super::batcher::{CallLookup, LookupFailure, LookupResult};
use super::super::job::{Job, Stage, StageName, State, Step};
use super::super::payload::Item;
use super::super::users::Directory;

/// What Gong returned for a batch.
#[derive(Default)]
pub(in crate::pipeline) struct Lookups {
    pub calls: HashMap<String, LookupResult>,
    pub users: Option<Result<Directory, LookupFailure>>,
}

impl Pipeline {
    /// Asks Gong for what each event needs: one batched look-up for every call id, and the
    /// user directory for emails and meetings.
    pub(in crate::pipeline) async fn enhance(&self, jobs: &mut [Job]) -> Lookups {
        let stage = Stage::start(StageName::Enhance);
        let mut out = Lookups::default();
        let Some(gong) = &self.inner.gong else {
            for j in jobs.iter_mut().filter(|j| j.running()) {
                j.note = Some("Gong API not configured (GONG_API_KEY)".into());
                stage.record(j, Step::Skipped, j.note.clone().as_deref());
            }
            return out;
        };
        let ids: Vec<String> = jobs
            .iter()
            .filter(|j| j.running())
            .filter_map(|j| j.item.as_ref()?.call_id(&j.c.source_id))
            .collect();
        if let Some(b) = &self.inner.batcher {
            out.calls = b.lookup(ids).await;
        }
        let wants_users = jobs
            .iter()
            .any(|j| j.running() && matches!(j.item, Some(Item::Email(_) | Item::Meeting(_))));
        if wants_users {
            out.users = Some(
                self.inner
                    .users
                    .get(&gong.client)
                    .await
                    .map_err(|e| (&e).into()),
            );
        }
        let s = &self.inner.settings;
        for j in jobs.iter_mut().filter(|j| j.running()) {
            let call = j
                .item
                .as_ref()
                .and_then(|i| i.call_id(&j.c.source_id))
                .and_then(|id| out.calls.get(&id));
            let users = matches!(j.item, Some(Item::Email(_) | Item::Meeting(_)))
                .then_some(out.users.as_ref())
                .flatten();
            let failure = call
                .and_then(|r| r.as_ref().err())
                .or(users.and_then(|u| u.as_ref().err()));
            if let Some(f) = failure {
                let e = format!("Gong API: {}", f.message);
                let is_call = matches!(j.item, Some(Item::Call(_)));
                if let Some(wait) = f.postpone {
                    // Gong cannot be asked now (breaker, budget, 429s): wait without using
                    // up an attempt. The floor keeps a half-open breaker's short answer
                    // from spinning events through the queue.
                    stage.record(j, Step::Retry, Some(&e));
                    j.state = State::Postpone {
                        error: e,
                        delay: wait.max(s.retry_base),
                    };
                } else if f.retryable && !j.last_attempt(s) {
                    stage.record(j, Step::Retry, Some(&e));
                    j.retry(s, e, None);
                } else if is_call {
                    // A call's value is Gong's data: without it, the dead-letter queue
                    // (and `dlq retry` once Gong is back) rather than a hollow row.
                    stage.record(j, Step::Failed, Some(&e));
                    j.state = State::Dead(e);
                } else {
                    // Emails and meetings carry their content: Gong only adds to it.
                    let note = format!("{e}; continuing with the webhook's data");
                    stage.record(j, Step::Partial, Some(&note));
                    j.note = Some(note);
                }
                continue;
            }
            let lag = match call {
                Some(Ok(CallLookup { call: None, .. })) => {
                    Some("Gong does not return the call yet")
                }
                Some(Ok(CallLookup {
                    transcript: None, ..
                })) => Some("the transcript is not ready yet"),
                _ => None,
            };
            match lag {
                None => stage.record(j, Step::Ok, None),
                Some(why) if !j.last_attempt(s) => {
                    // Store what there is now, and come back for the rest.
                    let e = format!(
                        "{why} (processing lag); attempt {} of {}",
                        j.c.attempts, s.max_attempts
                    );
                    stage.record(j, Step::Partial, Some(&e));
                    j.partial = true;
                    j.note = Some(format!("{why} (processing lag)"));
                    j.retry(s, e, None);
                }
                Some(why) => {
                    let e = format!(
                        "{why} after {} attempts: continuing with partial data",
                        j.c.attempts
                    );
                    stage.record(j, Step::Partial, Some(&e));
                    j.note = Some(e);
                }
            }
        }
        out
    }
}
