//! Priorities, insights, evidence and next steps follow the call's content and its CRM
//! context, and urgent and high calls ask for action.

use gong_relay::warehouse::CALLS;
use gong_sim::SimHandle;
use serde_json::{Value, json};

use super::*;

/// Speaker ids of the call's internal and external parties.
fn speakers(data: &Value) -> (String, String) {
    let parties = data["parties"].as_array().unwrap();
    let pick = |internal: bool| {
        parties
            .iter()
            .filter(|p| p["speakerId"].is_string())
            .find(|p| (p["affiliation"] == "Internal") == internal)
            .map(|p| p["speakerId"].as_str().unwrap().to_owned())
    };
    let internal = pick(true).unwrap();
    let external = pick(false).unwrap_or_else(|| internal.clone());
    (internal, external)
}

/// Gong's Competitors tracker, hit once by `speaker` on "Chorus" at 9 s.
fn competitor_tracker(speaker: &str) -> Value {
    json!([{"id": "111", "name": "Competitors", "count": 1, "type": "KEYWORD",
        "occurrences": [{"startTime": 9.0, "speakerId": speaker}],
        "phrases": [{"count": 1, "phrase": "Chorus", "occurrences": [{"startTime": 9.0, "speakerId": speaker}]}]}])
}

/// Rewrites a generated call: neutral content, these external lines, the Competitors
/// tracker on the external speaker if `competitor`, this CRM context.
fn shape(
    data: &mut Value,
    transcript: &mut Value,
    duration: u64,
    external_lines: &[&str],
    competitor: bool,
    context: &Value,
) {
    let (internal, external) = speakers(data);
    let trackers = match competitor {
        true => competitor_tracker(&external),
        false => json!([]),
    };
    data["metaData"]["duration"] = json!(duration);
    data["metaData"]["title"] = json!("Acme weekly sync");
    data["context"] = context.clone();
    data["content"] = json!({
        "trackers": trackers, "topics": [], "pointsOfInterest": {"actionItems": []},
        "brief": "The team met with Acme.", "keyPoints": [], "outline": [], "highlights": [],
    });
    let mut monologues = vec![json!({"speakerId": internal, "topic": null, "sentences": [
        {"start": 1000, "end": 3000, "text": "Thanks for making the time today."}]})];
    for (i, line) in external_lines.iter().enumerate() {
        let start = 5000 + i as u64 * 4000;
        monologues.push(json!({"speakerId": external, "topic": null, "sentences": [
            {"start": start, "end": start + 3000, "text": line}]}));
    }
    *transcript = Value::Array(monologues);
}

const CHURN: &str =
    "Honestly we are thinking about whether to cancel and switch to another vendor.";

/// Four new calls in the simulator, shaped to come out high, urgent, urgent (a renewal)
/// and low, in that order: each call's length, what the customer says, whether a
/// competitor tracker fires, and its opportunity.
pub(crate) fn signal_calls(sim: &SimHandle) -> [Value; 4] {
    let demo = "Chorus showed us a demo last week.";
    let table: [(u64, &[&str], bool, Value); 4] = [
        (
            1800,
            &[CHURN, demo],
            true,
            opportunity(20_000, "New Business", "Discovery"),
        ),
        (
            2400,
            &[CHURN],
            false,
            opportunity(250_000, "New Business", "Negotiation"),
        ),
        (
            2400,
            &[CHURN],
            false,
            opportunity(30_000, "Renewal", "Open Renewal"),
        ),
        (180, &["Sounds good, talk soon."], false, json!([])),
    ];
    table.map(|(duration, lines, competitor, context)| {
        sim.create_call_with(|d, t| shape(d, t, duration, lines, competitor, &context))
    })
}

async fn priorities_follow_the_signals(db: TestDb) {
    let (sim, app) = start(&db, |_| {}, |_| {}).await;
    let calls = signal_calls(&sim);
    let events = post_calls(&app, &calls).await;
    wait_all(&app, &events, "done", 30).await;
    let [high, urgent, renewal, low] = &calls;
    let high_row = row(&app, &CALLS, &call_id(high)).await.unwrap();
    assert_eq!(
        high_row["priority"],
        json!("high"),
        "{:?}",
        high_row["insights"]
    );
    let insights = high_row["insights"].as_array().unwrap();
    let kinds: Vec<&str> = insights
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"competitor_mention") && kinds.contains(&"churn_risk"),
        "{kinds:?}"
    );
    // Evidence names the tracker, and the sentence with its time and speaker.
    let evidence: Vec<&Value> = insights
        .iter()
        .flat_map(|i| i["evidence"].as_array().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e["tracker"] == json!("Competitors"))
    );
    assert!(evidence.iter().any(|e| e["text"] == json!(CHURN)
        && e["timestamp_ms"] == json!(5000)
        && e["speaker_id"].is_string()));
    assert!(!high_row["next_steps"].as_array().unwrap().is_empty());

    for (call, priority) in [(urgent, "urgent"), (renewal, "urgent"), (low, "low")] {
        let r = row(&app, &CALLS, &call_id(call)).await.unwrap();
        assert_eq!(r["priority"], json!(priority), "{:?}", r["insights"]);
    }

    // Urgent and high calls also ask for action.
    let actions = app.store().outbox_for_event(&events[1]).await.unwrap();
    assert!(
        actions
            .iter()
            .any(|o| o.message_type == "action_required" && o.priority == "urgent"),
        "{actions:?}"
    );
    let low_outbox = outbox_types(&app, &events[3]).await;
    assert!(low_outbox.iter().all(|t| t != "action_required"));
    stop(app, sim).await;
}

crate::on_both_backends!(priorities_follow_the_signals);
