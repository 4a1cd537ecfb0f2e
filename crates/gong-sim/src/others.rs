//! The endpoints around calls: users, stats, trackers, workspaces, meetings and the
//! data-privacy look-up. Small, but derived from the same corpus so numbers agree with it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use chrono::{DateTime, Duration as Span, FixedOffset, NaiveDate, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::Sim;
use super::api::{json_body, parse_time};
use super::corpus::{Call, gong_id, iso};
use super::pages::filter_key;
use super::reply::{ApiError, ApiResult, ok};
use super::text::{MANAGERS, TRACKERS};

pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/v2/users", get(list_users))
        .route("/v2/users/{id}", get(get_user))
        .route("/v2/users/extensive", post(users_extensive))
        .route("/v2/stats/interaction", post(stats_interaction))
        .route("/v2/stats/activity/aggregate", post(stats_aggregate))
        .route("/v2/stats/activity/day-by-day", post(stats_daily))
        .route("/v2/stats/activity/scorecards", post(scorecards))
        .route("/v2/settings/trackers", get(trackers))
        .route("/v2/workspaces", get(workspaces))
        .route("/v2/meetings", post(create_meeting))
        .route(
            "/v2/meetings/{id}",
            put(update_meeting).delete(delete_meeting),
        )
        .route(
            "/v2/data-privacy/data-for-email-address",
            get(data_for_email),
        )
}

fn users(sim: &Sim) -> Vec<Value> {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    g.users.iter().map(|u| u.json.clone()).collect()
}

async fn list_users(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let all = users(&sim);
    let (range, records) =
        sim.paging
            .page(all.len(), q.get("cursor").map(String::as_str), "users")?;
    Ok(ok(json!({"records": records, "users": all[range]})))
}

async fn get_user(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> ApiResult {
    users(&sim)
        .into_iter()
        .find(|u| u["id"] == id.as_str())
        .map(|u| ok(json!({"user": u})))
        .ok_or_else(|| ApiError::not_found(format!("User {id} was not found")))
}

async fn users_extensive(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let f = &body["filter"];
    let from = parse_time(&f["createdFromDateTime"], "createdFromDateTime")?;
    let to = parse_time(&f["createdToDateTime"], "createdToDateTime")?;
    let ids: Option<Vec<String>> = f["userIds"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect()
    });
    let hits: Vec<Value> = users(&sim)
        .into_iter()
        .filter(|u| {
            let created = u["created"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            let id = u["id"].as_str().unwrap_or_default();
            ids.as_ref().is_none_or(|s| s.iter().any(|x| x == id))
                && from.is_none_or(|f| created.is_some_and(|c| c >= f))
                && to.is_none_or(|t| created.is_some_and(|c| c < t))
        })
        .collect();
    let key = filter_key("users/extensive", f);
    let (range, records) = sim.paging.page(hits.len(), body["cursor"].as_str(), &key)?;
    if hits.is_empty() {
        return Err(ApiError::not_found(
            "No users found corresponding to the provided filters",
        ));
    }
    Ok(ok(json!({"records": records, "users": hits[range]})))
}

/// Stats days are dates in the company's time zone (assumed US/Pacific, summer offset).
fn company_tz() -> FixedOffset {
    FixedOffset::west_opt(7 * 3600).expect("valid offset")
}

fn parse_date(v: &Value, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    match v.as_str() {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(format!("filter.{name}: '{s}' is not a YYYY-MM-DD date"))
            }),
    }
}

/// `fromDate` inclusive, `toDate` exclusive, both required, as for Gong's stats.
fn period(f: &Value, from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let a = parse_date(&f[from], from)?
        .ok_or_else(|| ApiError::bad_request(format!("filter.{from}: must not be null")))?;
    let b = parse_date(&f[to], to)?
        .ok_or_else(|| ApiError::bad_request(format!("filter.{to}: must not be null")))?;
    if a >= b {
        return Err(ApiError::bad_request(format!(
            "filter.{from}: must be before {to}"
        )));
    }
    Ok((a, b))
}

