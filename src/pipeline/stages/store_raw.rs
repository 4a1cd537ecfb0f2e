//! Stage 1: parse each body and write the raw rows (idempotent: keyed by event id).

use chrono::DateTime;
use serde_json::Value;

use super::super::Pipeline;
use super::super::job::{Job, Stage, StageName, State, Step};
use super::super::payload::Item;
use crate::store::Claimed;
use crate::warehouse::{self, tables::RawRow};

impl Pipeline {
    /// Parses each body and writes the raw rows (idempotent: keyed by event id).
    pub(in crate::pipeline) async fn store_raw(&self, jobs: &mut [Job]) {
        let stage = Stage::start(StageName::StoreRaw);
        let mut rows = Vec::with_capacity(jobs.len());
        for j in jobs.iter_mut() {
            match Item::parse(j.c.kind, &j.c.payload) {
                Ok(item) => j.item = Some(item),
                Err(e) => j.state = State::Dead(e),
            }
            rows.push(raw_row(&j.c));
        }
        // Written even for bodies that do not parse: the raw table keeps what came in.
        let indexed: Vec<(usize, &RawRow)> = rows.iter().enumerate().collect();
        for (idx, result) in self.write_rows(&warehouse::RAW, &indexed).await {
            for i in idx {
                let j = &mut jobs[i];
                match (&result, &j.state) {
                    (_, State::Dead(e)) => {
                        let e = e.clone();
                        stage.record(j, Step::Failed, Some(&e));
                    }
                    (Ok(()), _) => stage.record(j, Step::Ok, None),
                    (Err(e), _) => self.write_failed(&stage, j, e),
                }
            }
        }
    }
}

fn raw_row(c: &Claimed) -> RawRow {
    // The inbox only takes JSON bodies; should one still not parse, it is kept as text
    // rather than lost.
    let payload = serde_json::from_slice(&c.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&c.payload).into_owned()));
    RawRow {
        event_id: c.event_id.clone(),
        kind: c.kind.as_str().to_owned(),
        source_id: c.source_id.clone(),
        received_at: DateTime::from_timestamp_millis(c.received_at_ms).unwrap_or_default(),
        request_id: c.request_id.clone(),
        auth_method: c.auth_method.clone(),
        key_id: c.key_id.clone(),
        is_test: c.is_test,
        body_sha256: c.body_sha256.clone(),
        payload,
    }
}
