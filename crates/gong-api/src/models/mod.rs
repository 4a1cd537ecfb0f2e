//! Typed models of Gong's API v2 responses (and the few request bodies we send).
//!
//! Gong adds fields without warning and omits blocks it has no data for, so every field is
//! optional or defaults to empty, unknown fields are ignored, and `null` is accepted where a
//! list is expected. Ids are strings (some tools turn them into numbers: both are accepted);
//! date-times carry any offset and up to microseconds (the OpenAPI examples' epoch floats
//! are accepted too); CRM field values are untyped.
//!
//! Serialized, a model looks like Gong's JSON (the simulator serves its answers this way):
//! whole numbers are written as integers, blocks Gong omits when empty are skipped, and
//! keys Gong sends as `null` stay `null`. Times are RFC 3339 with the value's own offset
//! and as many fractional digits as its precision needs (0, 3 or 6 for Gong's values).

mod call;
mod meeting;
mod people;

pub use call::*;
pub use meeting::*;
pub use people::*;

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A Gong id: a string of up to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct GongId(pub String);

impl<'de> Deserialize<'de> for GongId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Signed(i64),
            Float(f64),
        }
        Ok(GongId(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Unsigned(n) => n.to_string(),
            Raw::Signed(n) => n.to_string(),
            Raw::Float(f) => format!("{f:.0}"),
        }))
    }
}

impl GongId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for GongId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A date-time as Gong sends it (RFC 3339 with an offset), or as its OpenAPI examples show
/// it (epoch seconds).
pub type GongTime = DateTime<FixedOffset>;

fn time_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GongTime>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        // One malformed time (the OpenAPI examples even show "T000:00:00") must not make a
        // whole page unreadable: it is dropped, and the record kept.
        Some(Value::String(s)) => Ok(DateTime::parse_from_rfc3339(&s)
            .inspect_err(|_| tracing::debug!(value = %s, "unreadable Gong date-time dropped"))
            .ok()),
        Some(Value::Number(n)) => {
            let secs = n.as_f64().unwrap_or(0.0);
            let whole = secs.trunc() as i64;
            let nanos = ((secs - secs.trunc()) * 1e9) as u32;
            Utc.timestamp_opt(whole, nanos)
                .single()
                .map(|t| Some(t.fixed_offset()))
                .ok_or_else(|| serde::de::Error::custom("epoch time out of range"))
        }
        Some(_) => Ok(None),
    }
}

/// A value Gong may send as `null`, taken as its default.
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of numbers, some of which may be strings or nulls.
fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let raw: Vec<Value> = list(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect())
}

/// A list that Gong may also send as `null`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A number Gong may send as an integer, a float or a numeric string.
fn number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A number as Gong writes it: whole values as integers (`1800`, not `1800.0`).
fn whole<S: Serializer>(n: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => number_value(*n, s),
        None => s.serialize_none(),
    }
}

/// A list of numbers as Gong writes them (see `whole`).
fn wholes<S: Serializer>(ns: &[f64], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(ns.len()))?;
    for n in ns {
        seq.serialize_element(&Whole(*n))?;
    }
    seq.end()
}

struct Whole(f64);

impl Serialize for Whole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        number_value(self.0, s)
    }
}

fn number_value<S: Serializer>(n: f64, s: S) -> Result<S::Ok, S::Error> {
    // Exactly representable integers only (|n| < 2^53), so nothing is rounded.
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        s.serialize_i64(n as i64)
    } else {
        s.serialize_f64(n)
    }
}

/// Whether a list is empty, to leave it out of the JSON.
fn empty<T>(list: &[T]) -> bool {
    list.is_empty()
}

