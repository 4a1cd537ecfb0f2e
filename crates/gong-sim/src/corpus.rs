//! The simulator's seeded corpus: its users and workspaces, and the calls it keeps as
//! gong-api models with when each becomes visible. How one call is made is in `calls`,
//! what is derived from its transcript in `derived`.

use std::time::Instant;

use chrono::{DateTime, Duration as Span, FixedOffset, Timelike, Utc};
use gong_api::models::{
    CallData, CallMeta, GongId, Monologue, SpokenLanguage, User as UserModel, UserSettings,
    Workspace,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::text::*;
use super::wire::at_digits;

/// One call as the simulator keeps it: the full callData (Extended context, every block
/// but `media`, which is signed per answer) and its transcript, plus when each becomes
/// visible through the API (Gong's processing lag).
#[derive(Clone)]
pub struct Call {
    pub id: String,
    /// To the microsecond; `metaData.started` is cut to the digits Gong prints.
    pub started: DateTime<FixedOffset>,
    pub data: CallData,
    pub transcript: Vec<Monologue>,
    pub visible_at: Instant,
    pub transcript_at: Instant,
}

impl Call {
    pub fn meta(&self) -> &CallMeta {
        &self.data.meta_data
    }

    pub fn host(&self) -> Option<&str> {
        self.meta().primary_user_id.as_ref().map(GongId::as_str)
    }

    pub fn workspace(&self) -> Option<&str> {
        self.meta().workspace_id.as_ref().map(GongId::as_str)
    }
}

/// A user: what `/v2/users` answers, and what the generator needs of them.
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub title: &'static str,
    pub offset: FixedOffset,
    pub model: UserModel,
}

/// Everything derived from the seed; `rng` keeps going for calls created at run time.
pub struct Generator {
    pub(crate) rng: StdRng,
    pub users: Vec<User>,
    pub workspaces: Vec<Workspace>,
    pub tracker_ids: Vec<String>,
}

pub fn gong_id(rng: &mut impl Rng) -> String {
    rng.random_range(1_000_000_000_000_000_000u64..=9_200_000_000_000_000_000)
        .to_string()
}

fn offset(hours: i32) -> FixedOffset {
    FixedOffset::east_opt(hours * 3600).expect("valid offset")
}

fn workspace(rng: &mut StdRng, name: &str, description: &str) -> Workspace {
    Workspace {
        id: Some(GongId(gong_id(rng))),
        name: Some(name.into()),
        description: Some(description.into()),
    }
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut rng = StdRng::seed_from_u64(seed);
        let workspaces = vec![
            workspace(&mut rng, "Sales", "New business and expansion"),
            workspace(&mut rng, "Customer Success", "Onboarding and renewals"),
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
                let manager =
                    (!MANAGERS.contains(&i)).then(|| GongId(ids[MANAGERS[i % 2]].clone()));
                let created = (anchor + Span::hours(rng.random_range(0..24 * 300)))
                    .with_timezone(&offset(offsets[i]));
                let phone = format!("+1 415-555-{:04}", rng.random_range(0..10_000));
                let model = UserModel {
                    id: Some(GongId(ids[i].clone())),
                    email_address: Some(email.clone()),
                    created: Some(at_digits(created, 0)),
                    active: Some(true),
                    first_name: Some(first.to_string()),
                    last_name: Some(last.to_string()),
                    title: Some(title.to_string()),
                    phone_number: Some(phone),
                    personal_meeting_urls: vec![format!(
                        "https://acme.zoom.us/my/{}",
                        first.to_lowercase()
                    )],
                    settings: Some(UserSettings {
                        web_conferences_recorded: Some(true),
                        prevent_web_conference_recording: Some(false),
                        telephony_calls_imported: Some(i % 3 == 0),
                        emails_imported: Some(true),
                        prevent_email_import: Some(false),
                        non_recorded_meetings_imported: Some(true),
                        gong_connect_enabled: Some(true),
                    }),
                    manager_id: manager,
                    spoken_languages: vec![SpokenLanguage {
                        language: Some("en-US".into()),
                        primary: Some(true),
                    }],
                    // No aliases, trusted address, extension or consent page: `[]`/`null`.
                    ..UserModel::default()
                };
                User {
                    id: ids[i].clone(),
                    email,
                    name: format!("{first} {last}"),
                    title,
                    offset: offset(offsets[i]),
                    model,
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
}
