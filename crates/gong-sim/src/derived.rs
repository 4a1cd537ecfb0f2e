//! What Gong derives from a call's transcript, derived here from the generated one:
//! tracker hits and action items where their phrases are said, talk times and questions
//! per speaker, and a manager's comment on a moment of the call. A client that
//! cross-references the blocks finds them consistent, as in Gong.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as Span, FixedOffset};
use gong_api::models::{
    ActionItem, CallOutcome, Collaboration, Comment, Content, GongId, Highlight, HighlightItem,
    Interaction, NamedDuration, NamedValue, OutlineItem, OutlineSection, Party, PointsOfInterest,
    Questions, Speaker, TextItem, TrackerHit, TrackerOccurrence, TrackerPhrase,
};
use rand::Rng;
use rand::seq::IndexedRandom;

use super::corpus::{Generator, gong_id};
use super::text::*;
use super::wire::at_digits;

/// A sentence and who said it, kept while the transcript is written.
pub struct Said<'a> {
    pub party: &'a Party,
    /// Milliseconds from the call's start.
    pub start: u64,
    pub end: u64,
    pub text: String,
}

fn secs(ms: u64) -> Option<f64> {
    Some(ms as f64 / 1000.0)
}

fn named(name: &str, value: f64) -> NamedValue {
    NamedValue {
        name: Some(name.into()),
        value: Some(value),
    }
}

fn point(text: String) -> TextItem {
    TextItem { text: Some(text) }
}

impl Generator {
    /// Trackers and action items where the transcript says them, topics, brief, key points,
    /// outline and (sometimes) an outcome.
    pub(crate) fn content(
        &mut self,
        said: &[Said],
        duration: u64,
        host_name: &str,
        (cust, _, _): (&str, &str, &str),
        competitor: &str,
        (competes, churn, upsell): (bool, bool, bool),
    ) -> Content {
        let rng = &mut self.rng;
        let mut trackers = Vec::new();
        for (i, (name, phrases)) in TRACKERS.iter().enumerate() {
            let mut by_phrase = Vec::new();
            let mut all = Vec::new();
            for phrase in *phrases {
                let occurrences: Vec<TrackerOccurrence> = said
                    .iter()
                    .filter(|s| s.text.to_lowercase().contains(&phrase.to_lowercase()))
                    .map(|s| TrackerOccurrence {
                        start_time: secs(s.start),
                        speaker_id: s.party.speaker_id.clone(),
                    })
                    .collect();
                if !occurrences.is_empty() {
                    all.extend(occurrences.iter().cloned());
                    by_phrase.push(TrackerPhrase {
                        count: Some(occurrences.len() as f64),
                        occurrences,
                        phrase: Some(phrase.to_string()),
                    });
                }
            }
            if !all.is_empty() {
                trackers.push(TrackerHit {
                    id: Some(GongId(self.tracker_ids[i].clone())),
                    name: Some(name.to_string()),
                    count: Some(all.len() as f64),
                    kind: Some("KEYWORD".into()),
                    occurrences: all,
                    phrases: by_phrase,
                });
            }
        }
        let actions: Vec<ActionItem> = said
            .iter()
            .filter(|s| ACTION_LINES.contains(&s.text.as_str()))
            .map(|s| ActionItem {
                snippet_start_time: secs(s.start),
                snippet_end_time: secs(s.end),
                speaker_id: s.party.speaker_id.clone(),
                snippet: Some(s.text.clone()),
            })
            .collect();
        // Topic durations split the call; some topics are listed with 0 seconds, like Gong.
        let mut left = duration;
        let topics: Vec<NamedDuration> = TOPICS
            .iter()
            .map(|t| {
                let d = if rng.random_bool(0.3) {
                    0
                } else {
                    rng.random_range(0..=left / 3)
                };
                left -= d;
                NamedDuration {
                    name: Some(t.to_string()),
                    duration: Some(d as f64),
                }
            })
            .collect();
        let host_first = host_name.split(' ').next().unwrap_or("");
        let mut brief = format!(
            "{host_first} ({SELLER}) met the {cust} team to review their goals and the next steps."
        );
        let mut key_points = vec![point(format!("{cust} wants better forecasting accuracy."))];
        if competes {
            brief.push_str(&format!(" {cust} is also evaluating {competitor}."));
            key_points.push(point(format!("{cust} evaluates {competitor} in parallel.")));
        }
        if churn {
            brief.push_str(" The customer raised a risk of not renewing.");
            key_points.push(point("Renewal is at risk.".into()));
        }
        if upsell {
            brief.push_str(" They want to expand usage to more seats.");
            key_points.push(point("Expansion opportunity: more seats.".into()));
        }
        let first = said.first().and_then(|s| secs(s.start)).unwrap_or(0.0);
        let outline = vec![OutlineSection {
            section: Some("Introductions".into()),
            start_time: Some(first),
            duration: Some((duration as f64 / 4.0).round()),
            items: vec![OutlineItem {
                text: Some(format!("{host_first} introduced the agenda.")),
                start_time: Some(first),
            }],
        }];
        let highlights = if actions.is_empty() {
            vec![]
        } else {
            let items = actions.iter().map(|a| HighlightItem {
                text: a.snippet.clone(),
                start_times: a.snippet_start_time.into_iter().collect(),
            });
            vec![Highlight {
                title: Some("Next steps".into()),
                items: items.collect(),
            }]
        };
        let outcome = |id: &str, name: &str| CallOutcome {
            id: Some(GongId(id.into())),
            category: Some("Answered".into()),
            name: Some(name.into()),
        };
        let call_outcome = rng.random_bool(0.7).then(|| {
            [
                outcome("MEETING_BOOKED", "Meeting booked"),
                outcome("FOLLOW_UP", "Follow-up scheduled"),
                outcome("NOT_INTERESTED", "Not interested"),
            ]
            .choose(rng)
            .cloned()
            .unwrap_or_default()
        });
        Content {
            trackers,
            topics,
            points_of_interest: (!actions.is_empty()).then_some(PointsOfInterest {
                action_items: actions,
            }),
            brief: Some(brief),
            outline,
            highlights,
            call_outcome,
            key_points,
            structure: vec![],
        }
    }