/// The `records` block of a paged response.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    pub total_records: Option<i64>,
    pub current_page_size: Option<i64>,
    pub current_page_number: Option<i64>,
    /// Present only when there are more records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Gong's error body: `{"requestId", "errors": [...]}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    pub request_id: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_fixture_parses_with_odd_types() {
        let body: Value =
            serde_json::from_str(include_str!("../../tests/data/webhook_call.json")).unwrap();
        let call: CallData = serde_json::from_value(body["callData"].clone()).unwrap();
        assert_eq!(call.id(), Some("7693221800038890052"));
        let started = call.meta_data.started.unwrap();
        assert_eq!(started.timestamp_subsec_micros(), 483_211);
        assert_eq!(started.offset().local_minus_utc(), -7 * 3600);
        let opp = &call.context[0].objects[1];
        assert_eq!(opp.field("amount").unwrap().as_f64(), Some(50000.0));
        let content = call.content.unwrap();
        assert_eq!(content.trackers[0].name.as_deref(), Some("Competitors"));
        let item = &content.points_of_interest.unwrap().action_items[0];
        assert_eq!(
            item.speaker_id.as_ref().map(GongId::as_str),
            Some("1580833210577559850")
        );
        assert!(call.parties[2].speaker_id.is_none());
    }

    #[test]
    fn serialized_models_look_like_gongs_json() {
        let call = CallData {
            meta_data: CallMeta {
                duration: Some(1800.0),
                ..CallMeta::default()
            },
            content: Some(Content {
                topics: vec![NamedDuration {
                    name: Some("Pricing".into()),
                    duration: Some(12.5),
                }],
                ..Content::default()
            }),
            collaboration: Some(Collaboration::default()),
            ..CallData::default()
        };
        let v = serde_json::to_value(&call).unwrap();
        assert_eq!(
            v["metaData"]["duration"],
            serde_json::json!(1800),
            "an integer"
        );
        assert!(v["metaData"]["purpose"].is_null() && v["metaData"].get("purpose").is_some());
        assert_eq!(
            v["content"],
            serde_json::json!({"topics": [{"name": "Pricing", "duration": 12.5}]})
        );
        assert_eq!(v["collaboration"], serde_json::json!({}));
        assert!(v.get("parties").is_none() && v.get("media").is_none());
        let records = serde_json::to_value(Records::default()).unwrap();
        assert!(records.get("cursor").is_none());
    }

    #[test]
    fn ids_numbers_epoch_times_nulls_and_unknown_fields() {
        let v = serde_json::json!({
            "metaData": {"id": 7022652889306584427u64, "started": 1518863400.5,
                          "duration": "460", "isPrivate": false, "brandNew": {"x": 1}},
            "parties": null,
            "context": [{"objects": [{"fields": [
                {"name": "Must_Win__c", "value": "false"},
                {"name": "MRR__c", "value": 4166.67}]}]}]
        });
        let call: CallData = serde_json::from_value(v).unwrap();
        assert_eq!(call.id(), Some("7022652889306584427"));
        let odd: CallData = serde_json::from_value(serde_json::json!({
            "metaData": null,
            "content": {"highlights": [{"items": [{"startTimes": [1.5, "2", null]}]}],
                        "callOutcome": {"id": 17}},
            "context": [{"objects": [{"objectId": 12345, "fields": null}]}],
            "collaboration": {"publicComments": [{"posted": "2019-01-21T000:00:00-08:00"}]}
        }))
        .unwrap();
        let content = odd.content.unwrap();
        assert_eq!(content.highlights[0].items[0].start_times, vec![1.5, 2.0]);
        assert_eq!(content.call_outcome.unwrap().id.unwrap().as_str(), "17");
        assert_eq!(
            odd.context[0].objects[0]
                .object_id
                .as_ref()
                .unwrap()
                .as_str(),
            "12345"
        );
        assert!(
            odd.collaboration.unwrap().public_comments[0]
                .posted
                .is_none()
        );
        let t: CallTranscript = serde_json::from_value(serde_json::json!(
            {"callId": "1", "transcript": [{"speakerId": null, "sentences": [{"start": 1, "end": 2.5, "text": null}]}]}
        ))
        .unwrap();
        assert_eq!(t.transcript[0].sentences[0].text, "");
        assert_eq!(call.meta_data.duration, Some(460.0));
        assert_eq!(
            call.meta_data.started.unwrap().timestamp_millis(),
            1_518_863_400_500
        );
        assert!(call.parties.is_empty());
        let obj = &call.context[0].objects[0];
        assert_eq!(obj.field("must_win__c").unwrap().as_bool(), Some(false));
        assert_eq!(obj.field("MRR__c").unwrap().as_f64(), Some(4166.67));
    }
}
