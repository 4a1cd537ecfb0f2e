//! Validation and transform: Gong's data (and our email/meeting bodies) into warehouse rows
//! and into the neutral [`Subject`] the insight rules read.
//!
//! Nothing here fails: a missing or invalid field lowers the row's `data_quality_score` and
//! is counted in `validation_failures_total`, and the row is written with what there is
//! (architecture §5: continue with partial data).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::insights::{
    ActionItemSignal, Deal, Occurrence, Subject, SubjectKind, TextBlock, TrackerSignal, Utterance,
};
use crate::telemetry;
use crate::warehouse::tables::{CallRow, EmailRow, Enhanced, MeetingRow};
use gong_api::models::{CallData, CallTranscript, Content, CrmContext, Interaction, Party};

use super::payload::{Address, EmailData, MeetingData};
use super::users::Directory;

/// Which expected fields were present and valid.
#[derive(Debug, Default)]
pub struct Quality {
    checked: u32,
    passed: u32,
    /// Fields present but invalid (counted as validation failures).
    pub invalid: Vec<&'static str>,
    /// Fields absent.
    pub missing: Vec<&'static str>,
}

impl Quality {
    fn check(&mut self, field: &'static str, state: Check) {
        self.checked += 1;
        match state {
            Check::Valid => self.passed += 1,
            Check::Missing => self.missing.push(field),
            Check::Invalid => self.invalid.push(field),
        }
    }

    /// In [0, 1].
    pub fn score(&self) -> f64 {
        if self.checked == 0 {
            return 0.0;
        }
        f64::from(self.passed) / f64::from(self.checked)
    }

    /// Counts the invalid fields in `validation_failures_total{kind, field}`.
    pub fn record(&self, kind: &'static str) {
        for field in &self.invalid {
            metrics::counter!(telemetry::VALIDATION_FAILURES_TOTAL, "kind" => kind, "field" => *field)
                .increment(1);
        }
        metrics::gauge!(telemetry::DATA_QUALITY_SCORE, "kind" => kind).set(self.score());
    }
}

enum Check {
    Valid,
    Missing,
    Invalid,
}

fn present<T>(v: Option<T>, valid: impl FnOnce(&T) -> bool) -> Check {
    match v {
        None => Check::Missing,
        Some(x) if valid(&x) => Check::Valid,
        Some(_) => Check::Invalid,
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn plausible_email(s: &str) -> bool {
    let s = s.trim();
    matches!(s.split_once('@'), Some((user, host)) if !user.is_empty() && host.contains('.') && !s.contains(' '))
}

fn utc(t: Option<&chrono::DateTime<chrono::FixedOffset>>) -> Option<DateTime<Utc>> {
    t.map(|t| t.with_timezone(&Utc))
}

/// Reads an ISO-8601 time from our own bodies; `Err` when present but unreadable.
fn parse_time(s: &Option<String>) -> Result<Option<DateTime<Utc>>, ()> {
    match non_empty(s) {
        None => Ok(None),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ()),
    }
}

fn secs_to_ms(s: Option<f64>) -> Option<i64> {
    s.filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as i64)
}

// ---- calls ------------------------------------------------------------------------------

/// The call's columns (everything but the shared enhanced tail).
#[derive(Debug)]
pub struct CallParts {
    pub row: CallRow,
    pub quality: Quality,
    pub subject: Subject,
}

