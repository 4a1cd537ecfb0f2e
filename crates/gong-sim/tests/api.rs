//! The Gong simulator over real HTTP on loopback: auth, pagination and cursors, filters,
//! 404-on-empty, quotas, faults, processing lag, data consistency, and rule keys. (That
//! gong-relay's verifier accepts its webhooks is tested in gong-relay.)

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use gong_sim::{self as simulator, RuleKey, SimConfig, SimHandle};
use serde_json::{Value, json};

async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}));
    (status, body)
}

fn read_data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const NO_CALLS: &str = "No calls found corresponding to the provided filters";

/// A simulator on a free port, without the 3/s quota unless a test turns it back on.
async fn sim(tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig {
        rate_limit: 0.0,
        ..SimConfig::loopback()
    };
    tweak(&mut c);
    simulator::start(c).await.unwrap()
}

/// A simulator and a client signed in with its credentials.
struct Api {
    sim: SimHandle,
    http: reqwest::Client,
}

impl Api {
    /// A simulator as [`sim`] makes it.
    async fn start(tweak: impl FnOnce(&mut SimConfig)) -> Api {
        Api {
            sim: sim(tweak).await,
            http: reqwest::Client::new(),
        }
    }
    /// A request for `path` with the simulator's Basic credentials.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.sim.base_url());
        let req = self.http.request(method, url);
        req.basic_auth("sim-key", Some("sim-secret"))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let req = self.request(reqwest::Method::GET, path);
        answer(req.send().await.unwrap()).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let req = self.request(reqwest::Method::POST, path).json(&body);
        answer(req.send().await.unwrap()).await
    }
    async fn stop(self) {
        self.sim.shutdown().await;
    }
}

/// Gong's error body: a 19-character request id and a list of strings.
fn assert_gong_error(body: &Value) -> String {
    let rid = body["requestId"].as_str().expect("requestId");
    assert_eq!(rid.len(), 19, "{body}");
    assert!(
        rid.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        !errors.is_empty() && errors.iter().all(Value::is_string),
        "{body}"
    );
    errors[0].as_str().unwrap().to_string()
}

#[tokio::test]
async fn auth_is_required_and_refusals_are_logged() {
    let sim = sim(|c| c.bearer_token = Some("oauth-token".into())).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v2/users", sim.base_url());
    let (status, body) = answer(http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_gong_error(&body);
    let wrong = http.get(&url).basic_auth("sim-key", Some("nope"));
    assert_eq!(wrong.send().await.unwrap().status(), 401);
    let basic = http.get(&url).basic_auth("sim-key", Some("sim-secret"));
    assert_eq!(basic.send().await.unwrap().status(), 200);
    let bearer = http.get(&url).bearer_auth("oauth-token");
    assert_eq!(bearer.send().await.unwrap().status(), 200);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 200, 200]);
    assert!(sim.requests().iter().all(|r| r.path == "/v2/users"));
    sim.shutdown().await;
}

#[tokio::test]
async fn pagination_gives_three_pages_for_250_calls() {
    let api = Api::start(|c| c.calls = 250).await;
    let mut ids = HashSet::new();
    let mut cursor: Option<String> = None;
    for page in 0..3 {
        let q = cursor
            .as_ref()
            .map(|c| format!("?cursor={c}"))
            .unwrap_or_default();
        let (status, body) = api.get(&format!("/v2/calls{q}")).await;
        assert_eq!(status, 200, "{body}");
        let r = &body["records"];
        assert_eq!(r["totalRecords"], 250);
        assert_eq!(r["currentPageNumber"], page);
        let n = if page < 2 { 100 } else { 50 };
        assert_eq!(r["currentPageSize"], n);
        assert_eq!(body["calls"].as_array().unwrap().len(), n);
        for c in body["calls"].as_array().unwrap() {
            assert!(ids.insert(c["id"].as_str().unwrap().to_string()));
        }
        cursor = r["cursor"].as_str().map(String::from);
        assert_eq!(
            cursor.is_some(),
            page < 2,
            "no cursor on the last page only"
        );
    }
    assert_eq!(ids.len(), 250);

    // POST endpoints take the cursor in the body.
    let (_, first) = api.post("/v2/calls/extensive", json!({"filter": {}})).await;
    let c = first["records"]["cursor"].clone();
    let (status, second) = api
        .post("/v2/calls/extensive", json!({"cursor": c, "filter": {}}))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["records"]["currentPageNumber"], 1);
    api.stop().await;
}

