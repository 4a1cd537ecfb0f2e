//! Stage 5: upsert the enhanced rows, one statement per table for the whole batch.

use super::super::Pipeline;
use super::super::job::{Job, Stage, StageName, Step, TableRow};
use super::super::outage::WriteFailure;
use crate::warehouse;

impl Pipeline {
    /// Upserts the rows, one statement per table for the whole batch.
    pub(in crate::pipeline) async fn store_enhanced(&self, jobs: &mut [Job]) {
        let stage = Stage::start(StageName::StoreEnhanced);
        let mut calls = Vec::new();
        let mut emails = Vec::new();
        let mut meetings = Vec::new();
        for (i, j) in jobs.iter().enumerate() {
            match &j.row {
                Some(TableRow::Call(r)) => calls.push((i, r.as_ref())),
                Some(TableRow::Email(r)) => emails.push((i, r.as_ref())),
                Some(TableRow::Meeting(r)) => meetings.push((i, r.as_ref())),
                None => {}
            }
        }
        let mut results: Vec<(Vec<usize>, Result<(), WriteFailure>)> = Vec::new();
        results.extend(self.write_rows(&warehouse::CALLS, &calls).await);
        results.extend(self.write_rows(&warehouse::EMAILS, &emails).await);
        results.extend(self.write_rows(&warehouse::MEETINGS, &meetings).await);
        for (idx, result) in results {
            for i in idx {
                let j = &mut jobs[i];
                match &result {
                    Ok(()) => stage.record(j, Step::Ok, None),
                    Err(e) => {
                        j.partial = false;
                        self.write_failed(&stage, j, e);
                    }
                }
            }
        }
    }
}