/// Validates and transforms a call. `transcript` is `None` when Gong has none (yet).
pub fn call(source_id: &str, data: &CallData, transcript: Option<&CallTranscript>) -> CallParts {
    let m = &data.meta_data;
    let (no_content, no_interaction) = (Content::default(), Interaction::default());
    let content = data.content.as_ref().unwrap_or(&no_content);
    let interaction = data.interaction.as_ref().unwrap_or(&no_interaction);
    let mut q = Quality::default();

    q.check("id", present(data.id(), |id| *id == source_id));
    q.check("title", present(non_empty(&m.title), |_| true));
    q.check("started", present(m.started.as_ref(), |_| true));
    q.check(
        "duration",
        present(m.duration, |d| {
            d.is_finite() && *d >= 0.0 && *d < 86_400.0 * 2.0
        }),
    );
    q.check(
        "url",
        present(non_empty(&m.url), |u| {
            u.starts_with("https://") || u.starts_with("http://")
        }),
    );
    q.check(
        "direction",
        present(non_empty(&m.direction), |d| {
            ["Inbound", "Outbound", "Conference", "Unknown"].contains(d)
        }),
    );
    q.check(
        "primary_user_id",
        present(m.primary_user_id.as_ref(), |_| true),
    );
    q.check(
        "parties",
        present((!data.parties.is_empty()).then_some(&data.parties), |ps| {
            ps.iter()
                .all(|p| p.email_address.as_deref().is_none_or(plausible_email))
        }),
    );
    q.check(
        "content",
        present(data.content.as_ref(), |c| {
            !c.trackers.is_empty() || c.brief.is_some() || !c.topics.is_empty()
        }),
    );
    q.check("interaction", present(data.interaction.as_ref(), |_| true));
    q.check(
        "transcript",
        present(transcript, |t| !t.transcript.is_empty()),
    );

    let speakers = speaker_index(&data.parties);
    let talk: HashMap<&str, f64> = interaction
        .speakers
        .iter()
        .filter_map(|s| Some((s.id.as_ref()?.as_str(), s.talk_time?)))
        .collect();
    let participants: Vec<Value> = data
        .parties
        .iter()
        .map(|p| {
            json!({
                "id": p.id, "name": p.name, "email": p.email_address, "title": p.title,
                "affiliation": p.affiliation, "user_id": p.user_id, "speaker_id": p.speaker_id,
                "talk_time_seconds": p.speaker_id.as_ref().and_then(|s| talk.get(s.as_str())),
            })
        })
        .collect();

    let stats: serde_json::Map<String, Value> = interaction
        .interaction_stats
        .iter()
        .filter_map(|s| Some((s.name.clone()?, json!(s.value))))
        .collect();
    let talk_ratio = interaction
        .interaction_stats
        .iter()
        .find(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("Talk Ratio"))
        })
        .and_then(|s| s.value)
        .or_else(|| internal_talk_ratio(&data.parties, &talk));

    let transcript_json: Value = transcript
        .map(|t| {
            t.transcript
                .iter()
                .map(|mono| {
                    let who = mono
                        .speaker_id
                        .as_ref()
                        .and_then(|s| speakers.get(s.as_str()));
                    json!({
                        "speaker_id": mono.speaker_id,
                        "speaker_name": who.and_then(|p| p.name.clone()),
                        "topic": mono.topic,
                        "sentences": mono.sentences,
                    })
                })
                .collect()
        })
        .unwrap_or(Value::Null);

    let action_items = content
        .points_of_interest
        .as_ref()
        .map(|p| p.action_items.clone())
        .unwrap_or_default();

    let columns = CallRow {
        enhanced: Enhanced::default(),
        call_id: source_id.to_owned(),
        title: m.title.clone(),
        url: m.url.clone(),
        started: utc(m.started.as_ref()),
        scheduled: utc(m.scheduled.as_ref()),
        duration_seconds: m.duration,
        direction: m.direction.clone(),
        system: m.system.clone(),
        scope: m.scope.clone(),
        media: m.media.clone(),
        language: m.language.clone(),
        workspace_id: m.workspace_id.as_ref().map(ToString::to_string),
        primary_user_id: m.primary_user_id.as_ref().map(ToString::to_string),
        is_private: m.is_private,
        participants: Value::Array(participants),
        trackers: json!(content.trackers),
        topics: json!(content.topics),
        action_items: json!(action_items),
        brief: content.brief.clone(),
        key_points: json!(
            content
                .key_points
                .iter()
                .filter_map(|k| k.text.clone())
                .collect::<Vec<_>>()
        ),
        interaction_stats: Value::Object(stats),
        talk_ratio,
        transcript: transcript_json,
        call_outcome: content.call_outcome.as_ref().and_then(|o| o.name.clone()),
    };

    let subject = call_subject(data, transcript, &speakers);
    CallParts {
        row: columns,
        quality: q,
        subject,
    }
}