    /// Now and then a manager's comment on a moment of the call, posted after it.
    pub(crate) fn comments(
        &mut self,
        said: &[Said],
        host: usize,
        started: DateTime<FixedOffset>,
        duration: u64,
    ) -> Collaboration {
        let rng = &mut self.rng;
        if said.is_empty() || !rng.random_bool(0.3) {
            return Collaboration::default();
        }
        let s = &said[rng.random_range(0..said.len())];
        let manager = &self.users[MANAGERS[host % 2]];
        let rep = &self.users[host];
        let posted = started + Span::seconds(duration as i64 + rng.random_range(600..86_400));
        Collaboration {
            public_comments: vec![Comment {
                id: Some(GongId(gong_id(rng))),
                audio_start_time: Some((s.start / 1000) as f64),
                audio_end_time: Some((s.end / 1000) as f64),
                commenter_user_id: Some(GongId(manager.id.clone())),
                comment: Some(format!(
                    "@[{}]({}) nice handling of this moment",
                    rep.name, rep.id
                )),
                posted: Some(at_digits(posted, 3)),
                in_reply_to: None,
                during_call: Some(false),
            }],
        }
    }
}

/// Talk time per speaking party, the interaction stats and the questions each side asked.
pub fn interaction(said: &[Said], parties: &[Party], duration: u64, video: bool) -> Interaction {
    let mut talk: BTreeMap<&str, f64> = BTreeMap::new();
    let (mut ours, mut all, mut q_ours, mut q_theirs) = (0.0, 0.0, 0, 0);
    for s in said {
        let secs = (s.end - s.start) as f64 / 1000.0;
        let party = s.party.id.as_ref().map_or("", GongId::as_str);
        *talk.entry(party).or_default() += secs;
        all += secs;
        let internal = s.party.affiliation.as_deref() == Some("Internal");
        if internal {
            ours += secs;
        }
        if s.text.ends_with('?') {
            if internal { q_ours += 1 } else { q_theirs += 1 }
        }
    }
    let speakers: Vec<Speaker> = parties
        .iter()
        .filter_map(|p| {
            let t = talk.get(p.id.as_ref()?.as_str())?;
            Some(Speaker {
                id: p.id.clone(),
                user_id: p.user_id.clone(),
                talk_time: Some((t * 10.0).round() / 10.0),
            })
        })
        .collect();
    let ratio = if all > 0.0 {
        (ours / all * 100.0).round() / 100.0
    } else {
        0.0
    };
    let minutes = duration as f64 / 60.0;
    let interactivity = ((said.len() as f64 / minutes) * 10.0).round() / 10.0;
    let seconds = |name: &str, f: f64| NamedDuration {
        name: Some(name.into()),
        duration: Some((duration as f64 * f).round()),
    };
    Interaction {
        speakers,
        interaction_stats: vec![
            named("Talk Ratio", ratio),
            named("Longest Monologue", (duration / 12).min(300) as f64),
            named("Longest Customer Story", (duration / 20).min(200) as f64),
            named("Interactivity", interactivity),
            named("Patience", 0.85),
        ],
        video: if video {
            vec![
                seconds("Presentation", 0.3),
                seconds("WebcamPrimaryUser", 0.9),
            ]
        } else {
            vec![]
        },
        questions: Some(Questions {
            company_count: Some(f64::from(q_ours)),
            non_company_count: Some(f64::from(q_theirs)),
        }),
    }
}
