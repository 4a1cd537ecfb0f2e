//! The webhook bodies the pipeline reads (design §4). The raw bytes stay in the inbox and
//! in `gong_webhooks_raw`; these types take only what the enhanced tables need, and ignore
//! everything else.

use serde::Deserialize;

use crate::gong::models::{CallData, CrmContext, GongId};

/// `POST /webhook/gong/calls`: one `calls[]` item of `/v2/calls/extensive`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallWebhook {
    pub call_data: CallData,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Address {
    pub email: Option<String>,
    pub name: Option<String>,
    /// Meetings' invitees only: `Internal` / `External`, when the sender knows.
    pub affiliation: Option<String>,
}

/// `emailData` (our format; Gong sends no email webhooks).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailData {
    pub id: GongId,
    pub thread_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<Address>,
    #[serde(default)]
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    pub sent_at: Option<String>,
    pub direction: Option<String>,
    pub body: Option<String>,
    pub snippet: Option<String>,
    pub workspace_id: Option<String>,
    pub crm_context: Option<Vec<CrmContext>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailWebhook {
    pub email_data: EmailData,
}

/// `meetingData` (our format).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingData {
    pub id: GongId,
    pub title: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub organizer: Option<Address>,
    #[serde(default)]
    pub invitees: Vec<Address>,
    pub meeting_url: Option<String>,
    pub call_id: Option<String>,
    pub workspace_id: Option<String>,
    pub crm_context: Option<Vec<CrmContext>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeetingWebhook {
    pub meeting_data: MeetingData,
}

/// A parsed inbox event.
#[derive(Debug, Clone)]
pub enum Item {
    Call(Box<CallData>),
    Email(Box<EmailData>),
    Meeting(Box<MeetingData>),
}

impl Item {
    /// Reads a stored body. An error is permanent: the same bytes will never parse.
    pub fn parse(kind: &str, payload: &[u8]) -> Result<Item, String> {
        let what = |e: serde_json::Error| format!("{kind} payload unreadable: {e}");
        match kind {
            "call" => serde_json::from_slice::<CallWebhook>(payload)
                .map(|w| Item::Call(Box::new(w.call_data)))
                .map_err(what),
            "email" => serde_json::from_slice::<EmailWebhook>(payload)
                .map(|w| Item::Email(Box::new(w.email_data)))
                .map_err(what),
            "meeting" => serde_json::from_slice::<MeetingWebhook>(payload)
                .map(|w| Item::Meeting(Box::new(w.meeting_data)))
                .map_err(what),
            other => Err(format!("unknown event kind {other:?}")),
        }
    }

    /// The Gong call whose data this event needs, if any.
    pub fn call_id(&self, source_id: &str) -> Option<String> {
        match self {
            Item::Call(_) => Some(source_id.to_owned()),
            Item::Meeting(m) => m.call_id.clone().filter(|c| !c.trim().is_empty()),
            Item::Email(_) => None,
        }
    }
}
