//! Stages 3 and 4: validate and transform each event into its warehouse row (per kind,
//! with `mapping`), then derive its insights, priority and next steps.

use std::collections::HashMap;

use chrono::Utc;

use super::super::job::{Job, Stage, StageName, Step, TableRow};
use super::super::mapping;
use super::super::payload::Item;
use super::super::users::Directory;
use super::super::{Pipeline, messages};
use super::enhance::Lookups;
use crate::insights::{self, Analysis};

impl Pipeline {
    /// Validates and transforms each event into its row, then derives its insights.
    pub(in crate::pipeline) fn transform(&self, jobs: &mut [Job], lookups: Lookups) {
        let stage = Stage::start(StageName::Transform);
        let users: Option<Directory> = lookups.users.and_then(Result::ok);
        let mut analyses = Vec::new();
        for j in jobs.iter_mut() {
            // Partial rows (lag) are written too: the warehouse has the call now, and the
            // next attempt completes it.
            if !(j.running() || j.partial) {
                continue;
            }
            let Some(item) = j.item.take() else { continue };
            let found = item
                .call_id(&j.c.source_id)
                .and_then(|id| lookups.calls.get(&id))
                .and_then(|r| r.as_ref().ok());
            let (row, quality, subject, about) = match &item {
                Item::Call(webhook) => {
                    // Gong's current data when it returned the call, else the webhook's.
                    let data = found.and_then(|f| f.call.as_ref()).unwrap_or(webhook);
                    let transcript = found.and_then(|f| f.transcript.as_ref());
                    let parts = mapping::call(&j.c.source_id, data, transcript);
                    let about = messages::About {
                        title: None,
                        summary: call_summary(data),
                        occurred_at: data.meta_data.started.map(|t| t.with_timezone(&Utc)),
                    };
                    let mut row = parts.row;
                    row.enhanced.crm_context = mapping::crm_json(&data.context);
                    (
                        TableRow::Call(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
                Item::Email(e) => {
                    let parts = mapping::email(e, users.as_ref());
                    let mut row = parts.row;
                    row.enhanced.crm_context =
                        mapping::crm_json(e.placement.crm_context.as_deref().unwrap_or_default());
                    let about = messages::About {
                        title: None,
                        summary: format!(
                            "{} email{}",
                            e.direction.as_deref().unwrap_or("An"),
                            e.from
                                .as_ref()
                                .and_then(|f| f.email.as_deref())
                                .map(|f| format!(" from {f}"))
                                .unwrap_or_default()
                        ),
                        occurred_at: row.sent_at,
                    };
                    (
                        TableRow::Email(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
                Item::Meeting(m) => {
                    let recorded = found
                        .and_then(|f| f.call.as_ref())
                        .map(|c| (c, found.and_then(|f| f.transcript.as_ref())));
                    let parts = mapping::meeting(m, users.as_ref(), recorded);
                    let mut row = parts.row;
                    row.enhanced.crm_context =
                        mapping::crm_json(m.placement.crm_context.as_deref().unwrap_or_default());
                    let about = messages::About {
                        title: None,
                        summary: format!(
                            "Meeting with {} invitee(s){}",
                            m.invitees.len(),
                            if recorded.is_some() { ", recorded" } else { "" }
                        ),
                        occurred_at: row.start_time,
                    };
                    (
                        TableRow::Meeting(Box::new(row)),
                        parts.quality,
                        parts.subject,
                        about,
                    )
                }
            };
            quality.record(j.c.kind.as_str());
            let mut problems: Vec<String> = quality
                .invalid
                .iter()
                .map(|f| format!("invalid {f}"))
                .collect();
            problems.extend(quality.missing.iter().map(|f| format!("missing {f}")));
            let status = if quality.invalid.is_empty() {
                Step::Ok
            } else {
                Step::Partial
            };
            stage.record(
                j,
                status,
                (!problems.is_empty())
                    .then(|| problems.join(", "))
                    .as_deref(),
            );
            j.quality = quality.score();
            j.row = Some(row);
            analyses.push((j.c.event_id.clone(), subject, about));
        }
        let stage = Stage::start(StageName::Insights);
        let mut by_event: HashMap<String, (Analysis, messages::About<'static>)> = analyses
            .into_iter()
            .map(|(id, subject, about)| {
                let a = insights::analyze(&self.inner.rules, &subject);
                (id, (a, about))
            })
            .collect();
        for j in jobs.iter_mut() {
            if let Some((a, about)) = by_event.remove(&j.c.event_id) {
                stage.record(j, Step::Ok, None);
                j.fill(a, about);
            }
        }
    }
}

fn call_summary(data: &gong_api::models::CallData) -> String {
    let m = &data.meta_data;
    let minutes = m.duration.map(|d| (d / 60.0).round() as i64);
    let mut s = match (minutes, m.title.as_deref()) {
        (Some(min), Some(t)) => format!("{t} ({min} min)"),
        (None, Some(t)) => t.to_owned(),
        (Some(min), None) => format!("A {min}-minute call"),
        (None, None) => "A call".to_owned(),
    };
    if let Some(brief) = data.content.as_ref().and_then(|c| c.brief.as_deref()) {
        let first = brief.split_inclusive(". ").next().unwrap_or(brief).trim();
        s.push_str(": ");
        s.push_str(first);
    }
    s
}
