//! The simulator and gong-api share one schema: every kind of answer the simulator serves
//! (each endpoint, each error, the webhook body) is read into gong-api's model for it,
//! written back, and compared with what was served. A field the model does not know, or
//! reads differently, is a difference and fails the test.
//!
//! Only the wire quirks the models normalise away (the simulator's `wire.rs`) are allowed:
//! `null`, `[]` and an absent key are the same (models do not tell them apart), and an id
//! sent as a JSON number is the same as the string the model keeps. The few envelope keys
//! that no model has are named below, per answer.

use std::sync::{Arc, Mutex};

use gong_api::models::{
    AnsweredScorecard, CallData, CallMeta, CallTranscript, EmailAddressReferences, ErrorResponse,
    KeywordTracker, MeetingResponse, PersonInteractionStats, Records, User, UserAggregateActivity,
    UserDailyActivity, Workspace,
};
use gong_sim::{RuleKey, SendOptions, SimConfig, SimHandle};
use serde_json::{Map, Value, json};

/// The differences between a served value and its model's JSON, by path.
fn differences(served: &Value, model: &Value, path: &str, out: &mut Vec<String>) {
    let nothing = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    match (served, model) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (x, y) = (&a.get(k), &b.get(k));
                let (x, y) = (x.unwrap_or(&Value::Null), y.unwrap_or(&Value::Null));
                differences(x, y, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if nothing(a) && nothing(b) => {}
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => {}
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{path}: served {a:.60}, model {b:.60}")),
    }
}

/// Reads `$value` as the model `$ty`, writes it back, and fails on any difference.
macro_rules! model {
    ($ty:ty, $value:expr, $what:expr) => {{
        let served: &Value = $value;
        let read: $ty = serde_json::from_value(served.clone())
            .unwrap_or_else(|e| panic!("{}: not a {}: {e}", $what, stringify!($ty)));
        let back = serde_json::to_value(&read).expect("a model serializes");
        let mut out = Vec::new();
        differences(served, &back, $what, &mut out);
        assert!(
            out.is_empty(),
            "lost or changed by the model:\n{}",
            out.join("\n")
        );
    }};
}

/// Checks each item of the list at `$key` as `$ty`, the `records` block (of paged lists),
/// and that the rest of the body is only `requestId` and the `extra` keys no model has.
macro_rules! page {
    ($ty:ty, $body:expr, $key:expr, $extra:expr) => {{
        let body: &Value = $body;
        let items = body[$key]
            .as_array()
            .unwrap_or_else(|| panic!("{}: {body:.200}", $key));
        assert!(!items.is_empty(), "{}: an empty page proves nothing", $key);
        for (i, item) in items.iter().enumerate() {
            model!($ty, item, &format!("{}[{i}]", $key));
        }
        if !body["records"].is_null() {
            model!(Records, &body["records"], &format!("{} records", $key));
        }
        envelope(body, &[$key, "records"], $extra);
    }};
}

/// `GET $path`, a page of `$ty` under `$key`, and `GET $path/{id}` of its first item, a
/// `$ty` under `$one`. Gives the page.
macro_rules! page_and_one {
    ($ty:ty, $api:expr, $path:expr, $key:expr, $one:expr) => {{
        let list = $api.get($path).await;
        page!($ty, &list, $key, &[]);
        let id = list[$key][0]["id"].as_str().unwrap().to_string();
        let one = $api.get(&format!("{}/{id}", $path)).await;
        model!($ty, &one[$one], $one);
        envelope(&one, &[$one], &[]);
        list
    }};
}

/// The body has a 19-character `requestId`, the `modelled` keys and the `extra` ones only.
fn envelope(body: &Value, modelled: &[&str], extra: &[&str]) {
    assert_eq!(
        body["requestId"].as_str().map(str::len),
        Some(19),
        "{body:.200}"
    );
    let rest: Vec<&String> = body
        .as_object()
        .expect("an object")
        .keys()
        .filter(|k| {
            !["requestId"]
                .iter()
                .chain(modelled)
                .chain(extra)
                .any(|x| x == k)
        })
        .collect();
    assert!(rest.is_empty(), "keys in no model: {rest:?}");
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.basic_auth("sim-key", Some("sim-secret")).send().await;
        res.unwrap().json().await.unwrap()
    }
    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

async fn sim() -> (SimHandle, Api) {
    let sim = gong_sim::start(SimConfig {
        rate_limit: 0.0,
        calls: 150,
        ..SimConfig::loopback()
    })
    .await
    .unwrap();
    let api = Api {
        base: sim.base_url(),
        http: reqwest::Client::new(),
    };
    (sim, api)
}

#[test]
fn the_check_notices_a_lost_or_changed_field() {
    let mut out = Vec::new();
    let served = json!({"id": 7, "a": null, "b": [], "gone": 1, "n": 1.5});
    differences(&served, &json!({"id": "7", "n": 1.5}), "x", &mut out);
    assert_eq!(out, ["x.gone: served 1, model null"]);
    out.clear();
    differences(
        &json!({"n": 2}),
        &json!({"n": 2.5, "t": "x"}),
        "x",
        &mut out,
    );
    assert_eq!(out.len(), 2, "{out:?}");
}

