//! Gong's stats endpoints (routed in `others`): interaction stats, activity (aggregate
//! and day by day) and answered scorecards, per user over a period of company-zone days, derived from the
//! corpus so their numbers agree with the calls.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, Duration as Span, FixedOffset, NaiveDate};
use gong_api::models::{
    AnsweredScorecard, DailyActivity, GongId, NamedValue, PersonInteractionStats, Records,
    ScorecardAnswer, User, UserAggregateActivity, UserDailyActivity,
};
use serde_json::{Map, Value, json};

use super::Sim;
use super::api::json_body;
use super::corpus::Call;
use super::others::{id_list, id_of, users};
use super::pages::filter_key;
use super::reply::{ApiError, ApiResult, ok};
use super::text::MANAGERS;
use super::wire::{at_digits, ids_as_numbers, iso, null_lists};

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

fn midnight(d: NaiveDate) -> Option<DateTime<FixedOffset>> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(company_tz()).single())
}

/// The users a stats filter names (all when it names none).
fn stat_users(sim: &Sim, f: &Value) -> Vec<User> {
    let ids: Option<Vec<&str>> = f["userIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    users(sim)
        .into_iter()
        .filter(|u| ids.as_ref().is_none_or(|s| s.contains(&id_of(&u.id))))
        .collect()
}

fn involved(c: &Call, user: &str) -> (bool, bool) {
    let host = c.host() == Some(user);
    let attended = c.data.parties.iter().any(|p| id_of(&p.user_id) == user);
    (host, attended && !host)
}

/// A stats answer: one page of `items` under `key`, and the period in the company's zone
/// (these three envelope fields are in no model: clients do not read them).
fn envelope(key: &str, items: Value, from: NaiveDate, to: NaiveDate) -> Value {
    let n = items.as_array().map_or(0, Vec::len) as i64;
    let records = Records {
        total_records: Some(n),
        current_page_size: Some(n),
        current_page_number: Some(0),
        cursor: None,
    };
    let mut b = json!({"records": records, "timeZone": "US/Pacific"});
    b["fromDateTime"] = json!(midnight(from).map(|t| iso(t, 0)));
    b["toDateTime"] = json!(midnight(to).map(|t| iso(t, 0)));
    b[key] = items;
    b
}

pub(crate) async fn stats_interaction(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    let calls = sim.read_calls();
    let mut people = Vec::new();
    for u in stat_users(&sim, &f) {
        let id = id_of(&u.id);
        let mine: Vec<&Call> = calls
            .iter()
            .filter(|c| (from..to).contains(&day_of(c)) && involved(c, id).0)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let interactions = || mine.iter().filter_map(|c| c.data.interaction.as_ref());
        let per_call = |sum: f64| (sum / mine.len() as f64 * 100.0).round() / 100.0;
        let avg = |name: &str| {
            let stats = interactions().flat_map(|i| &i.interaction_stats);
            let sum = stats
                .filter(|s| s.name.as_deref() == Some(name))
                .filter_map(|s| s.value)
                .sum();
            NamedValue {
                name: Some(name.into()),
                value: Some(per_call(sum)),
            }
        };
        let questions = interactions()
            .filter_map(|i| i.questions.as_ref()?.company_count)
            .sum();
        people.push(PersonInteractionStats {
            user_id: u.id.clone(),
            user_email_address: u.email_address.clone(),
            person_interaction_stats: vec![
                avg("Longest Monologue"),
                avg("Longest Customer Story"),
                avg("Interactivity"),
                avg("Patience"),
                NamedValue {
                    name: Some("Question Rate".into()),
                    value: Some(per_call(questions)),
                },
            ],
        });
    }
    if people.is_empty() {
        return Err(ApiError::not_found(
            "No stats found corresponding to the provided filters",
        ));
    }
    Ok(ok(envelope(
        "peopleInteractionStats",
        json!(people),
        from,
        to,
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
        let comments = c.data.collaboration.iter().flat_map(|x| &x.public_comments);
        if comments
            .into_iter()
            .any(|x| id_of(&x.commenter_user_id) == user)
        {
            commented.push(c.id.clone());
        }
    }
    (hosted, attended, commented)
}

/// One count per activity, or the list of call ids per activity (day by day).
fn activities(hosted: Value, attended: Value, commented: Value, none: Value) -> Map<String, Value> {
    let mut s: Map<String, Value> = ACTIVITIES
        .iter()
        .map(|k| (k.to_string(), none.clone()))
        .collect();
    s.insert("callsAsHost".into(), hosted);
    s.insert("callsAttended".into(), attended);
    s.insert("callsCommentsGiven".into(), commented);
    s
}

pub(crate) async fn stats_aggregate(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    let all = sim.read_calls();
    let calls: Vec<&Call> = all
        .iter()
        .filter(|c| (from..to).contains(&day_of(c)))
        .collect();
    let out: Vec<UserAggregateActivity> = stat_users(&sim, &f)
        .into_iter()
        .map(|u| {
            let (h, a, c) = activity(&calls, id_of(&u.id));
            let counts = activities(json!(h.len()), json!(a.len()), json!(c.len()), json!(0));
            UserAggregateActivity {
                user_id: u.id,
                user_email_address: u.email_address,
                user_aggregate_activity_stats: counts.into_iter().collect(),
            }
        })
        .collect();
    Ok(ok(envelope(
        "usersAggregateActivityStats",
        json!(out),
        from,
        to,
    )))
}

pub(crate) async fn stats_daily(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let f = json_body(&body)?["filter"].clone();
    let (from, to) = period(&f, "fromDate", "toDate")?;
    if (to - from).num_days() > 366 {
        return Err(ApiError::bad_request(
            "filter: the period may not exceed a year",
        ));
    }
    let all = sim.read_calls();
    let out: Vec<UserDailyActivity> = stat_users(&sim, &f)
        .into_iter()
        .map(|u| {
            let id = id_of(&u.id);
            let days: Vec<DailyActivity> = from
                .iter_days()
                .take_while(|d| *d < to)
                .filter_map(|d| {
                    let calls: Vec<&Call> = all.iter().filter(|c| day_of(c) == d).collect();
                    let (h, a, c) = activity(&calls, id);
                    if h.is_empty() && a.is_empty() {
                        return None;
                    }
                    let ids = activities(json!(h), json!(a), json!(c), json!([]));
                    Some(DailyActivity {
                        from_date: midnight(d),
                        to_date: midnight(d.succ_opt().unwrap_or(d)),
                        activities: ids.into_iter().collect(),
                    })
                })
                .collect();
            UserDailyActivity {
                user_daily_activity_stats: days,
                user_id: u.id,
                user_email_address: u.email_address,
            }
        })
        .collect();
    Ok(ok(envelope(
        "usersDetailedActivities",
        json!(out),
        from,
        to,
    )))
}

/// The ids answered scorecards carry as numbers.
const SCORECARD_IDS: &[&str] = &[
    "answeredScorecardId",
    "scorecardId",
    "callId",
    "reviewedUserId",
    "reviewerUserId",
    "questionId",
    "questionRevisionId",
];

/// A quarter of external calls have an answered scorecard. Ids are numbers here, as the
/// spec types them for this endpoint only.
pub(crate) async fn scorecards(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let body = json_body(&body)?;
    let f = &body["filter"];
    let call_from = parse_date(&f["callFromDate"], "callFromDate")?;
    let call_to = parse_date(&f["callToDate"], "callToDate")?;
    let review_from = parse_date(&f["reviewFromDate"], "reviewFromDate")?;
    let review_to = parse_date(&f["reviewToDate"], "reviewToDate")?;
    let reviewed = id_list(&f["reviewedUserIds"]);
    let managers: Vec<String> = {
        let g = sim.generator.lock().unwrap_or_else(|e| e.into_inner());
        MANAGERS.iter().map(|&m| g.users[m].id.clone()).collect()
    };
    let num = |s: &str| s.parse::<u64>().unwrap_or(0);
    let calls = sim.read_calls();
    let cards: Vec<AnsweredScorecard> = calls
        .iter()
        .filter(|c| num(&c.id) % 4 == 0 && c.meta().scope.as_deref() == Some("External"))
        .filter_map(|c| {
            let host = c.host()?;
            let reviewed_at = c.started + Span::hours(20);
            let day = day_of(c);
            let rday = reviewed_at.with_timezone(&company_tz()).date_naive();
            let within = |d: NaiveDate, a: Option<NaiveDate>, b: Option<NaiveDate>| {
                a.is_none_or(|a| d >= a) && b.is_none_or(|b| d < b)
            };
            if !within(day, call_from, call_to)
                || !within(rday, review_from, review_to)
                || reviewed
                    .as_ref()
                    .is_some_and(|r| !r.iter().any(|x| x == host))
            {
                return None;
            }
            let id = num(&c.id);
            let score = |k: u64| Some(((id / k) % 5 + 1) as f64);
            let answer = |q: u64, overall, score, text: Option<&str>| ScorecardAnswer {
                question_id: Some(GongId(q.to_string())),
                question_revision_id: Some(GongId((q + 100).to_string())),
                is_overall: Some(overall),
                score,
                answer_text: text.map(String::from),
                not_applicable: Some(score.is_none()),
                selected_options: vec![],
            };
            Some(AnsweredScorecard {
                answered_scorecard_id: Some(GongId((id / 3 + 17).to_string())),
                scorecard_id: Some(GongId("563515258458745".into())),
                scorecard_name: Some("Discovery quality".into()),
                call_id: Some(GongId(c.id.clone())),
                call_start_time: c.meta().started,
                reviewed_user_id: Some(GongId(host.into())),
                reviewer_user_id: Some(GongId(managers[(id % 2) as usize].clone())),
                review_time: Some(at_digits(reviewed_at, 3)),
                visibility_type: Some("PUBLIC".into()),
                answers: vec![
                    answer(7001, true, score(7), None),
                    answer(
                        7002,
                        false,
                        score(11),
                        Some("Good discovery of pain points."),
                    ),
                    answer(7003, false, None, None),
                ],
            })
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
    let mut body = json!({"records": records, "answeredScorecards": &cards[range]});
    // Wire quirks of this endpoint: its ids are JSON numbers, and no options is `null`.
    ids_as_numbers(&mut body, SCORECARD_IDS);
    null_lists(&mut body, &["selectedOptions"]);
    Ok(ok(body))
}