fn day_of(c: &Call) -> NaiveDate {
    c.started.with_timezone(&company_tz()).date_naive()
}

fn midnight(d: NaiveDate) -> String {
    let t = d
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(company_tz()).single());
    t.map(|t| iso(t, 0)).unwrap_or_default()
}

/// The users a stats filter names (all when it names none).
fn stat_users(sim: &Sim, f: &Value) -> Vec<Value> {
    let ids: Option<Vec<&str>> = f["userIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    users(sim)
        .into_iter()
        .filter(|u| {
            ids.as_ref()
                .is_none_or(|s| s.contains(&u["id"].as_str().unwrap_or_default()))
        })
        .collect()
}

fn involved(c: &Call, user: &str) -> (bool, bool) {
    let host = c.meta("primaryUserId") == Some(user);
    let attended = c.data["parties"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["userId"] == user));
    (host, attended && !host)
}

fn envelope(body: Value, from: NaiveDate, to: NaiveDate, n: usize) -> Value {
    let mut b = body;
    b["records"] = json!({"totalRecords": n, "currentPageSize": n, "currentPageNumber": 0});
    b["timeZone"] = json!("US/Pacific");
    b["fromDateTime"] = json!(midnight(from));
    b["toDateTime"] = json!(midnight(to));
    b
}

async fn stats_interaction(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    let calls = sim.read_calls();
    let mut people = Vec::new();
    for u in stat_users(&sim, &f) {
        let id = u["id"].as_str().unwrap_or_default();
        let mine: Vec<&Call> = calls
            .iter()
            .filter(|c| (from..to).contains(&day_of(c)) && involved(c, id).0)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let avg = |name: &str| {
            let sum: f64 = mine
                .iter()
                .filter_map(|c| {
                    c.data["interaction"]["interactionStats"]
                        .as_array()?
                        .iter()
                        .find(|s| s["name"] == name)?["value"]
                        .as_f64()
                })
                .sum();
            (sum / mine.len() as f64 * 100.0).round() / 100.0
        };
        let questions: f64 = mine
            .iter()
            .filter_map(|c| c.data["interaction"]["questions"]["companyCount"].as_f64())
            .sum();
        people.push(json!({"userId": id, "userEmailAddress": u["emailAddress"], "personInteractionStats": [
            {"name": "Longest Monologue", "value": avg("Longest Monologue")},
            {"name": "Longest Customer Story", "value": avg("Longest Customer Story")},
            {"name": "Interactivity", "value": avg("Interactivity")},
            {"name": "Patience", "value": avg("Patience")},
            {"name": "Question Rate", "value": (questions / mine.len() as f64 * 100.0).round() / 100.0},
        ]}));
    }
    if people.is_empty() {
        return Err(ApiError::not_found(
            "No stats found corresponding to the provided filters",
        ));
    }
    let n = people.len();
    Ok(ok(envelope(
        json!({"peopleInteractionStats": people}),
        from,
        to,
        n,
    )))
}

const ACTIVITIES: &[&str] = &[
    "callsGaveFeedback",
    "callsRequestedFeedback",
    "callsReceivedFeedback",
    "ownCallsListenedTo",
    "othersCallsListenedTo",
    "callsSharedInternally",
    "callsSharedExternally",
    "callsScorecardsFilled",
    "callsScorecardsReceived",
    "callsCommentsGiven",
    "callsCommentsReceived",
    "callsMarkedAsFeedbackGiven",
    "callsMarkedAsFeedbackReceived",
];

/// Per user, the calls they hosted and attended among `calls` (ids).
fn activity(calls: &[&Call], user: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut hosted, mut attended, mut commented) = (vec![], vec![], vec![]);
    for c in calls {
        let (h, a) = involved(c, user);
        if h {
            hosted.push(c.id.clone());
        }
        if a {
            attended.push(c.id.clone());
        }
        let comments = c.data["collaboration"]["publicComments"].as_array();
        if comments.is_some_and(|cs| cs.iter().any(|x| x["commenterUserId"] == user)) {
            commented.push(c.id.clone());
        }
    }
    (hosted, attended, commented)
}