#[tokio::test]
async fn call_answers_are_gong_api_models() {
    let (sim, api) = sim().await;
    page_and_one!(CallMeta, api, "/v2/calls", "calls", "call");

    let everything = json!({"context": "Extended", "contextTiming": ["Now", "TimeOfCall"],
        "exposedFields": {"parties": true, "content": {"structure": true, "topics": true,
        "trackers": true, "trackerOccurrences": true, "pointsOfInterest": true, "brief": true,
        "outline": true, "highlights": true, "callOutcome": true, "keyPoints": true},
        "interaction": {"speakers": true, "video": true, "personInteractionStats": true,
        "questions": true}, "collaboration": {"publicComments": true}, "media": true}});
    let some = json!({"context": "Basic", "exposedFields": {"parties": true,
        "content": {"trackers": true, "brief": true}, "interaction": {"speakers": true}}});
    for selector in [json!(null), some, everything] {
        let body = json!({"filter": {}, "contentSelector": selector});
        page!(
            CallData,
            &api.post("/v2/calls/extensive", body).await,
            "calls",
            &[]
        );
    }
    let transcripts = api
        .post("/v2/calls/transcript", json!({"filter": {}}))
        .await;
    page!(CallTranscript, &transcripts, "callTranscripts", &[]);

    // What webhooks and the handle carry: every call with every block.
    for (i, call) in sim.calls().iter().enumerate() {
        model!(CallData, call, &format!("calls()[{i}]"));
    }
    for call in sim.create_calls(4) {
        model!(CallData, &call, "create_calls()");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn other_answers_are_gong_api_models() {
    let (sim, api) = sim().await;
    let users = page_and_one!(User, api, "/v2/users", "users", "user");
    let extensive = api.post("/v2/users/extensive", json!({"filter": {}})).await;
    page!(User, &extensive, "users", &[]);

    let today = chrono::Utc::now().date_naive();
    let period = json!({"filter": {"fromDate": (today - chrono::Days::new(31)).to_string(),
                                   "toDate": (today + chrono::Days::new(1)).to_string()}});
    // The period the stats cover, in the company's zone: in no model, no client reads it.
    let stats_extra = &["timeZone", "fromDateTime", "toDateTime"];
    let b = api.post("/v2/stats/interaction", period.clone()).await;
    page!(
        PersonInteractionStats,
        &b,
        "peopleInteractionStats",
        stats_extra
    );
    let b = api
        .post("/v2/stats/activity/aggregate", period.clone())
        .await;
    page!(
        UserAggregateActivity,
        &b,
        "usersAggregateActivityStats",
        stats_extra
    );
    let b = api.post("/v2/stats/activity/day-by-day", period).await;
    page!(
        UserDailyActivity,
        &b,
        "usersDetailedActivities",
        stats_extra
    );
    let b = api
        .post("/v2/stats/activity/scorecards", json!({"filter": {}}))
        .await;
    page!(AnsweredScorecard, &b, "answeredScorecards", &[]);
    assert!(
        b["answeredScorecards"][0]["callId"].is_u64(),
        "ids as numbers"
    );

    let b = api.get("/v2/settings/trackers").await;
    page!(KeywordTracker, &b, "keywordTrackers", &[]);
    let b = api.get("/v2/workspaces").await;
    page!(Workspace, &b, "workspaces", &[]);

    let organizer = users["users"][0]["emailAddress"].clone();
    let meeting = json!({"startTime": "2030-01-01T10:00:00-08:00",
        "endTime": "2030-01-01T10:30:00-08:00", "invitees": [{"email": "hank@globex.com"}],
        "organizerEmail": organizer});
    let made = api.post("/v2/meetings", meeting.clone()).await;
    model!(MeetingResponse, &made, "meeting");
    let path = format!("/v2/meetings/{}", made["meetingId"].as_str().unwrap());
    let updated = api.send(reqwest::Method::PUT, &path, Some(meeting)).await;
    model!(MeetingResponse, &updated, "updated meeting");
    let contact = sim.calls()[0]["parties"][0]["emailAddress"].clone();
    for email in [json!("hank@globex.com"), contact] {
        let q = format!("/v2/data-privacy/data-for-email-address?emailAddress={email}");
        let refs = api.get(&q.replace('"', "")).await;
        model!(EmailAddressReferences, &refs, "data for an email address");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_are_gong_api_error_responses() {
    let (sim, api) = sim().await;
    let answers = [
        api.post("/v2/calls/extensive", json!({"filter": {"callIds": ["1"]}}))
            .await,
        api.post("/v2/calls/extensive", json!({"cursor": "zz"}))
            .await,
        api.get("/v2/no-such-thing").await,
        api.get("/v2/users/42").await,
        reqwest::get(format!("{}/v2/users", api.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    ];
    for body in &answers {
        model!(ErrorResponse, body, "error");
        envelope(body, &["errors"], &[]);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn webhook_bodies_carry_gong_api_call_data() {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| async move {
            keep.lock().unwrap().push(body);
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let opts = SendOptions {
        to,
        count: 5,
        ..SendOptions::default()
    };
    let report = gong_sim::send_webhooks(&RuleKey::generate(), &opts)
        .await
        .unwrap();
    assert_eq!(report.accepted, 5);
    for body in got.lock().unwrap().iter() {
        let rest: Map<String, Value> = body.as_object().unwrap().clone();
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["callData", "isTest"]);
        model!(CallData, &body["callData"], "webhook callData");
    }
    server.abort();
}
