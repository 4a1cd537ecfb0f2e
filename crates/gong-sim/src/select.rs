//! `contentSelector`: Gong returns only the blocks asked for, silently omits what is asked
//! but unavailable, and defaults to metaData alone. Context comes at three levels.

use std::collections::BTreeSet;

use chrono::Utc;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::corpus::Call;
use super::reply::ApiError;

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

    pub fn project(&self, call: &Call) -> Value {
        let d = &call.data;
        let mut out = Map::new();
        out.insert("metaData".into(), d["metaData"].clone());
        if self.context > Level::None {
            out.insert("context".into(), self.context_of(&d["context"]));
        }
        if self.parties {
            let parties: Vec<Value> = d["parties"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let mut p = p.clone();
                    p["context"] = self.context_of(&p["context"]);
                    p
                })
                .collect();
            out.insert("parties".into(), Value::Array(parties));
        }
        if !self.content.is_empty() {
            let mut c = Map::new();
            for key in &self.content {
                if let Some(v) = d["content"].get(key.as_str()) {
                    c.insert(key.clone(), v.clone());
                }
            }
            if !self.content.contains("trackerOccurrences")
                && let Some(Value::Array(ts)) = c.get_mut("trackers")
            {
                for t in ts {
                    strip_occurrences(t);
                }
            }
            out.insert("content".into(), Value::Object(c));
        }
        if !self.interaction.is_empty() {
            let mut i = Map::new();
            for key in &self.interaction {
                let from = if key == "personInteractionStats" {
                    "interactionStats"
                } else {
                    key.as_str()
                };
                if let Some(v) = d["interaction"].get(from) {
                    i.insert(from.into(), v.clone());
                }
            }
            out.insert("interaction".into(), Value::Object(i));
        }
        if self.comments {
            // Real data shows `{}` when there is nothing to collaborate on.
            let comments = &d["collaboration"]["publicComments"];
            let c = match comments.as_array() {
                Some(a) if !a.is_empty() => json!({"publicComments": comments}),
                _ => json!({}),
            };
            out.insert("collaboration".into(), c);
        }
        if self.media {
            out.insert("media".into(), media_urls(call));
        }
        Value::Object(out)
    }

    fn context_of(&self, ctx: &Value) -> Value {
        if self.context == Level::None {
            return json!([]);
        }
        let systems = ctx.as_array().into_iter().flatten().map(|sys| {
            let objects: Vec<Value> = sys["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|o| {
                    self.timing.iter().map(move |t| {
                        let mut o = o.clone();
                        o["timing"] = json!(t);
                        if self.context == Level::Basic {
                            o["fields"] = json!([]);
                        }
                        o
                    })
                })
                .collect();
            json!({"system": sys["system"], "objects": objects})
        });
        Value::Array(systems.collect())
    }
}

fn strip_occurrences(tracker: &mut Value) {
    if let Some(m) = tracker.as_object_mut() {
        m.remove("occurrences");
    }
    if let Some(Value::Array(ps)) = tracker.get_mut("phrases") {
        for p in ps {
            if let Some(m) = p.as_object_mut() {
                m.remove("occurrences");
            }
        }
    }
}

/// Media URLs are presigned per answer and expire after 8 hours, so they differ each time.
fn media_urls(call: &Call) -> Value {
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
    let video = call.data["metaData"]["media"] == "Video";
    json!({"audioUrl": url("audio.mp3"), "videoUrl": if video { json!(url("video.mp4")) } else { Value::Null }})
}

/// A call with every block, as webhooks and `SimHandle::calls` carry it.
pub fn full(call: &Call) -> Value {
    Selector::all().project(call)
}
