//! Seeded generation of users, calls and transcripts. The transcript is written first and
//! everything that summarises it (trackers, action items, talk times, questions) is derived
//! from it, so a client that cross-references the blocks finds them consistent, as in Gong.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration as Span, FixedOffset, SecondsFormat, Timelike, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::text::*;

/// One call as the simulator keeps it: the full callData (Extended context, every block
/// but `media`, which is signed per answer) and its transcript, plus when each becomes
/// visible through the API (Gong's processing lag).
#[derive(Clone)]
pub struct Call {
    pub id: String,
    pub started: DateTime<FixedOffset>,
    pub data: Value,
    pub transcript: Value,
    pub visible_at: Instant,
    pub transcript_at: Instant,
}

impl Call {
    pub fn meta(&self, field: &str) -> Option<&str> {
        self.data["metaData"][field].as_str()
    }
}

pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub title: &'static str,
    pub offset: FixedOffset,
    pub json: Value,
}

pub struct Workspace {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
}

/// Everything derived from the seed; `rng` keeps going for calls created at run time.
pub struct Generator {
    rng: StdRng,
    pub users: Vec<User>,
    pub workspaces: Vec<Workspace>,
    pub tracker_ids: Vec<String>,
}

pub fn gong_id(rng: &mut impl Rng) -> String {
    rng.random_range(1_000_000_000_000_000_000u64..=9_200_000_000_000_000_000)
        .to_string()
}

/// Gong prints local offsets and 0, 3 or 6 fractional digits; so do we.
pub fn iso(t: DateTime<FixedOffset>, digits: u8) -> String {
    let f = match digits {
        0 => SecondsFormat::Secs,
        3 => SecondsFormat::Millis,
        _ => SecondsFormat::Micros,
    };
    t.to_rfc3339_opts(f, false)
}