async fn stats_aggregate(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    let all = sim.read_calls();
    let calls: Vec<&Call> = all
        .iter()
        .filter(|c| (from..to).contains(&day_of(c)))
        .collect();
    let out: Vec<Value> = stat_users(&sim, &f)
        .iter()
        .map(|u| {
            let (h, a, c) = activity(&calls, u["id"].as_str().unwrap_or_default());
            let mut s = json!({"callsAsHost": h.len(), "callsAttended": a.len()});
            for k in ACTIVITIES {
                s[*k] = json!(0);
            }
            s["callsCommentsGiven"] = json!(c.len());
            json!({"userId": u["id"], "userEmailAddress": u["emailAddress"], "userAggregateActivityStats": s})
        })
        .collect();
    let n = out.len();
    Ok(ok(envelope(
        json!({"usersAggregateActivityStats": out}),
        from,
        to,
        n,
    )))
}

async fn stats_daily(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    if (to - from).num_days() > 366 {
        return Err(ApiError::bad_request(
            "filter: the period may not exceed a year",
        ));
    }
    let all = sim.read_calls();
    let out: Vec<Value> = stat_users(&sim, &f)
        .iter()
        .map(|u| {
            let id = u["id"].as_str().unwrap_or_default();
            let days: Vec<Value> = from
                .iter_days()
                .take_while(|d| *d < to)
                .filter_map(|d| {
                    let calls: Vec<&Call> = all.iter().filter(|c| day_of(c) == d).collect();
                    let (h, a, c) = activity(&calls, id);
                    if h.is_empty() && a.is_empty() {
                        return None;
                    }
                    let mut s = json!({"callsAsHost": h, "callsAttended": a});
                    for k in ACTIVITIES {
                        s[*k] = json!([]);
                    }
                    s["callsCommentsGiven"] = json!(c);
                    s["fromDate"] = json!(midnight(d));
                    s["toDate"] = json!(midnight(d.succ_opt().unwrap_or(d)));
                    Some(s)
                })
                .collect();
            json!({"userId": id, "userEmailAddress": u["emailAddress"], "userDailyActivityStats": days})
        })
        .collect();
    let n = out.len();
    Ok(ok(envelope(
        json!({"usersDetailedActivities": out}),
        from,
        to,
        n,
    )))
}