#[tokio::test]
async fn cursors_expire_from_the_first_page_and_keep_to_their_filters() {
    let api = Api::start(|c| c.cursor_ttl = Duration::from_millis(200)).await;
    let (_, first) = api.get("/v2/calls").await;
    let cursor = first["records"]["cursor"].as_str().unwrap().to_string();
    let (status, body) = api
        .get(&format!("/v2/calls?cursor={cursor}&workspaceId=1"))
        .await;
    assert_eq!(status, 400, "a cursor reused with other filters: {body}");
    assert_gong_error(&body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = api.get(&format!("/v2/calls?cursor={cursor}")).await;
    assert_eq!(status, 400);
    assert!(
        assert_gong_error(&body).contains("cursor has expired"),
        "{body}"
    );
    api.stop().await;
}

#[tokio::test]
async fn from_is_inclusive_and_to_exclusive_in_any_offset() {
    let api = Api::start(|_| {}).await;
    let call = &api.sim.calls()[17];
    let id = call["metaData"]["id"].as_str().unwrap();
    let started =
        chrono::DateTime::parse_from_rfc3339(call["metaData"]["started"].as_str().unwrap())
            .unwrap();
    let ist = chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
    let at = started
        .with_timezone(&ist)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let later = (started + chrono::Duration::hours(1)).to_rfc3339();
    let earlier = (started - chrono::Duration::hours(1)).to_rfc3339();
    let ids_of = |b: &Value| -> Vec<String> {
        b["calls"].as_array().map_or(vec![], |a| {
            a.iter()
                .map(|c| c["metaData"]["id"].as_str().unwrap().to_string())
                .collect()
        })
    };
    let between = async |from: &str, to: &str| {
        let filter = json!({"filter": {"fromDateTime": from, "toDateTime": to}});
        api.post("/v2/calls/extensive", filter).await
    };
    let (status, body) = between(&at, &later).await;
    assert_eq!(status, 200);
    assert!(ids_of(&body).contains(&id.to_string()), "from is inclusive");
    let (_, body) = between(&earlier, &at).await;
    assert!(!ids_of(&body).contains(&id.to_string()), "to is exclusive");
    let (status, body) = between(&at, &at).await;
    assert_eq!(status, 400);
    assert_eq!(
        assert_gong_error(&body),
        "filter.fromDateTime: must be before toDateTime"
    );
    api.stop().await;
}

#[tokio::test]
async fn empty_results_are_404_with_gongs_message() {
    let api = Api::start(|_| {}).await;
    let future = "?fromDateTime=2099-01-01T00:00:00Z&toDateTime=2099-02-01T00:00:00-08:00";
    let (status, body) = api.get(&format!("/v2/calls{future}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"], json!([NO_CALLS]));
    assert_gong_error(&body);
    let (status, body) = api
        .post(
            "/v2/calls/transcript",
            json!({"filter": {"callIds": ["1234"]}}),
        )
        .await;
    assert_eq!((status, body["errors"].clone()), (404, json!([NO_CALLS])));
    let (status, body) = api.get("/v2/calls/1234").await;
    assert_eq!(status, 404);
    assert!(assert_gong_error(&body).contains("was not found"));
    api.stop().await;
}

#[tokio::test]
async fn quota_answers_429_with_retry_after_and_holds_the_rate() {
    let api = Api::start(|c| {
        c.rate_limit = 3.0;
        c.burst = 10;
    })
    .await;
    let answers = burst(&api, "/v2/workspaces", 20).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!((10..=11).contains(&ok), "{ok} accepted out of 20 at once");
    let refused = answers.iter().find(|(s, _)| *s == 429).expect("some 429");
    assert_eq!(assert_gong_error(&refused.1), "API request limit exceeded");
    let res = api.request(reqwest::Method::GET, "/v2/workspaces");
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);

    // Hammer for 1.5 s: no more than burst + rate * t may get through.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        api.get("/v2/workspaces").await;
    }
    let accepted = api
        .sim
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .count() as f64;
    let bound = 10.0 + 3.0 * sim_elapsed(&api.sim) + 1.0;
    assert!(accepted <= bound, "{accepted} accepted, bound {bound}");
    api.stop().await;
}