fn offset(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).expect("valid offset")
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let workspaces = vec![
            Workspace {
                id: gong_id(&mut rng),
                name: "Sales",
                description: "New business and expansion",
            },
            Workspace {
                id: gong_id(&mut rng),
                name: "Customer Success",
                description: "Onboarding and renewals",
            },
        ];
        let tracker_ids = TRACKERS.iter().map(|_| gong_id(&mut rng)).collect();
        let ids: Vec<String> = STAFF.iter().map(|_| gong_id(&mut rng)).collect();
        let offsets = [-7, -7, -4, -4, 0, 1, -7, -5, 2, -7, -4, -5];
        let anchor = Utc::now() - Span::days(400);
        let users = STAFF
            .iter()
            .enumerate()
            .map(|(i, (first, last, title))| {
                let email = format!(
                    "{}.{}@{SELLER_DOMAIN}",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                let manager = (!MANAGERS.contains(&i)).then(|| ids[MANAGERS[i % 2]].clone());
                let created = (anchor + Span::hours(rng.random_range(0..24 * 300)))
                    .with_timezone(&offset(offsets[i]));
                let json = json!({
                    "id": ids[i],
                    "emailAddress": email,
                    "created": iso(created, 0),
                    "active": true,
                    "emailAliases": [],
                    "trustedEmailAddress": null,
                    "firstName": first,
                    "lastName": last,
                    "title": title,
                    "phoneNumber": format!("+1 415-555-{:04}", rng.random_range(0..10_000)),
                    "extension": null,
                    "personalMeetingUrls": [format!("https://acme.zoom.us/my/{}", first.to_lowercase())],
                    "settings": {
                        "webConferencesRecorded": true,
                        "preventWebConferenceRecording": false,
                        "telephonyCallsImported": i % 3 == 0,
                        "emailsImported": true,
                        "preventEmailImport": false,
                        "nonRecordedMeetingsImported": true,
                        "gongConnectEnabled": true
                    },
                    "managerId": manager,
                    "meetingConsentPageUrl": null,
                    "spokenLanguages": [{"language": "en-US", "primary": true}],
                    "conferencingProviders": null
                });
                User {
                    id: ids[i].clone(),
                    email,
                    name: format!("{first} {last}"),
                    title,
                    offset: offset(offsets[i]),
                    json,
                }
            })
            .collect();
        Generator {
            rng,
            users,
            workspaces,
            tracker_ids,
        }
    }

    /// The seeded corpus: `n` calls started over the 30 days before `now`, oldest first.
    pub fn corpus(&mut self, n: usize, now: DateTime<Utc>, visible: Instant) -> Vec<Call> {
        // Anchored to the hour so two runs with one seed within the hour agree on times too.
        let anchor = now
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or(now);
        let mut calls: Vec<Call> = (0..n)
            .map(|_| {
                let ago = self.rng.random_range(3600..30 * 86_400);
                let micros = self.rng.random_range(0..1_000_000);
                let start = anchor - Span::seconds(ago) + Span::microseconds(micros);
                self.call(start, visible, visible)
            })
            .collect();
        calls.sort_by(|a, b| (a.started, &a.id).cmp(&(b.started, &b.id)));
        calls
    }

    /// A call that started at `start` (UTC; shown in the host's offset).
    pub fn call(
        &mut self,
        start: DateTime<Utc>,
        visible_at: Instant,
        transcript_at: Instant,
    ) -> Call {
        let rng = &mut self.rng;
        let id = gong_id(rng);
        let host = rng.random_range(0..self.users.len());
        let started = start.with_timezone(&self.users[host].offset);
        let customer = *CUSTOMERS.choose(rng).expect("customers");
        let competitor = *COMPETITORS.choose(rng).expect("competitors");
        let internal = rng.random_bool(0.1);
        let short = rng.random_bool(0.15);
        let renewal = !internal && rng.random_bool(0.3);
        let phone = !internal && rng.random_bool(0.15);
        let mentions_competitor = !internal && !short && rng.random_bool(0.35);
        let churn = renewal && !short && rng.random_bool(0.5) || !internal && rng.random_bool(0.05);
        let upsell = !internal && !churn && !short && rng.random_bool(0.2);
        let duration: u64 = if short {
            rng.random_range(75..299)
        } else {
            rng.random_range(900..3600)
        };

        // Parties: the host, sometimes a colleague, 1-3 speaking contacts, maybe a silent one.
        let mut parties = Vec::new();
        let mut hosts = vec![host];
        if rng.random_bool(0.4) {
            let other = rng.random_range(0..self.users.len());
            if other != host {
                hosts.push(other);
            }
        }
        for &u in &hosts {
            let user = &self.users[u];
            parties.push(json!({
                "id": gong_id(rng), "emailAddress": user.email, "name": user.name,
                "title": user.title, "userId": user.id, "speakerId": gong_id(rng),
                "context": [], "affiliation": "Internal",
                "methods": if u == host { json!(["Invitee", "Attendee"]) } else { json!(["Attendee"]) },
            }));
        }
        let (cust_name, cust_domain, _) = customer;
        let externals = if internal { 0 } else { rng.random_range(1..=3) };
        for _ in 0..externals {
            let first = *CONTACT_FIRST.choose(rng).expect("names");
            let last = *CONTACT_LAST.choose(rng).expect("names");
            let mut p = json!({
                "id": gong_id(rng),
                "emailAddress": format!("{}.{}@{cust_domain}", first.to_lowercase(), last.to_lowercase()),
                "name": format!("{first} {last}"),
                "speakerId": gong_id(rng),
                "context": [{"system": "Salesforce", "objects": [{
                    "objectType": "Contact", "objectId": sf_id(rng, "003"), "fields": [], "timing": "Now"}]}],
                "affiliation": "External", "methods": ["Invitee", "Attendee"],
            });
            // Like real data, some contacts have no title key at all, some a phone number.
            if rng.random_bool(0.7) {
                p["title"] = json!(CONTACT_TITLES.choose(rng).expect("titles"));
            }
            if phone || rng.random_bool(0.2) {
                p["phoneNumber"] = json!(format!("+1 212-555-{:04}", rng.random_range(0..10_000)));
            }
            parties.push(p);
        }
        if !internal && rng.random_bool(0.6) {
            parties.push(json!({
                "id": gong_id(rng), "emailAddress": format!("assistant@{cust_domain}"),
                "name": format!("{cust_name} Assistant"), "speakerId": null, "context": [],
                "affiliation": "External", "methods": ["Invitee"],
            }));
        }
        if internal {
            // Internal calls still need a second voice.
            let other = (host + 1) % self.users.len();
            let user = &self.users[other];
            parties.push(json!({
                "id": gong_id(rng), "emailAddress": user.email, "name": user.name,
                "title": user.title, "userId": user.id, "speakerId": gong_id(rng),
                "context": [], "affiliation": "Internal", "methods": ["Attendee"],
            }));
        }

        // Lines the call must contain, each for a side (true = seller).
        let mut specials: Vec<(bool, String)> = Vec::new();
        let pick = |rng: &mut StdRng, lines: &[&str]| {
            lines.choose(rng).expect("lines").replace("{c}", competitor)
        };
        if mentions_competitor {
            for _ in 0..rng.random_range(1..=2) {
                specials.push((false, pick(rng, COMPETITOR_LINES)));
            }
        }
        if churn {
            specials.push((false, pick(rng, CHURN_LINES)));
        }
        if upsell {
            specials.push((false, pick(rng, UPSELL_LINES)));
        }
        if !internal && rng.random_bool(0.5) {
            specials.push((false, pick(rng, PRICING_LINES)));
        }
        let actions = if internal { 0 } else { rng.random_range(0..=2) };
        for _ in 0..actions {
            specials.push((true, pick(rng, ACTION_LINES)));
        }

        let speaking: Vec<&Value> = parties
            .iter()
            .filter(|p| p["speakerId"].is_string())
            .collect();
        let seller: Vec<&Value> = speaking
            .iter()
            .copied()
            .filter(|p| p["affiliation"] == "Internal")
            .collect();
        let buyer: Vec<&Value> = speaking
            .iter()
            .copied()
            .filter(|p| p["affiliation"] != "Internal")
            .collect();
        let buyer = if buyer.is_empty() {
            seller[1..].to_vec()
        } else {
            buyer
        };

        // The transcript: alternating monologues over the call, ms offsets increasing.
        let total_ms = duration * 1000;
        let monologues = (duration / 45).clamp(4, 40) as usize;
        let slot = total_ms / monologues as u64;
        let mut slots_for: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for k in 0..monologues {
            slots_for[usize::from(k % 2 == 0)].push(k);
        }
        let mut planned: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (is_seller, line) in specials {
            let slots = &slots_for[usize::from(is_seller)];
            let k = slots[rng.random_range(0..slots.len())];
            planned.entry(k).or_default().push(line);
        }
        let mut transcript = Vec::new();
        let mut said: Vec<Said> = Vec::new();
        for k in 0..monologues {
            let side = if k % 2 == 0 { &seller } else { &buyer };
            let party = side[(k / 2) % side.len()];
            let speaker = party["speakerId"].as_str().unwrap_or_default().to_string();
            let mut lines: Vec<String> = (0..rng.random_range(1..=5))
                .map(|_| {
                    let pool = if k % 2 == 0 {
                        SELLER_LINES
                    } else {
                        BUYER_LINES
                    };
                    pool.choose(rng).expect("lines").to_string()
                })
                .collect();
            if let Some(extra) = planned.remove(&k) {
                let at = rng.random_range(0..=lines.len());
                for (i, l) in extra.into_iter().enumerate() {
                    lines.insert(at + i, l);
                }
            }
            let mut t = k as u64 * slot + rng.random_range(0..slot / 8 + 1);
            let per = (slot * 7 / 8) / lines.len() as u64;
            let mut sentences = Vec::new();
            for text in lines {
                // About 2.5 words a second. A sentence and its pause fit in `per`, so a
                // monologue never runs into the next one's slot.
                let words = text.split_whitespace().count() as u64;
                let end = t
                    + (words * 400 + rng.random_range(200..900))
                        .min(per.saturating_sub(400))
                        .max(1);
                said.push(Said {
                    party: party.clone(),
                    start: t,
                    end,
                    text: text.clone(),
                });
                sentences.push(json!({"start": t, "end": end, "text": text}));
                t = end + rng.random_range(50..400);
            }
            let topic = rng
                .random_bool(0.2)
                .then(|| *TOPICS.choose(rng).expect("topics"));
            transcript.push(json!({"speakerId": speaker, "topic": topic, "sentences": sentences}));
        }

        let meta = self.meta(
            &id, started, duration, host, customer, internal, renewal, phone, &parties,
        );
        let context = if internal {
            json!([])
        } else {
            self.crm(customer, renewal, churn, upsell)
        };
        let content = self.content(
            &said,
            duration,
            &parties[0],
            customer,
            competitor,
            (mentions_competitor, churn, upsell),
        );
        let interaction = interaction(&said, &parties, duration, meta["media"] == "Video");
        let collaboration = self.comments(&said, host, started, duration);
        let data = json!({
            "metaData": meta, "context": context, "parties": parties, "content": content,
            "interaction": interaction, "collaboration": collaboration,
        });
        Call {
            id,
            started,
            data,
            transcript: Value::Array(transcript),
            visible_at,
            transcript_at,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn meta(
        &mut self,
        id: &str,
        started: DateTime<FixedOffset>,
        duration: u64,
        host: usize,
        (cust, cust_domain, _): (&str, &str, &str),
        internal: bool,
        renewal: bool,
        phone: bool,
        parties: &[Value],
    ) -> Value {
        let rng = &mut self.rng;
        let stage = if renewal {
            *["Renewal review", "QBR", "Renewal"].choose(rng).expect("")
        } else {
            *[
                "Discovery",
                "Demo",
                "Pricing discussion",
                "Intro",
                "Technical deep dive",
            ]
            .choose(rng)
            .expect("")
        };
        let title = if internal {
            format!("{SELLER} | Pipeline review")
        } else if phone {
            format!(
                "Call with {}",
                parties
                    .last()
                    .map_or("", |p| p["name"].as_str().unwrap_or(""))
            )
        } else {
            format!("{SELLER} <> {cust} | {stage}")
        };
        let (system, media, direction) = if phone {
            (
                *["Outreach", "Aircall"].choose(rng).expect(""),
                "Audio",
                "Outbound",
            )
        } else {
            let s = *["Zoom", "Zoom", "Google Meet", "Microsoft Teams"]
                .choose(rng)
                .expect("");
            (
                s,
                if rng.random_bool(0.85) {
                    "Video"
                } else {
                    "Audio"
                },
                "Conference",
            )
        };
        let scheduled_utc = started.with_timezone(&Utc);
        let scheduled = (scheduled_utc
            - Span::seconds(
                i64::from(scheduled_utc.minute() % 15) * 60 + i64::from(scheduled_utc.second()),
            ))
        .with_nanosecond(0)
        .unwrap_or(scheduled_utc)
        .with_timezone(started.offset());
        let digits = *[6u8, 6, 3, 0].choose(rng).expect("");
        let meeting_url = match system {
            "Zoom" => json!(format!(
                "https://{}.zoom.us/j/9{:010}",
                cust_domain.split('.').next().unwrap_or("acme"),
                rng.random_range(0..10_000_000_000u64)
            )),
            "Google Meet" => json!(format!("https://meet.google.com/{}", letters(rng, 10))),
            "Microsoft Teams" => json!(format!(
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}",
                letters(rng, 24)
            )),
            _ => Value::Null,
        };
        let calendar = (!phone).then(|| {
            format!(
                "{}_{}@google.com",
                letters(rng, 26),
                scheduled.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ")
            )
        });
        let workspace = &self.workspaces[usize::from(renewal)].id;
        json!({
            "id": id,
            "url": format!("https://us-66463.app.gong.io/call?id={id}"),
            "title": title,
            "scheduled": iso(scheduled, 0),
            "started": iso(started, digits),
            "duration": duration,
            "primaryUserId": self.users[host].id,
            "direction": direction,
            "system": system,
            "scope": if internal { "Internal" } else { "External" },
            "media": media,
            "language": "eng",
            "workspaceId": workspace,
            "sdrDisposition": if phone { json!("Got the gatekeeper") } else { Value::Null },
            "clientUniqueId": null,
            "customData": null,
            "purpose": null,
            "meetingUrl": meeting_url,
            "isPrivate": rng.random_bool(0.05),
            "calendarEventId": calendar,
        })
    }

    /// Salesforce context with untyped values: numbers, strings, booleans as strings.
    fn crm(
        &mut self,
        (name, domain, industry): (&str, &str, &str),
        renewal: bool,
        churn: bool,
        upsell: bool,
    ) -> Value {
        let rng = &mut self.rng;
        let seats: u32 = rng.random_range(10..400);
        let amount: u32 = if rng.random_bool(0.25) {
            rng.random_range(100..600) * 1000
        } else {
            rng.random_range(8..99) * 1000
        };
        let kind = if renewal {
            "Renewal"
        } else if upsell {
            "Expansion"
        } else {
            "New Business"
        };
        let stage = if renewal {
            if churn {
                "Renewal at Risk"
            } else {
                "Open Renewal"
            }
        } else {
            *["Discovery", "Qualification", "Proposal", "Negotiation"]
                .choose(rng)
                .expect("")
        };
        let close = (Utc::now() + Span::days(rng.random_range(10..120)))
            .format("%Y-%m-%d")
            .to_string();
        json!([{"system": "Salesforce", "objects": [
            {"objectType": "Account", "objectId": sf_id(rng, "001"), "fields": [
                {"name": "Name", "value": name},
                {"name": "Industry", "value": industry},
                {"name": "Website", "value": domain},
                {"name": "ARR__c", "value": (f64::from(amount) / 1.2 * 100.0).round() / 100.0},
                {"name": "CS_Tier__c", "value": *["1. Platinum", "2. Gold", "3. Silver"].choose(rng).expect("")},
                {"name": "Sales_Team_Size__c", "value": rng.random_range(20..900).to_string()},
                {"name": "Account_Behavior_Score__c", "value": rng.random_range(100..9000)},
            ], "timing": "Now"},
            {"objectType": "Opportunity", "objectId": sf_id(rng, "006"), "fields": [
                {"name": "Name", "value": format!("{name} - {kind} ({seats})")},
                {"name": "StageName", "value": stage},
                {"name": "Type", "value": kind},
                {"name": "Amount", "value": amount},
                {"name": "Probability", "value": rng.random_range(1..10) * 10},
                {"name": "CloseDate", "value": close},
                {"name": "Number_of_seats__c", "value": seats},
                {"name": "MRR__c", "value": (f64::from(amount) / 12.0 * 100.0).round() / 100.0},
                {"name": "Must_Win__c", "value": if amount >= 100_000 { "true" } else { "false" }},
                {"name": "ARR_impact_rollup__c", "value": "false"},
            ], "timing": "Now"},
        ]}])
    }

    fn content(
        &mut self,
        said: &[Said],
        duration: u64,
        host: &Value,
        (cust, _, _): (&str, &str, &str),
        competitor: &str,
        (competes, churn, upsell): (bool, bool, bool),
    ) -> Value {
        let rng = &mut self.rng;
        let mut trackers = Vec::new();
        for (i, (name, phrases)) in TRACKERS.iter().enumerate() {
            let mut by_phrase = Vec::new();
            let mut all = Vec::new();
            for phrase in *phrases {
                let occ: Vec<Value> = said
                    .iter()
                    .filter(|s| s.text.to_lowercase().contains(&phrase.to_lowercase()))
                    .map(|s| json!({"startTime": s.start as f64 / 1000.0, "speakerId": s.party["speakerId"]}))
                    .collect();
                if !occ.is_empty() {
                    all.extend(occ.iter().cloned());
                    by_phrase
                        .push(json!({"count": occ.len(), "occurrences": occ, "phrase": phrase}));
                }
            }
            if !all.is_empty() {
                trackers.push(
                    json!({"id": self.tracker_ids[i], "name": name, "count": all.len(),
                    "type": "KEYWORD", "occurrences": all, "phrases": by_phrase}),
                );
            }
        }
        let actions: Vec<Value> = said
            .iter()
            .filter(|s| ACTION_LINES.contains(&s.text.as_str()))
            .map(|s| json!({"snippetStartTime": s.start as f64 / 1000.0, "snippetEndTime": s.end as f64 / 1000.0,
                "speakerID": s.party["speakerId"], "snippet": s.text}))
            .collect();
        // Topic durations split the call; some topics are listed with 0 seconds, like Gong.
        let mut left = duration;
        let topics: Vec<Value> = TOPICS
            .iter()
            .map(|t| {
                let d = if rng.random_bool(0.3) {
                    0
                } else {
                    rng.random_range(0..=left / 3)
                };
                left -= d;
                json!({"name": t, "duration": d})
            })
            .collect();
        let host_first = host["name"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("");
        let mut brief = format!(
            "{host_first} ({SELLER}) met the {cust} team to review their goals and the next steps."
        );
        let mut key_points =
            vec![json!({"text": format!("{cust} wants better forecasting accuracy.")})];
        if competes {
            brief.push_str(&format!(" {cust} is also evaluating {competitor}."));
            key_points.push(json!({"text": format!("{cust} evaluates {competitor} in parallel.")}));
        }
        if churn {
            brief.push_str(" The customer raised a risk of not renewing.");
            key_points.push(json!({"text": "Renewal is at risk."}));
        }
        if upsell {
            brief.push_str(" They want to expand usage to more seats.");
            key_points.push(json!({"text": "Expansion opportunity: more seats."}));
        }
        let first = said.first().map_or(0.0, |s| s.start as f64 / 1000.0);
        let mut content = json!({
            "trackers": trackers,
            "topics": topics,
            "brief": brief,
            "keyPoints": key_points,
            "outline": [{"section": "Introductions", "startTime": first, "duration": (duration as f64 / 4.0).round(),
                         "items": [{"text": format!("{host_first} introduced the agenda."), "startTime": first}]}],
        });
        if !actions.is_empty() {
            content["highlights"] = json!([{"title": "Next steps", "items": actions.iter().map(|a|
                json!({"text": a["snippet"], "startTimes": [a["snippetStartTime"]]})).collect::<Vec<_>>()}]);
            content["pointsOfInterest"] = json!({"actionItems": actions});
        }
        if rng.random_bool(0.7) {
            content["callOutcome"] = [
                json!({"id": "MEETING_BOOKED", "category": "Answered", "name": "Meeting booked"}),
                json!({"id": "FOLLOW_UP", "category": "Answered", "name": "Follow-up scheduled"}),
                json!({"id": "NOT_INTERESTED", "category": "Answered", "name": "Not interested"}),
            ]
            .choose(rng)
            .cloned()
            .unwrap_or_default();
        }
        content
    }

    fn comments(
        &mut self,
        said: &[Said],
        host: usize,
        started: DateTime<FixedOffset>,
        duration: u64,
    ) -> Value {
        let rng = &mut self.rng;
        if said.is_empty() || !rng.random_bool(0.3) {
            return json!({"publicComments": []});
        }
        let s = &said[rng.random_range(0..said.len())];
        let manager = &self.users[MANAGERS[host % 2]];
        let rep = &self.users[host];
        let posted = started + Span::seconds(duration as i64 + rng.random_range(600..86_400));
        json!({"publicComments": [{
            "id": gong_id(rng), "audioStartTime": s.start / 1000, "audioEndTime": s.end / 1000,
            "commenterUserId": manager.id,
            "comment": format!("@[{}]({}) nice handling of this moment", rep.name, rep.id),
            "posted": iso(posted, 3), "inReplyTo": null, "duringCall": false,
        }]})
    }
}

/// A sentence and who said it, kept while the transcript is written.
struct Said {
    party: Value,
    start: u64,
    end: u64,
    text: String,
}

fn interaction(said: &[Said], parties: &[Value], duration: u64, video: bool) -> Value {
    let mut talk: BTreeMap<String, f64> = BTreeMap::new();
    let (mut ours, mut all, mut q_ours, mut q_theirs) = (0.0, 0.0, 0, 0);
    for s in said {
        let secs = (s.end - s.start) as f64 / 1000.0;
        *talk
            .entry(s.party["id"].as_str().unwrap_or("").into())
            .or_default() += secs;
        all += secs;
        let internal = s.party["affiliation"] == "Internal";
        if internal {
            ours += secs;
        }
        if s.text.ends_with('?') {
            if internal { q_ours += 1 } else { q_theirs += 1 }
        }
    }
    let speakers: Vec<Value> = parties
        .iter()
        .filter_map(|p| {
            let t = talk.get(p["id"].as_str()?)?;
            let mut s = json!({"id": p["id"], "talkTime": (t * 10.0).round() / 10.0});
            if p["userId"].is_string() {
                s["userId"] = p["userId"].clone();
            }
            Some(s)
        })
        .collect();
    let ratio = if all > 0.0 {
        (ours / all * 100.0).round() / 100.0
    } else {
        0.0
    };
    let mut out = json!({
        "speakers": speakers,
        "interactionStats": [
            {"name": "Talk Ratio", "value": ratio},
            {"name": "Longest Monologue", "value": (duration / 12).min(300)},
            {"name": "Longest Customer Story", "value": (duration / 20).min(200)},
            {"name": "Interactivity", "value": ((said.len() as f64 / (duration as f64 / 60.0)) * 10.0).round() / 10.0},
            {"name": "Patience", "value": 0.85},
        ],
        "questions": {"companyCount": q_ours, "nonCompanyCount": q_theirs},
    });
    if video {
        out["video"] = json!([{"name": "Presentation", "duration": (duration as f64 * 0.3).round()},
                              {"name": "WebcamPrimaryUser", "duration": (duration as f64 * 0.9).round()}]);
    }
    out
}

/// An 18-character Salesforce id with the object's key prefix.
fn sf_id(rng: &mut StdRng, prefix: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..15)
        .map(|_| A[rng.random_range(0..A.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn letters(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| rng.random_range(b'a'..=b'z') as char)
        .collect()
}
