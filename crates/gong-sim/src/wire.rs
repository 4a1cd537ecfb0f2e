//! Gong's wire quirks that gong-api's models would normalise away. Every answer is built
//! from the models; what Gong writes differently from a serialized model is made here, on
//! purpose and in one place, so the simulator's JSON and the client's schema cannot drift
//! apart silently (`tests/schema.rs` checks every answer against the models).

use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike};
use gong_api::models::GongTime;
use serde_json::Value;

/// Gong prints local offsets and 0, 3 or 6 fractional digits. The instant is cut to that
/// precision, and the model's serializer prints as many digits as the precision needs: 0,
/// 3 or 6 (fewer only when the cut-off digits end in zeros, as Gong's would).
pub fn at_digits(t: DateTime<FixedOffset>, digits: u8) -> GongTime {
    let nanos = t.nanosecond() % 1_000_000_000;
    let kept = match digits {
        0 => 0,
        3 => nanos / 1_000_000 * 1_000_000,
        _ => nanos / 1_000 * 1_000,
    };
    t.with_nanosecond(kept).unwrap_or(t)
}

/// A time as text, for the few times that are in no model (the stats envelope).
pub fn iso(t: DateTime<FixedOffset>, digits: u8) -> String {
    let f = match digits {
        0 => SecondsFormat::Secs,
        3 => SecondsFormat::Millis,
        _ => SecondsFormat::Micros,
    };
    t.to_rfc3339_opts(f, false)
}

/// Ids sent as JSON numbers: the spec types the ids of answered scorecards as int64, so
/// these are numbers there, where every other answer has strings. Rewrites the string
/// values of `keys`, at any depth, as numbers.
pub fn ids_as_numbers(v: &mut Value, keys: &[&str]) {
    each_key(v, keys, &mut |x| {
        if let Some(n) = x.as_str().and_then(|s| s.parse::<u64>().ok()) {
            *x = Value::from(n);
        }
    });
}

/// Lists Gong sends as `null` where it has nothing (a model writes `[]`).
pub fn null_lists(v: &mut Value, keys: &[&str]) {
    each_key(v, keys, &mut |x| {
        if x.as_array().is_some_and(Vec::is_empty) {
            *x = Value::Null;
        }
    });
}

/// A list that was asked for and has no items is `[]` in Gong's answer, where a model
/// leaves an empty list out (which is how the blocks that were not asked for are absent).
/// Writes `[]` at those of `keys` that `block` lacks.
pub fn empty_lists(block: &mut Value, keys: &[&str]) {
    if let Some(m) = block.as_object_mut() {
        for key in keys {
            m.entry(*key).or_insert_with(|| Value::Array(vec![]));
        }
    }
}

fn each_key(v: &mut Value, keys: &[&str], f: &mut impl FnMut(&mut Value)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if keys.contains(&k.as_str()) {
                    f(x);
                } else {
                    each_key(x, keys, f);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| each_key(x, keys, f)),
        _ => {}
    }
}
