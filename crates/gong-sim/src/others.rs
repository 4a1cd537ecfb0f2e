//! The endpoints around calls: users, trackers, workspaces, meetings and the data-privacy
//! look-up (the stats are in `stats`). Small, but derived from the same corpus.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use chrono::{Duration as Span, Utc};
use gong_api::models::{
    EmailAddressReferences, EmailReference, GongId, KeywordTracker, MeetingResponse, Reference,
    User,
};
use rand::Rng;
use serde_json::{Value, json};

use super::api::{json_body, parse_time};
use super::corpus::{Call, gong_id};
use super::pages::filter_key;
use super::reply::{ApiError, ApiResult, ok};
use super::text::{MANAGERS, TRACKERS};
use super::wire::{at_digits, iso};
use super::{Sim, stats};

pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/v2/users", get(list_users))
        .route("/v2/users/{id}", get(get_user))
        .route("/v2/users/extensive", post(users_extensive))
        .route("/v2/stats/interaction", post(stats::stats_interaction))
        .route("/v2/stats/activity/aggregate", post(stats::stats_aggregate))
        .route("/v2/stats/activity/day-by-day", post(stats::stats_daily))
        .route("/v2/stats/activity/scorecards", post(stats::scorecards))
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

pub(crate) fn users(sim: &Sim) -> Vec<User> {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    g.users.iter().map(|u| u.model.clone()).collect()
}

/// A filter's list of ids, numbers or strings, as strings (`None` when it has none).
pub(crate) fn id_list(v: &Value) -> Option<Vec<String>> {
    let id = |v: &Value| v.as_str().map_or_else(|| v.to_string(), String::from);
    v.as_array().map(|a| a.iter().map(id).collect())
}

pub(crate) fn id_of(id: &Option<GongId>) -> &str {
    id.as_ref().map_or("", GongId::as_str)
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
        .find(|u| id_of(&u.id) == id)
        .map(|u| ok(json!({"user": u})))
        .ok_or_else(|| ApiError::not_found(format!("User {id} was not found")))
}

async fn users_extensive(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let f = &body["filter"];
    let from = parse_time(&f["createdFromDateTime"], "createdFromDateTime")?;
    let to = parse_time(&f["createdToDateTime"], "createdToDateTime")?;
    let ids = id_list(&f["userIds"]);
    let hits: Vec<User> = users(&sim)
        .into_iter()
        .filter(|u| {
            let created = u.created.map(|t| t.with_timezone(&Utc));
            let id = id_of(&u.id);
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

async fn trackers(State(sim): State<Arc<Sim>>) -> ApiResult {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    let admin = &g.users[MANAGERS[0]];
    let created = iso(
        (Utc::now() - Span::days(200)).with_timezone(&admin.offset),
        0,
    );
    let list: Vec<KeywordTracker> = TRACKERS
        .iter()
        .zip(&g.tracker_ids)
        .map(|((name, phrases), id)| {
            // The rule's settings, which no client reads: kept as Gong's untyped rest.
            let other = json!({
                "partOfQuestion": false, "saidAt": "Anytime", "saidAtInterval": null,
                "saidAtUnit": null, "saidInTopics": [], "saidInCallParts": [],
                "filterQuery": "", "created": created, "creatorUserId": admin.id,
                "updated": created, "updaterUserId": admin.id,
            });
            KeywordTracker {
                tracker_id: Some(GongId(id.clone())),
                tracker_name: Some(name.to_string()),
                workspace_id: g.workspaces[0].id.clone(),
                language_keywords: vec![
                    json!({"language": "eng", "keywords": phrases, "includeRelatedForms": false}),
                ],
                affiliation: Some("Anyone".into()),
                enabled: None,
                other: serde_json::from_value(other).unwrap_or_default(),
            }
        })
        .collect();
    Ok(ok(json!({"keywordTrackers": list})))
}

async fn workspaces(State(sim): State<Arc<Sim>>) -> ApiResult {
    let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
    Ok(ok(json!({"workspaces": g.workspaces})))
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
    let known = users(sim)
        .iter()
        .any(|u| u.email_address.as_deref() == Some(organizer));
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
    Ok(ok(json!(MeetingResponse {
        meeting_id: Some(GongId(id)),
        meeting_url: Some(url),
        ..MeetingResponse::default()
    })))
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
    m["meetingUrl"] = url.clone();
    Ok(ok(json!(MeetingResponse {
        meeting_id: Some(GongId(id)),
        meeting_url: url.as_str().map(String::from),
        ..MeetingResponse::default()
    })))
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
            c.data
                .parties
                .iter()
                .any(|p| p.email_address.as_deref().map(str::to_lowercase) == Some(email.clone()))
        })
        .collect();
    let call_refs: Vec<Reference> = hits
        .iter()
        .map(|c| {
            let systems: Vec<Value> = c
                .data
                .context
                .iter()
                .map(|s| {
                    let objects: Vec<Value> = s
                        .objects
                        .iter()
                        .map(|o| json!({"objectType": o.object_type, "objectId": o.object_id}))
                        .collect();
                    json!({"system": s.system, "objects": objects})
                })
                .collect();
            Reference {
                id: Some(GongId(c.id.clone())),
                status: Some("COMPLETED".into()),
                other: [("externalSystems".to_string(), json!(systems))].into(),
            }
        })
        .collect();
    let emails: Vec<EmailReference> = hits
        .iter()
        .take(2)
        .map(|c| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c.id.as_bytes());
            let h = hex::encode(digest.as_ref());
            EmailReference {
                id: Some(h[..32].into()),
                from: Some(email.clone()),
                sent_time: Some(at_digits(c.started + Span::hours(2), 0)),
                mailbox: c.host().map(String::from),
                message_hash: Some(h[32..].into()),
            }
        })
        .collect();
    let meetings: Vec<Reference> = sim
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
        .map(|(id, _)| Reference {
            id: Some(GongId(id.clone())),
            ..Reference::default()
        })
        .collect();
    Ok(ok(json!(EmailAddressReferences {
        emails,
        calls: call_refs,
        meetings,
        ..EmailAddressReferences::default()
    })))
}
