//! How one seeded call is made: its parties, its transcript (written first), its metadata
//! and its Salesforce context, as gong-api models. The blocks that summarise the transcript
//! are derived from it in `derived`.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Duration as Span, FixedOffset, Timelike, Utc};
use gong_api::models::{
    CallData, CallMeta, CrmContext, CrmField, CrmObject, FieldValue, GongId, Monologue, Party,
    Sentence,
};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use super::corpus::{Call, Generator, gong_id};
use super::derived::{Said, interaction};
use super::text::*;
use super::wire::at_digits;

fn id(s: String) -> Option<GongId> {
    Some(GongId(s))
}

fn text(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

fn internal(p: &Party) -> bool {
    p.affiliation.as_deref() == Some("Internal")
}

impl Generator {
    /// A call that started at `start` (UTC; shown in the host's offset).
    pub fn call(
        &mut self,
        start: DateTime<Utc>,
        visible_at: Instant,
        transcript_at: Instant,
    ) -> Call {
        let rng = &mut self.rng;
        let call_id = gong_id(rng);
        let host = rng.random_range(0..self.users.len());
        let started = start.with_timezone(&self.users[host].offset);
        let customer = *CUSTOMERS.choose(rng).expect("customers");
        let competitor = *COMPETITORS.choose(rng).expect("competitors");
        let is_internal = rng.random_bool(0.1);
        let short = rng.random_bool(0.15);
        let renewal = !is_internal && rng.random_bool(0.3);
        let phone = !is_internal && rng.random_bool(0.15);
        let mentions_competitor = !is_internal && !short && rng.random_bool(0.35);
        let churn =
            renewal && !short && rng.random_bool(0.5) || !is_internal && rng.random_bool(0.05);
        let upsell = !is_internal && !churn && !short && rng.random_bool(0.2);
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
        let colleague = |rng: &mut StdRng, u: usize, methods: &[&str]| {
            let user = &self.users[u];
            Party {
                id: id(gong_id(rng)),
                email_address: text(&user.email),
                name: text(&user.name),
                title: text(user.title),
                user_id: id(user.id.clone()),
                speaker_id: id(gong_id(rng)),
                affiliation: text("Internal"),
                methods: methods.iter().map(|m| m.to_string()).collect(),
                ..Party::default()
            }
        };
        for &u in &hosts {
            let methods: &[&str] = if u == host {
                &["Invitee", "Attendee"]
            } else {
                &["Attendee"]
            };
            parties.push(colleague(rng, u, methods));
        }
        let (cust_name, cust_domain, _) = customer;
        let externals = if is_internal {
            0
        } else {
            rng.random_range(1..=3)
        };
        for _ in 0..externals {
            let first = *CONTACT_FIRST.choose(rng).expect("names");
            let last = *CONTACT_LAST.choose(rng).expect("names");
            let mut p = Party {
                id: id(gong_id(rng)),
                email_address: Some(format!(
                    "{}.{}@{cust_domain}",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
                name: Some(format!("{first} {last}")),
                speaker_id: id(gong_id(rng)),
                context: vec![CrmContext {
                    system: text("Salesforce"),
                    objects: vec![CrmObject {
                        object_type: text("Contact"),
                        object_id: id(sf_id(rng, "003")),
                        fields: vec![],
                        timing: text("Now"),
                    }],
                }],
                affiliation: text("External"),
                methods: vec!["Invitee".into(), "Attendee".into()],
                ..Party::default()
            };
            // Like real data, some contacts have no title key at all, some a phone number.
            if rng.random_bool(0.7) {
                p.title = text(*CONTACT_TITLES.choose(rng).expect("titles"));
            }
            if phone || rng.random_bool(0.2) {
                p.phone_number = Some(format!("+1 212-555-{:04}", rng.random_range(0..10_000)));
            }
            parties.push(p);
        }
        if !is_internal && rng.random_bool(0.6) {
            parties.push(Party {
                id: id(gong_id(rng)),
                email_address: Some(format!("assistant@{cust_domain}")),
                name: Some(format!("{cust_name} Assistant")),
                affiliation: text("External"),
                methods: vec!["Invitee".into()],
                ..Party::default()
            });
        }
        if is_internal {
            // Internal calls still need a second voice.
            parties.push(colleague(rng, (host + 1) % self.users.len(), &["Attendee"]));
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
        if !is_internal && rng.random_bool(0.5) {
            specials.push((false, pick(rng, PRICING_LINES)));
        }
        let actions = if is_internal {
            0
        } else {
            rng.random_range(0..=2)
        };
        for _ in 0..actions {
            specials.push((true, pick(rng, ACTION_LINES)));
        }

        let speaking: Vec<&Party> = parties.iter().filter(|p| p.speaker_id.is_some()).collect();
        let seller: Vec<&Party> = speaking.iter().copied().filter(|p| internal(p)).collect();
        let buyer: Vec<&Party> = speaking.iter().copied().filter(|p| !internal(p)).collect();
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
            for line in lines {
                // About 2.5 words a second. A sentence and its pause fit in `per`, so a
                // monologue never runs into the next one's slot.
                let words = line.split_whitespace().count() as u64;
                let end = t
                    + (words * 400 + rng.random_range(200..900))
                        .min(per.saturating_sub(400))
                        .max(1);
                said.push(Said {
                    party,
                    start: t,
                    end,
                    text: line.clone(),
                });
                sentences.push(Sentence {
                    start: Some(t as f64),
                    end: Some(end as f64),
                    text: line,
                });
                t = end + rng.random_range(50..400);
            }
            let topic = rng
                .random_bool(0.2)
                .then(|| TOPICS.choose(rng).expect("topics").to_string());
            transcript.push(Monologue {
                speaker_id: party.speaker_id.clone(),
                topic,
                sentences,
            });
        }

        let meta_data = self.meta(
            &call_id,
            (started, duration),
            host,
            customer,
            (is_internal, renewal, phone),
            &parties,
        );
        let context = if is_internal {
            vec![]
        } else {
            self.crm(customer, renewal, churn, upsell)
        };
        let content = self.content(
            &said,
            duration,
            parties[0].name.as_deref().unwrap_or(""),
            customer,
            competitor,
            (mentions_competitor, churn, upsell),
        );
        let video = meta_data.media.as_deref() == Some("Video");
        let interaction = interaction(&said, &parties, duration, video);
        let collaboration = self.comments(&said, host, started, duration);
        let data = CallData {
            meta_data,
            context,
            parties,
            content: Some(content),
            interaction: Some(interaction),
            collaboration: Some(collaboration),
            media: None,
        };
        Call {
            id: call_id,
            started,
            data,
            transcript,
            visible_at,
            transcript_at,
        }
    }

    /// `metaData`: `started` to the microsecond, millisecond or second, like Gong's.
    fn meta(
        &mut self,
        call_id: &str,
        (started, duration): (DateTime<FixedOffset>, u64),
        host: usize,
        (cust, cust_domain, _): (&str, &str, &str),
        (is_internal, renewal, phone): (bool, bool, bool),
        parties: &[Party],
    ) -> CallMeta {
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
        let title = if is_internal {
            format!("{SELLER} | Pipeline review")
        } else if phone {
            let last = parties.last().and_then(|p| p.name.as_deref());
            format!("Call with {}", last.unwrap_or(""))
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
            let media = if rng.random_bool(0.85) {
                "Video"
            } else {
                "Audio"
            };
            (s, media, "Conference")
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
            "Zoom" => Some(format!(
                "https://{}.zoom.us/j/9{:010}",
                cust_domain.split('.').next().unwrap_or("acme"),
                rng.random_range(0..10_000_000_000u64)
            )),
            "Google Meet" => Some(format!("https://meet.google.com/{}", letters(rng, 10))),
            "Microsoft Teams" => Some(format!(
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{}",
                letters(rng, 24)
            )),
            _ => None,
        };
        let calendar = (!phone).then(|| {
            format!(
                "{}_{}@google.com",
                letters(rng, 26),
                scheduled.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ")
            )
        });
        let is_private = rng.random_bool(0.05);
        let workspace = &self.workspaces[usize::from(renewal)];
        CallMeta {
            id: id(call_id.into()),
            url: Some(format!("https://us-66463.app.gong.io/call?id={call_id}")),
            title: Some(title),
            scheduled: Some(at_digits(scheduled, 0)),
            started: Some(at_digits(started, digits)),
            duration: Some(duration as f64),
            primary_user_id: id(self.users[host].id.clone()),
            direction: text(direction),
            system: text(system),
            scope: text(if is_internal { "Internal" } else { "External" }),
            media: text(media),
            language: text("eng"),
            workspace_id: workspace.id.clone(),
            sdr_disposition: phone.then(|| "Got the gatekeeper".into()),
            meeting_url,
            is_private: Some(is_private),
            calendar_event_id: calendar,
            // No client id, custom data or purpose: `null`, as Gong sends them.
            ..CallMeta::default()
        }
    }

    /// Salesforce context with untyped values: numbers, strings, booleans as strings.
    fn crm(
        &mut self,
        (name, domain, industry): (&str, &str, &str),
        renewal: bool,
        churn: bool,
        upsell: bool,
    ) -> Vec<CrmContext> {
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
        let account_id = sf_id(rng, "001");
        let account = [
            ("Name", json!(name)),
            ("Industry", json!(industry)),
            ("Website", json!(domain)),
            (
                "ARR__c",
                json!((f64::from(amount) / 1.2 * 100.0).round() / 100.0),
            ),
            (
                "CS_Tier__c",
                json!(
                    *["1. Platinum", "2. Gold", "3. Silver"]
                        .choose(rng)
                        .expect("")
                ),
            ),
            (
                "Sales_Team_Size__c",
                json!(rng.random_range(20..900).to_string()),
            ),
            (
                "Account_Behavior_Score__c",
                json!(rng.random_range(100..9000)),
            ),
        ];
        let opportunity_id = sf_id(rng, "006");
        let must_win = if amount >= 100_000 { "true" } else { "false" };
        let opportunity = [
            ("Name", json!(format!("{name} - {kind} ({seats})"))),
            ("StageName", json!(stage)),
            ("Type", json!(kind)),
            ("Amount", json!(amount)),
            ("Probability", json!(rng.random_range(1..10) * 10)),
            ("CloseDate", json!(close)),
            ("Number_of_seats__c", json!(seats)),
            (
                "MRR__c",
                json!((f64::from(amount) / 12.0 * 100.0).round() / 100.0),
            ),
            ("Must_Win__c", json!(must_win)),
            ("ARR_impact_rollup__c", json!("false")),
        ];
        vec![CrmContext {
            system: text("Salesforce"),
            objects: vec![
                crm_object("Account", account_id, &account),
                crm_object("Opportunity", opportunity_id, &opportunity),
            ],
        }]
    }
}

fn crm_object(kind: &str, object_id: String, fields: &[(&str, Value)]) -> CrmObject {
    CrmObject {
        object_type: text(kind),
        object_id: id(object_id),
        fields: fields
            .iter()
            .map(|(name, value)| CrmField {
                name: text(*name),
                value: FieldValue(value.clone()),
            })
            .collect(),
        timing: text("Now"),
    }
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
