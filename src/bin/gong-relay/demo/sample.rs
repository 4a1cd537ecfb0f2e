//! The demo's sample: four calls shaped to show the four priorities for a reason a
//! newcomer can read (an urgent churn risk on a large renewal, a competitor mention, an
//! ordinary call, a short check-in), then generated calls from the simulator's corpus if
//! more are asked for, and one email and one meeting in the project's own webhook format.

use gong_sim::SimHandle;
use serde_json::{Value, json};

/// One shaped call: its title, length, what the customer says, whether Gong's Competitors
/// tracker fires on it, and its CRM opportunity (amount, type, stage).
struct Shape {
    title: &'static str,
    seconds: u64,
    customer_says: &'static [&'static str],
    competitor: bool,
    deal: Option<(u64, &'static str, &'static str)>,
}

/// Urgent, high, medium, low: in this order, so that `--calls 2` shows the first two.
const SHAPES: [Shape; 4] = [
    Shape {
        title: "Northwind renewal review",
        seconds: 2400,
        customer_says: &[
            "Honestly we are thinking about whether to cancel and switch to another vendor.",
            "The renewal is up next month and the budget is under review.",
        ],
        competitor: false,
        deal: Some((480_000, "Renewal", "Open Renewal")),
    },
    Shape {
        title: "Globex discovery call",
        seconds: 1800,
        customer_says: &["Chorus showed us a demo last week, and their pricing looked sharper."],
        competitor: true,
        deal: Some((25_000, "New Business", "Discovery")),
    },
    Shape {
        title: "Initech onboarding check-in",
        seconds: 1500,
        customer_says: &["The rollout is going fine, the team uses it every day."],
        competitor: false,
        deal: Some((40_000, "Expansion", "Proposal")),
    },
    Shape {
        title: "Umbrella quick sync",
        seconds: 180,
        customer_says: &["Sounds good, talk soon."],
        competitor: false,
        deal: None,
    },
];

/// `n` calls as callData: the shaped ones first, then generated ones from the corpus.
pub fn calls(sim: &SimHandle, n: usize) -> Vec<Value> {
    let mut out: Vec<Value> = SHAPES
        .iter()
        .take(n)
        .map(|s| sim.create_call_with(|data, transcript| shape(data, transcript, s)))
        .collect();
    out.extend(sim.calls().into_iter().take(n.saturating_sub(out.len())));
    out
}

fn shape(data: &mut Value, transcript: &mut Value, s: &Shape) {
    let (internal, external) = speakers(data);
    let trackers = if s.competitor {
        json!([{"id": "111", "name": "Competitors", "count": 1, "type": "KEYWORD",
            "occurrences": [{"startTime": 9.0, "speakerId": external}],
            "phrases": [{"count": 1, "phrase": "Chorus",
                "occurrences": [{"startTime": 9.0, "speakerId": external}]}]}])
    } else {
        json!([])
    };
    data["metaData"]["duration"] = json!(s.seconds);
    data["metaData"]["title"] = json!(s.title);
    let account = s.title.split(' ').next().unwrap_or("Acme");
    data["context"] = match s.deal {
        Some((amount, kind, stage)) => opportunity(account, amount, kind, stage),
        None => json!([]),
    };
    data["content"] = json!({
        "trackers": trackers, "topics": [], "pointsOfInterest": {"actionItems": []},
        "brief": format!("The team met with {account}."), "keyPoints": [], "outline": [],
        "highlights": [],
    });
    let mut monologues = vec![json!({"speakerId": internal, "topic": null, "sentences": [
        {"start": 1000, "end": 3000, "text": "Thanks for making the time today."}]})];
    for (i, line) in s.customer_says.iter().enumerate() {
        let start = 5000 + i as u64 * 4000;
        monologues.push(json!({"speakerId": external, "topic": null, "sentences": [
            {"start": start, "end": start + 3000, "text": line}]}));
    }
    *transcript = Value::Array(monologues);
}

/// Speaker ids of a generated call's internal and external parties.
fn speakers(data: &Value) -> (String, String) {
    let parties = data["parties"].as_array().cloned().unwrap_or_default();
    let pick = |internal: bool| {
        parties
            .iter()
            .filter(|p| p["speakerId"].is_string())
            .find(|p| (p["affiliation"] == "Internal") == internal)
            .and_then(|p| p["speakerId"].as_str().map(str::to_owned))
    };
    let internal = pick(true).unwrap_or_else(|| "1".into());
    let external = pick(false).unwrap_or_else(|| internal.clone());
    (internal, external)
}

/// A Salesforce opportunity as Gong puts it in a CRM context.
fn opportunity(account: &str, amount: u64, kind: &str, stage: &str) -> Value {
    json!([{"system": "Salesforce", "objects": [{"objectType": "Opportunity",
        "objectId": "0061Q00000DEMO", "timing": "Now",
        "fields": [{"name": "Name", "value": format!("{account} - {kind}")},
                   {"name": "Type", "value": kind}, {"name": "StageName", "value": stage},
                   {"name": "Amount", "value": amount}]}]}])
}

/// The email address of a call's internal party (a Gong user).
pub fn user_email(call: &Value) -> String {
    call["parties"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["affiliation"] == "Internal"))
        .and_then(|p| p["emailAddress"].as_str())
        .unwrap_or("rep@example.com")
        .to_owned()
}

/// A buyer's email to `user`: a question about more seats (a request, not a risk).
pub fn email(user: &str) -> Value {
    json!({"emailData": {
        "id": "demo-email-1", "threadId": "demo-thread-1", "subject": "Pricing for 50 more seats",
        "from": {"email": "buyer@initech.example", "name": "Pat Buyer"},
        "to": [{"email": user, "name": null}],
        "sentAt": "2026-11-20T10:00:00-05:00", "direction": "Inbound",
        "body": "Could you send the pricing for 50 more seats before Friday? We would like to add the support team.",
        "crmContext": opportunity("Initech", 40_000, "Expansion", "Proposal"),
    }, "isTest": false})
}

/// A meeting organized by `user`, recorded as call `call_id`.
pub fn meeting(user: &str, call_id: &str) -> Value {
    json!({"meetingData": {
        "id": "demo-meeting-1", "title": "Northwind renewal review",
        "start": "2026-11-21T15:00:00Z", "end": "2026-11-21T15:40:00Z",
        "organizer": {"email": user},
        "invitees": [{"email": "cfo@northwind.example", "name": "Sam CFO", "affiliation": "External"}],
        "meetingUrl": "https://zoom.example/j/1", "callId": call_id,
    }, "isTest": false})
}