/// A quarter of external calls have an answered scorecard. Ids are numbers here, as the
/// spec types them for this endpoint only.
async fn scorecards(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let f = &body["filter"];
    let call_from = parse_date(&f["callFromDate"], "callFromDate")?;
    let call_to = parse_date(&f["callToDate"], "callToDate")?;
    let review_from = parse_date(&f["reviewFromDate"], "reviewFromDate")?;
    let review_to = parse_date(&f["reviewToDate"], "reviewToDate")?;
    let reviewed: Option<Vec<String>> = f["reviewedUserIds"].as_array().map(|a| {
        a.iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
            .collect()
    });
    let managers: Vec<String> = {
        let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
        MANAGERS.iter().map(|&m| g.users[m].id.clone()).collect()
    };
    let num = |s: &str| s.parse::<u64>().unwrap_or(0);
    let calls = sim.read_calls();
    let cards: Vec<Value> = calls
        .iter()
        .filter(|c| num(&c.id) % 4 == 0 && c.meta("scope") == Some("External"))
        .filter_map(|c| {
            let host = c.meta("primaryUserId")?;
            let reviewed_at = c.started + Span::hours(20);
            let day = day_of(c);
            let rday = reviewed_at.with_timezone(&company_tz()).date_naive();
            let within = |d: NaiveDate, a: Option<NaiveDate>, b: Option<NaiveDate>| {
                a.is_none_or(|a| d >= a) && b.is_none_or(|b| d < b)
            };
            if !within(day, call_from, call_to)
                || !within(rday, review_from, review_to)
                || reviewed.as_ref().is_some_and(|r| !r.iter().any(|x| x == host))
            {
                return None;
            }
            let id = num(&c.id);
            let score = |k: u64| (id / k) % 5 + 1;
            Some(json!({
                "answeredScorecardId": id / 3 + 17, "scorecardId": 563515258458745u64,
                "scorecardName": "Discovery quality", "callId": id,
                "callStartTime": c.data["metaData"]["started"],
                "reviewedUserId": num(host), "reviewerUserId": num(&managers[(id % 2) as usize]),
                "reviewTime": iso(reviewed_at, 3), "visibilityType": "PUBLIC",
                "answers": [
                    {"questionId": 7001, "questionRevisionId": 7101, "isOverall": true, "score": score(7),
                     "answerText": null, "notApplicable": false, "selectedOptions": null},
                    {"questionId": 7002, "questionRevisionId": 7102, "isOverall": false, "score": score(11),
                     "answerText": "Good discovery of pain points.", "notApplicable": false, "selectedOptions": null},
                    {"questionId": 7003, "questionRevisionId": 7103, "isOverall": false, "score": null,
                     "answerText": null, "notApplicable": true, "selectedOptions": null},
                ],
            }))
        })
        .collect();
    let key = filter_key("scorecards", f);
    let (range, records) = sim
        .paging
        .page(cards.len(), body["cursor"].as_str(), &key)?;
    if cards.is_empty() {
        return Err(ApiError::not_found(
            "No answered scorecards found corresponding to the provided filters",
        ));
    }
    Ok(ok(
        json!({"records": records, "answeredScorecards": cards[range]}),
    ))
}

async fn trackers(State(sim): State<Arc<Sim>>) -> ApiResult {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    let admin = &g.users[MANAGERS[0]];
    let created = iso(
        (Utc::now() - Span::days(200)).with_timezone(&admin.offset),
        0,
    );
    let list: Vec<Value> = TRACKERS
        .iter()
        .zip(&g.tracker_ids)
        .map(|((name, phrases), id)| {
            json!({
                "trackerId": id, "trackerName": name, "workspaceId": g.workspaces[0].id,
                "languageKeywords": [{"language": "eng", "keywords": phrases, "includeRelatedForms": false}],
                "affiliation": "Anyone", "partOfQuestion": false, "saidAt": "Anytime",
                "saidAtInterval": null, "saidAtUnit": null, "saidInTopics": [], "saidInCallParts": [],
                "filterQuery": "", "created": created, "creatorUserId": admin.id,
                "updated": created, "updaterUserId": admin.id,
            })
        })
        .collect();
    Ok(ok(json!({"keywordTrackers": list})))
}

async fn workspaces(State(sim): State<Arc<Sim>>) -> ApiResult {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Value> = g
        .workspaces
        .iter()
        .map(|w| json!({"id": w.id, "name": w.name, "description": w.description}))
        .collect();
    Ok(ok(json!({"workspaces": list})))
}

/// Validates a meeting body; returns the organizer's email and user name part.
fn meeting_body(sim: &Sim, body: &Value) -> Result<(String, String), ApiError> {
    for field in ["startTime", "endTime", "organizerEmail"] {
        if !body[field].is_string() {
            return Err(ApiError::bad_request(format!("{field}: must not be null")));
        }
    }
    if !body["invitees"].is_array() {
        return Err(ApiError::bad_request("invitees: must not be null"));
    }
    let start = parse_time(&body["startTime"], "startTime")?;
    let end = parse_time(&body["endTime"], "endTime")?;
    if start >= end {
        return Err(ApiError::bad_request("startTime: must be before endTime"));
    }
    let organizer = body["organizerEmail"].as_str().unwrap_or_default();
    let known = users(sim).iter().any(|u| u["emailAddress"] == organizer);
    if !known {
        return Err(ApiError::not_found(
            "No Gong user found corresponding to the provided organizer email",
        ));
    }
    let name = organizer.split('@').next().unwrap_or_default().to_string();
    Ok((organizer.to_string(), name))
}

