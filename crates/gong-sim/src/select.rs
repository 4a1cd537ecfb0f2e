//! `contentSelector`: Gong returns only the blocks asked for, silently omits what is asked
//! but unavailable, and defaults to metaData alone. Context comes at three levels.

use std::collections::BTreeSet;

use chrono::Utc;
use gong_api::models::{CallData, Content, CrmContext, CrmObject, Interaction, Media, Party};
use rand::Rng;
use serde_json::Value;

use super::corpus::Call;
use super::reply::ApiError;
use super::wire::empty_lists;

/// The lists among the content blocks.
const CONTENT_LISTS: [&str; 6] = [
    "structure",
    "trackers",
    "topics",
    "outline",
    "highlights",
    "keyPoints",
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    None,
    Basic,
    Extended,
}

pub struct Selector {
    context: Level,
    timing: Vec<String>,
    parties: bool,
    content: BTreeSet<String>,
    interaction: BTreeSet<String>,
    comments: bool,
    media: bool,
}

fn true_keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

impl Selector {
    pub fn parse(v: &Value) -> Result<Selector, ApiError> {
        let context = match v["context"].as_str() {
            None | Some("None") => Level::None,
            Some("Basic") => Level::Basic,
            Some("Extended") => Level::Extended,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "contentSelector.context: unknown value '{other}'"
                )));
            }
        };
        let timing = match v["contextTiming"].as_array() {
            Some(a) if !a.is_empty() => a
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => vec!["Now".to_string()],
        };
        let f = &v["exposedFields"];
        Ok(Selector {
            context,
            timing,
            parties: f["parties"].as_bool() == Some(true),
            content: true_keys(&f["content"]),
            interaction: true_keys(&f["interaction"]),
            comments: f["collaboration"]["publicComments"].as_bool() == Some(true),
            media: f["media"].as_bool() == Some(true),
        })
    }

    /// What a webhook carries (assumed maximal, reference §1.2).
    pub fn all() -> Selector {
        let keys = |ks: &[&str]| ks.iter().map(|k| k.to_string()).collect();
        Selector {
            context: Level::Extended,
            timing: vec!["Now".into()],
            parties: true,
            content: keys(&[
                "structure",
                "topics",
                "trackers",
                "trackerOccurrences",
                "pointsOfInterest",
                "brief",
                "outline",
                "highlights",
                "callOutcome",
                "keyPoints",
            ]),
            interaction: keys(&["speakers", "video", "personInteractionStats", "questions"]),
            comments: true,
            media: true,
        }
    }

    /// The call as this selector asks for it, as JSON: the model of `project`, with the
    /// lists that were asked for and have no items written as `[]` (`wire::empty_lists`).
    pub fn answer(&self, call: &Call) -> Value {
        let mut v = serde_json::to_value(self.project(call)).expect("a model serializes");
        let top = [
            ("context", self.context > Level::None),
            ("parties", self.parties),
        ];
        let asked: Vec<&str> = top.iter().filter(|(_, a)| *a).map(|(k, _)| *k).collect();
        empty_lists(&mut v, &asked);
        if let Some(content) = v.get_mut("content") {
            let asked: Vec<&str> = CONTENT_LISTS
                .into_iter()
                .filter(|k| self.content.contains(*k))
                .collect();
            empty_lists(content, &asked);
        }
        if let Some(interaction) = v.get_mut("interaction") {
            let has = |k: &str| self.interaction.contains(k);
            let stats = has("personInteractionStats") || has("interactionStats");
            let lists = [
                ("speakers", has("speakers")),
                ("video", has("video")),
                ("interactionStats", stats),
            ];
            let asked: Vec<&str> = lists.iter().filter(|(_, a)| *a).map(|(k, _)| *k).collect();
            empty_lists(interaction, &asked);
        }
        v
    }

    /// The call as this selector asks for it, built from the stored model.
    pub fn project(&self, call: &Call) -> CallData {
        let d = &call.data;
        let mut out = CallData {
            meta_data: d.meta_data.clone(),
            ..CallData::default()
        };
        if self.context > Level::None {
            out.context = self.context_of(&d.context);
        }
        if self.parties {
            let party = |p: &Party| Party {
                context: self.context_of(&p.context),
                ..p.clone()
            };
            out.parties = d.parties.iter().map(party).collect();
        }
        if !self.content.is_empty() {
            out.content = Some(self.content_of(d.content.as_ref()));
        }
        if !self.interaction.is_empty() {
            let i = d.interaction.clone().unwrap_or_default();
            let has = |k: &str| self.interaction.contains(k);
            let stats = has("personInteractionStats") || has("interactionStats");
            out.interaction = Some(Interaction {
                speakers: asked(has("speakers"), i.speakers),
                interaction_stats: asked(stats, i.interaction_stats),
                video: asked(has("video"), i.video),
                questions: i.questions.filter(|_| has("questions")),
            });
        }
        if self.comments {
            // `{}` when there is nothing to collaborate on, as in real data.
            out.collaboration = Some(d.collaboration.clone().unwrap_or_default());
        }
        if self.media {
            out.media = Some(media_urls(call));
        }
        out
    }

    /// The content keys asked for; trackers without occurrences unless those are asked too.
    fn content_of(&self, c: Option<&Content>) -> Content {
        let c = c.cloned().unwrap_or_default();
        let has = |k: &str| self.content.contains(k);
        let mut trackers = asked(has("trackers"), c.trackers);
        if !has("trackerOccurrences") {
            for t in &mut trackers {
                t.occurrences.clear();
                t.phrases.iter_mut().for_each(|p| p.occurrences.clear());
            }
        }
        Content {
            structure: asked(has("structure"), c.structure),
            trackers,
            topics: asked(has("topics"), c.topics),
            points_of_interest: c.points_of_interest.filter(|_| has("pointsOfInterest")),
            brief: c.brief.filter(|_| has("brief")),
            outline: asked(has("outline"), c.outline),
            highlights: asked(has("highlights"), c.highlights),
            call_outcome: c.call_outcome.filter(|_| has("callOutcome")),
            key_points: asked(has("keyPoints"), c.key_points),
        }
    }

    /// CRM context at the asked level, each object once per asked timing.
    fn context_of(&self, ctx: &[CrmContext]) -> Vec<CrmContext> {
        if self.context == Level::None {
            return vec![];
        }
        let system = |sys: &CrmContext| CrmContext {
            system: sys.system.clone(),
            objects: sys
                .objects
                .iter()
                .flat_map(|o| {
                    self.timing.iter().map(move |t| CrmObject {
                        timing: Some(t.clone()),
                        fields: match self.context {
                            Level::Basic => vec![],
                            _ => o.fields.clone(),
                        },
                        ..o.clone()
                    })
                })
                .collect(),
        };
        ctx.iter().map(system).collect()
    }
}

/// A block's list when asked for, else nothing (an empty list is left out of the JSON).
fn asked<T>(wanted: bool, list: Vec<T>) -> Vec<T> {
    if wanted { list } else { Vec::new() }
}

/// Media URLs are presigned per answer and expire after 8 hours, so they differ each time.
fn media_urls(call: &Call) -> Media {
    let mut rng = rand::rng();
    let sig: String = (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    let date = Utc::now().format("%Y%m%dT%H%M%SZ");
    let url = |kind: &str| {
        format!(
            "https://gong-sim-media.s3.amazonaws.com/calls/{}/{kind}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires=28799&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}",
            call.id
        )
    };
    let video = call.meta().media.as_deref() == Some("Video");
    Media {
        audio_url: Some(url("audio.mp3")),
        // `null` for audio-only calls.
        video_url: video.then(|| url("video.mp4")),
    }
}

/// A call with every block, as webhooks and `SimHandle::calls` carry it.
pub fn full(call: &Call) -> Value {
    Selector::all().answer(call)
}