fn speaker_index(parties: &[Party]) -> HashMap<&str, &Party> {
    parties
        .iter()
        .filter_map(|p| Some((p.speaker_id.as_ref()?.as_str(), p)))
        .collect()
}

/// Share of talk time of the company's own people, when Gong did not state it.
fn internal_talk_ratio(parties: &[Party], talk: &HashMap<&str, f64>) -> Option<f64> {
    let total: f64 = talk.values().sum();
    if total <= 0.0 {
        return None;
    }
    let internal: f64 = parties
        .iter()
        .filter(|p| is_internal(p.affiliation.as_deref()))
        .filter_map(|p| talk.get(p.speaker_id.as_ref()?.as_str()))
        .sum();
    Some(internal / total)
}

fn is_internal(affiliation: Option<&str>) -> bool {
    affiliation.is_some_and(|a| a.eq_ignore_ascii_case("internal"))
}

/// What the insight rules read from a call.
pub fn call_subject(
    data: &CallData,
    transcript: Option<&CallTranscript>,
    speakers: &HashMap<&str, &Party>,
) -> Subject {
    let no_content = Content::default();
    let content = data.content.as_ref().unwrap_or(&no_content);
    let utterances = transcript
        .map(|t| {
            t.transcript
                .iter()
                .flat_map(|mono| {
                    let party = mono
                        .speaker_id
                        .as_ref()
                        .and_then(|s| speakers.get(s.as_str()));
                    mono.sentences.iter().map(move |s| Utterance {
                        text: s.text.clone(),
                        start_ms: s.start.map(|v| v.round() as i64),
                        speaker_id: mono.speaker_id.as_ref().map(ToString::to_string),
                        speaker_name: party.and_then(|p| p.name.clone()),
                        external: !party.is_some_and(|p| is_internal(p.affiliation.as_deref())),
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    let mut texts = Vec::new();
    if let Some(title) = non_empty(&data.meta_data.title) {
        texts.push(TextBlock {
            source: "title",
            text: title.to_owned(),
            external: false,
        });
    }
    if let Some(brief) = non_empty(&content.brief) {
        texts.push(TextBlock {
            source: "brief",
            text: brief.to_owned(),
            external: false,
        });
    }
    for k in &content.key_points {
        if let Some(t) = non_empty(&k.text) {
            texts.push(TextBlock {
                source: "key_point",
                text: t.to_owned(),
                external: false,
            });
        }
    }

    let trackers = content
        .trackers
        .iter()
        .filter_map(|t| {
            let count = t.count.unwrap_or(t.occurrences.len() as f64).max(0.0) as u32;
            Some(TrackerSignal {
                name: t.name.clone()?,
                count,
                occurrences: t
                    .occurrences
                    .iter()
                    .map(|o| Occurrence {
                        start_ms: secs_to_ms(o.start_time),
                        speaker_id: o.speaker_id.as_ref().map(ToString::to_string),
                    })
                    .collect(),
                phrases: t.phrases.iter().filter_map(|p| p.phrase.clone()).collect(),
            })
        })
        .filter(|t| t.count > 0)
        .collect();

    let action_items = content
        .points_of_interest
        .iter()
        .flat_map(|p| p.action_items.iter())
        .filter_map(|a| {
            Some(ActionItemSignal {
                text: non_empty(&a.snippet)?.to_owned(),
                start_ms: secs_to_ms(a.snippet_start_time),
                speaker_id: a.speaker_id.as_ref().map(ToString::to_string),
            })
        })
        .collect();

    let questions = data
        .interaction
        .as_ref()
        .and_then(|i| i.questions.as_ref())
        .and_then(|q| q.non_company_count)
        .map(|n| n.max(0.0) as u32);

    Subject {
        kind: SubjectKind::Call,
        duration_seconds: data.meta_data.duration,
        utterances,
        texts,
        trackers,
        action_items,
        deals: deals(&data.context),
        question_count: questions,
    }
}

/// Opportunities in a CRM context (Salesforce's field names, as Gong passes them on).
pub fn deals(context: &[CrmContext]) -> Vec<Deal> {
    context
        .iter()
        .flat_map(|c| c.objects.iter())
        .filter(|o| {
            o.object_type.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case("opportunity") || t.eq_ignore_ascii_case("deal")
            })
        })
        .map(|o| Deal {
            name: o.field("Name").and_then(|v| v.as_text()),
            amount: o.field("Amount").and_then(|v| v.as_f64()),
            stage: o
                .field("StageName")
                .or_else(|| o.field("Stage"))
                .and_then(|v| v.as_text()),
            kind: o.field("Type").and_then(|v| v.as_text()),
            close_date: o.field("CloseDate").and_then(|v| v.as_text()),
        })
        .collect()
}

// ---- emails and meetings ------------------------------------------------------------------

/// An email or meeting party, matched against the company's Gong users.
fn party(role: &str, a: &Address, users: Option<&Directory>) -> Value {
    let email = a.email.as_deref().map(|e| e.trim().to_lowercase());
    let user = email.as_deref().and_then(|e| users.and_then(|u| u.get(e)));
    let affiliation = match (user, a.affiliation.as_deref(), users) {
        (Some(_), _, _) => "Internal",
        (None, Some(a), _) if is_internal(Some(a)) => "Internal",
        (None, Some(a), _) if a.eq_ignore_ascii_case("external") => "External",
        // Gong knows every user of the company: someone it does not know is external.
        (None, _, Some(_)) => "External",
        (None, _, None) => "Unknown",
    };
    json!({
        "role": role, "email": a.email, "name": a.name.clone().or_else(|| user.and_then(|u| u.name.clone())),
        "affiliation": affiliation, "user_id": user.map(|u| &u.user_id),
        "title": user.and_then(|u| u.title.clone()),
    })
}

#[derive(Debug)]
pub struct EmailParts {
    pub row: EmailRow,
    pub quality: Quality,
    pub subject: Subject,
}

pub fn email(e: &EmailData, users: Option<&Directory>) -> EmailParts {
    let mut q = Quality::default();
    let sent_at = parse_time(&e.sent_at);
    q.check("subject", present(non_empty(&e.subject), |_| true));
    q.check(
        "from",
        present(e.from.as_ref().and_then(|f| f.email.as_deref()), |a| {
            plausible_email(a)
        }),
    );
    q.check(
        "to",
        present((!e.to.is_empty()).then_some(&e.to), |to| {
            to.iter()
                .all(|a| a.email.as_deref().is_some_and(plausible_email))
        }),
    );
    q.check(
        "sent_at",
        match sent_at {
            Ok(Some(_)) => Check::Valid,
            Ok(None) => Check::Missing,
            Err(()) => Check::Invalid,
        },
    );
    q.check(
        "direction",
        present(non_empty(&e.direction), |d| {
            d.eq_ignore_ascii_case("inbound") || d.eq_ignore_ascii_case("outbound")
        }),
    );
    let body = non_empty(&e.body)
        .or(non_empty(&e.snippet))
        .map(str::to_owned);
    q.check("body", present(body.as_ref(), |_| true));

    let mut participants = Vec::new();
    if let Some(f) = &e.from {
        participants.push(party("from", f, users));
    }
    participants.extend(e.to.iter().map(|a| party("to", a, users)));
    participants.extend(e.cc.iter().map(|a| party("cc", a, users)));

    // Inbound mail is the customer's voice; outbound is ours. Without a direction, the
    // sender's affiliation decides.
    let external = match e.direction.as_deref() {
        Some(d) if d.eq_ignore_ascii_case("inbound") => true,
        Some(d) if d.eq_ignore_ascii_case("outbound") => false,
        _ => participants
            .first()
            .is_some_and(|p| p["affiliation"] != "Internal"),
    };
    let mut texts = Vec::new();
    if let Some(s) = non_empty(&e.subject) {
        texts.push(TextBlock {
            source: "email_subject",
            text: s.to_owned(),
            external,
        });
    }
    if let Some(b) = &body {
        texts.push(TextBlock {
            source: "email_body",
            text: b.clone(),
            external,
        });
    }
    let context = e.placement.crm_context.as_deref().unwrap_or_default();
    let subject = Subject {
        kind: SubjectKind::Email,
        texts,
        deals: deals(context),
        ..Subject::default()
    };
    let columns = EmailRow {
        enhanced: Enhanced::default(),
        email_id: e.id.to_string(),
        thread_id: e.thread_id.clone(),
        subject: e.subject.clone(),
        from_address: json!(e.from),
        recipients: json!({"to": e.to, "cc": e.cc}),
        sent_at: sent_at.ok().flatten(),
        direction: e.direction.clone(),
        word_count: body
            .as_deref()
            .map_or(0, |b| b.split_whitespace().count() as i64),
        body,
        workspace_id: e.placement.workspace_id.clone(),
        participants: Value::Array(participants),
    };
    EmailParts {
        row: columns,
        quality: q,
        subject,
    }
}

#[derive(Debug)]
pub struct MeetingParts {
    pub row: MeetingRow,
    pub quality: Quality,
    pub subject: Subject,
}

/// A meeting, with its recorded call when Gong has it.
pub fn meeting(
    m: &MeetingData,
    users: Option<&Directory>,
    recorded: Option<(&CallData, Option<&CallTranscript>)>,
) -> MeetingParts {
    let mut q = Quality::default();
    let start = parse_time(&m.start);
    let end = parse_time(&m.end);
    q.check("title", present(non_empty(&m.title), |_| true));
    let times = match (&start, &end) {
        (Ok(Some(s)), Ok(Some(e))) if e >= s => Check::Valid,
        (Ok(None), _) | (_, Ok(None)) => Check::Missing,
        _ => Check::Invalid,
    };
    q.check("start_end", times);
    q.check(
        "organizer",
        present(m.organizer.as_ref().and_then(|o| o.email.as_deref()), |a| {
            plausible_email(a)
        }),
    );
    q.check(
        "invitees",
        present((!m.invitees.is_empty()).then_some(&m.invitees), |i| {
            i.iter()
                .all(|a| a.email.as_deref().is_some_and(plausible_email))
        }),
    );
    if m.call_id.is_some() {
        q.check("recorded_call", present(recorded, |_| true));
    }

    let mut participants = Vec::new();
    if let Some(o) = &m.organizer {
        participants.push(party("organizer", o, users));
    }
    participants.extend(m.invitees.iter().map(|a| party("invitee", a, users)));

    let context = m.placement.crm_context.as_deref().unwrap_or_default();
    let (mut subject, recorded_call) = match recorded {
        Some((data, transcript)) => {
            let speakers = speaker_index(&data.parties);
            let subject = call_subject(data, transcript, &speakers);
            let no_content = Content::default();
            let content = data.content.as_ref().unwrap_or(&no_content);
            let summary = json!({
                "call_id": data.id(), "title": data.meta_data.title, "url": data.meta_data.url,
                "duration_seconds": data.meta_data.duration, "brief": content.brief,
                "key_points": content.key_points.iter().filter_map(|k| k.text.clone()).collect::<Vec<_>>(),
                "has_transcript": transcript.is_some_and(|t| !t.transcript.is_empty()),
            });
            (subject, summary)
        }
        None => (Subject::default(), Value::Null),
    };
    subject.kind = SubjectKind::Meeting;
    if let Some(t) = non_empty(&m.title) {
        subject.texts.push(TextBlock {
            source: "title",
            text: t.to_owned(),
            external: false,
        });
    }
    subject.deals.extend(deals(context));

    let columns = MeetingRow {
        enhanced: Enhanced::default(),
        meeting_id: m.id.to_string(),
        title: m.title.clone(),
        start_time: start.ok().flatten(),
        end_time: end.ok().flatten(),
        organizer: json!(m.organizer),
        invitees: json!(m.invitees),
        meeting_url: m.meeting_url.clone(),
        call_id: m.call_id.clone(),
        workspace_id: m.placement.workspace_id.clone(),
        participants: Value::Array(participants),
        recorded_call,
    };
    MeetingParts {
        row: columns,
        quality: q,
        subject,
    }
}

/// The CRM context of each kind, as stored.
pub fn crm_json(context: &[CrmContext]) -> Value {
    json!(context)
}