async fn create_meeting(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let (_, name) = meeting_body(&sim, &body)?;
    let id = gong_id(&mut rand::rng());
    let token: String = {
        let mut rng = rand::rng();
        (0..22)
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect()
    };
    let url = format!("https://join.gong.io/acme/{name}?tkn={token}");
    let mut stored = body.clone();
    stored["meetingUrl"] = json!(url);
    sim.meetings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), stored);
    Ok(ok(
        json!({"meetingId": id, "meetingUrl": url, "additionalInvitees": []}),
    ))
}

async fn update_meeting(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    meeting_body(&sim, &body)?;
    let mut meetings = sim.meetings.lock().unwrap_or_else(|e| e.into_inner());
    let Some(m) = meetings.get_mut(&id) else {
        return Err(ApiError::not_found(
            "No meeting found corresponding to the provided meeting ID",
        ));
    };
    let url = m["meetingUrl"].clone();
    *m = body;
    m["meetingUrl"] = url;
    Ok(ok(json!({"meetingId": id})))
}

async fn delete_meeting(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = json_body(&body)?;
    let mut meetings = sim.meetings.lock().unwrap_or_else(|e| e.into_inner());
    let found = meetings.get(&id).is_some_and(|m| {
        body["organizerEmail"].is_null() || m["organizerEmail"] == body["organizerEmail"]
    });
    if !found {
        return Err(ApiError::not_found(
            "No Gong meeting found corresponding to the provided organizer email",
        ));
    }
    meetings.remove(&id);
    Ok(ok(json!({})))
}

/// Every reference to an address: calls it took part in, meetings it was invited to, and
/// (made-up) emails when it belongs to someone in the corpus.
async fn data_for_email(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let Some(email) = q.get("emailAddress").filter(|e| e.contains('@')) else {
        return Err(ApiError::bad_request(
            "emailAddress: must be a valid email address",
        ));
    };
    let email = email.to_lowercase();
    let calls = sim.read_calls();
    let hits: Vec<&Call> = calls
        .iter()
        .filter(|c| {
            c.data["parties"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["emailAddress"].as_str().map(str::to_lowercase) == Some(email.clone())
                })
            })
        })
        .collect();
    let call_refs: Vec<Value> = hits
        .iter()
        .map(|c| {
            let systems: Vec<Value> = c.data["context"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| json!({"system": s["system"], "objects": s["objects"].as_array().into_iter().flatten()
                    .map(|o| json!({"objectType": o["objectType"], "objectId": o["objectId"]})).collect::<Vec<_>>()}))
                .collect();
            json!({"id": c.id, "status": "COMPLETED", "externalSystems": systems})
        })
        .collect();
    let emails: Vec<Value> = hits
        .iter()
        .take(2)
        .map(|c| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c.id.as_bytes());
            let h = hex::encode(digest.as_ref());
            json!({"id": &h[..32], "from": email, "sentTime": iso(c.started + Span::hours(2), 0),
                   "mailbox": c.meta("primaryUserId"), "messageHash": &h[32..]})
        })
        .collect();
    let meetings: Vec<Value> = sim
        .meetings
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, m)| {
            m["invitees"].as_array().is_some_and(|is| {
                is.iter()
                    .any(|i| i["email"].as_str().map(str::to_lowercase) == Some(email.clone()))
            })
        })
        .map(|(id, _)| json!({"id": id}))
        .collect();
    Ok(ok(
        json!({"emails": emails, "calls": call_refs, "meetings": meetings,
                 "customerData": [], "customerEngagement": []}),
    ))
}