fn sim_elapsed(sim: &SimHandle) -> f64 {
    let r = sim.requests();
    (r.last().unwrap().at - r[0].at).as_secs_f64()
}

/// `n` GETs of `path` at once, each on its own task.
async fn burst(api: &Api, path: &str, n: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let req = api.request(reqwest::Method::GET, path);
            tokio::spawn(async move { answer(req.send().await.unwrap()).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn refused_requests_do_not_spend_the_daily_budget() {
    let api = Api::start(|c| {
        c.rate_limit = 2.0;
        c.burst = 2;
        c.daily_limit = 3;
    })
    .await;
    let first: Vec<u16> = burst(&api, "/v2/workspaces", 4)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(first.iter().filter(|s| **s == 200).count(), 2, "{first:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(api.get("/v2/workspaces").await.0, 200, "third of three");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(api.get("/v2/workspaces").await.0, 429, "daily budget spent");
    api.stop().await;
}

#[tokio::test]
async fn fail_rate_one_answers_500_until_lowered() {
    let api = Api::start(|c| c.fail_rate = 1.0).await;
    let (status, body) = api.get("/v2/workspaces").await;
    assert_eq!(status, 500);
    assert_gong_error(&body);
    api.sim.set_fail_rate(0.0);
    api.sim.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(api.get("/v2/workspaces").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150), "latency applied");
    api.stop().await;
}

#[tokio::test]
async fn dropped_connections_give_no_complete_answer() {
    let api = Api::start(|c| c.drop_rate = 1.0).await;
    let res = api.request(reqwest::Method::GET, "/v2/workspaces");
    let res = res.send().await;
    let complete = match res {
        Ok(r) => r.bytes().await.is_ok(),
        Err(_) => false,
    };
    assert!(!complete, "the answer must be cut short");
    assert_eq!(api.sim.requests()[0].status, 0);
    api.stop().await;
}

#[tokio::test]
async fn created_calls_appear_after_lag_and_transcripts_later() {
    let api = Api::start(|c| {
        c.lag = Duration::from_millis(700);
        c.transcript_lag = Duration::from_millis(700);
    })
    .await;
    let created = api.sim.create_calls(1);
    let id = created[0]["metaData"]["id"].as_str().unwrap().to_string();
    let by_id = json!({"filter": {"callIds": [id]}});
    let (status, body) = api.post("/v2/calls/extensive", by_id.clone()).await;
    assert_eq!((status, body["errors"].clone()), (404, json!([NO_CALLS])));
    assert_eq!(api.get(&format!("/v2/calls/{id}")).await.0, 404);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, body) = api.post("/v2/calls/extensive", by_id.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["calls"][0]["metaData"]["id"], id.as_str());
    assert_eq!(api.get(&format!("/v2/calls/{id}")).await.0, 200);
    let (status, _) = api.post("/v2/calls/transcript", by_id.clone()).await;
    assert_eq!(status, 404, "transcript still processing");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, body) = api.post("/v2/calls/transcript", by_id).await;
    assert_eq!(status, 200);
    assert_eq!(body["callTranscripts"][0]["callId"], id.as_str());
    api.stop().await;
}

#[tokio::test]
async fn transcripts_match_parties_and_trackers() {
    let api = Api::start(|_| {}).await;
    let everything = json!({"filter": {}, "contentSelector": {"context": "Extended",
        "exposedFields": {"parties": true, "content": {"trackers": true, "trackerOccurrences": true,
        "pointsOfInterest": true}}}});
    let (_, ext) = api.post("/v2/calls/extensive", everything).await;
    let (_, tr) = api
        .post("/v2/calls/transcript", json!({"filter": {}}))
        .await;
    let calls = ext["calls"].as_array().unwrap();
    let transcripts = tr["callTranscripts"].as_array().unwrap();
    assert_eq!(calls.len(), 100);
    let (mut silent, mut competitors, mut actions) = (0, 0, 0);
    for call in calls {
        let id = &call["metaData"]["id"];
        let speakers: BTreeSet<&str> = call["parties"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["speakerId"].as_str())
            .collect();
        silent += call["parties"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["speakerId"].is_null())
            .count();
        let t = transcripts
            .iter()
            .find(|t| &t["callId"] == id)
            .expect("same page order");
        let mut last = 0;
        let mut text = String::new();
        for m in t["transcript"].as_array().unwrap() {
            assert!(
                speakers.contains(m["speakerId"].as_str().unwrap()),
                "speaker of {id}"
            );
            for s in m["sentences"].as_array().unwrap() {
                let (a, b) = (s["start"].as_u64().unwrap(), s["end"].as_u64().unwrap());
                assert!(a >= last && b > a, "ms offsets increase");
                last = b;
                text.push_str(s["text"].as_str().unwrap());
            }
        }
        for tracker in call["content"]["trackers"].as_array().unwrap() {
            if tracker["name"] == "Competitors" {
                competitors += 1;
                for p in tracker["phrases"].as_array().unwrap() {
                    assert!(text.contains(p["phrase"].as_str().unwrap()));
                }
            }
        }
        if let Some(items) = call["content"]["pointsOfInterest"]["actionItems"].as_array() {
            for a in items {
                actions += 1;
                assert!(text.contains(a["snippet"].as_str().unwrap()));
                assert!(speakers.contains(a["speakerID"].as_str().unwrap()));
            }
        }
    }
    assert!(silent > 0 && competitors > 0 && actions > 0);
    api.stop().await;
}

#[tokio::test]
async fn content_selector_decides_the_blocks() {
    let api = Api::start(|_| {}).await;
    let (_, bare) = api.post("/v2/calls/extensive", json!({"filter": {}})).await;
    let keys: Vec<&String> = bare["calls"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["metaData"], "metaData only by default");
    let started = bare["calls"][0]["metaData"]["started"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "ISO-8601: {started}"
    );

    let basic = json!({"filter": {}, "contentSelector": {"context": "Basic",
        "exposedFields": {"content": {"trackers": true}, "media": true}}});
    let (_, body) = api.post("/v2/calls/extensive", basic).await;
    let calls = body["calls"].as_array().unwrap();
    let external = calls
        .iter()
        .find(|c| c["metaData"]["scope"] == "External")
        .unwrap();
    let objects = external["context"][0]["objects"].as_array().unwrap();
    assert!(
        objects.iter().all(|o| o["fields"] == json!([])),
        "Basic has no values"
    );
    assert!(
        calls
            .iter()
            .all(|c| c["parties"].is_null() && c["interaction"].is_null())
    );
    let trackers: Vec<&Value> = calls
        .iter()
        .flat_map(|c| c["content"]["trackers"].as_array().unwrap())
        .collect();
    assert!(!trackers.is_empty() && trackers.iter().all(|t| t["occurrences"].is_null()));
    assert!(
        external["media"]["audioUrl"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Expires=28799")
    );

    let crm = api
        .sim
        .calls()
        .into_iter()
        .flat_map(|c| c["context"].as_array().cloned().unwrap_or_default());
    let amounts: Vec<Value> = crm
        .flat_map(|s| s["objects"].as_array().cloned().unwrap_or_default())
        .flat_map(|o| o["fields"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["name"] == "Amount")
        .map(|f| f["value"].clone())
        .collect();
    assert!(amounts.iter().any(|a| a.as_u64().unwrap() >= 100_000));
    api.stop().await;
}

#[tokio::test]
async fn one_seed_one_corpus() {
    let a = sim(|c| c.calls = 30).await;
    let b = sim(|c| c.calls = 30).await;
    let c = sim(|c| {
        c.calls = 30;
        c.seed = 7;
    })
    .await;
    let ids = |s: &SimHandle| -> Vec<Value> {
        s.calls()
            .iter()
            .map(|c| c["metaData"]["id"].clone())
            .collect()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn other_endpoints_answer_in_gong_shapes() {
    let api = Api::start(|_| {}).await;
    let (status, users) = api.get("/v2/users").await;
    assert_eq!(status, 200);
    let user_ids: BTreeSet<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    for c in api.sim.calls() {
        for p in c["parties"].as_array().unwrap() {
            if let Some(u) = p["userId"].as_str() {
                assert!(user_ids.contains(u), "parties' users are listed");
            }
        }
    }
    let first = users["users"][0].clone();
    let (status, one) = api
        .get(&format!("/v2/users/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!((status, &one["user"]), (200, &first));
    assert_eq!(api.get("/v2/users/42").await.0, 404);
    let (status, _) = api
        .post(
            "/v2/users/extensive",
            json!({"filter": {"userIds": [first["id"]]}}),
        )
        .await;
    assert_eq!(status, 200);

    let today = chrono::Utc::now().date_naive();
    let period = json!({"filter": {"fromDate": (today - chrono::Duration::days(31)).to_string(),
                                   "toDate": (today + chrono::Duration::days(1)).to_string()}});
    for (path, key) in [
        ("/v2/stats/interaction", "peopleInteractionStats"),
        (
            "/v2/stats/activity/aggregate",
            "usersAggregateActivityStats",
        ),
        ("/v2/stats/activity/day-by-day", "usersDetailedActivities"),
    ] {
        let (status, body) = api.post(path, period.clone()).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body[key].as_array().unwrap().is_empty(), "{path}");
    }
    let (status, cards) = api
        .post("/v2/stats/activity/scorecards", json!({"filter": {}}))
        .await;
    assert_eq!(status, 200);
    assert!(cards["answeredScorecards"][0]["answeredScorecardId"].is_u64());
    let (_, trackers) = api.get("/v2/settings/trackers").await;
    assert!(
        trackers["keywordTrackers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["trackerName"] == "Competitors")
    );
    let (_, ws) = api.get("/v2/workspaces").await;
    assert_eq!(ws["workspaces"].as_array().unwrap().len(), 2);

    let meeting = json!({"startTime": "2030-01-01T10:00:00-08:00", "endTime": "2030-01-01T10:30:00-08:00",
        "invitees": [{"email": "hank@globex.com"}], "organizerEmail": first["emailAddress"]});
    let (status, made) = api.post("/v2/meetings", meeting.clone()).await;
    assert_eq!(status, 200, "{made}");
    let mid = made["meetingId"].as_str().unwrap();
    let (_, refs) = api
        .get("/v2/data-privacy/data-for-email-address?emailAddress=hank@globex.com")
        .await;
    assert_eq!(refs["meetings"], json!([{"id": mid}]));
    let path = format!("/v2/meetings/{mid}");
    let moved = api.request(reqwest::Method::PUT, &path).json(&meeting);
    assert_eq!(moved.send().await.unwrap().status(), 200);
    let deleted = api.request(reqwest::Method::DELETE, &path);
    assert_eq!(deleted.send().await.unwrap().status(), 200);
    let contact = api
        .sim
        .calls()
        .iter()
        .flat_map(|c| c["parties"].as_array().cloned().unwrap())
        .find(|p| p["affiliation"] == "External")
        .unwrap()["emailAddress"]
        .clone();
    let (_, refs) = api
        .get(&format!(
            "/v2/data-privacy/data-for-email-address?emailAddress={}",
            contact.as_str().unwrap()
        ))
        .await;
    assert!(!refs["calls"].as_array().unwrap().is_empty());
    api.stop().await;
}

#[tokio::test]
async fn rule_key_reads_pkcs8_and_shows_bare_spki() {
    let key = RuleKey::from_pkcs8_pem(&read_data("gong_rule_a.key.pem")).unwrap();
    assert_eq!(
        key.public_key_base64(),
        read_data("gong_rule_a.pub.b64").trim()
    );
    let again = RuleKey::from_pkcs8_pem(&RuleKey::generate().to_pkcs8_pem());
    assert!(again.is_ok());
    assert!(RuleKey::from_pkcs8_pem("not a key").is_err());
}
