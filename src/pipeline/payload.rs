//! The webhook bodies the pipeline reads (architecture §3). The raw bytes stay in the inbox and
//! in `gong_webhooks_raw`; these types take only what the enhanced tables need, and ignore
//! everything else.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use gong_api::models::{CallData, CrmContext, GongId};

use crate::verify::EventKind;

// Emails and meetings come from other producers (CRM automations, forwarders), so only the
// id is strict; every other field takes the shapes such producers send (a bare address for
// an object, a number for a string, null for a list) or is dropped, which lowers the
// row's data quality score instead of failing the event.

/// Text, also from a number or a boolean; anything else is absent.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn address_of(v: Value) -> Option<Address> {
    match v {
        Value::String(email) => Some(Address {
            email: Some(email),
            ..Address::default()
        }),
        v @ Value::Object(_) => serde_json::from_value(v).ok(),
        _ => None,
    }
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
    Ok(address_of(Value::deserialize(d)?))
}

fn addresses<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Address>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items.into_iter().filter_map(address_of).collect(),
        one => address_of(one).into_iter().collect(),
    })
}

fn crm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<CrmContext>>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// `POST /webhook/gong/calls`: one `calls[]` item of `/v2/calls/extensive`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallWebhook {
    pub call_data: CallData,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Address {
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// Meetings' invitees only: `Internal` / `External`, when the sender knows.
    #[serde(default, deserialize_with = "text")]
    pub affiliation: Option<String>,
}

/// `emailData` (our format; Gong sends no email webhooks).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailData {
    pub id: GongId,
    #[serde(default, deserialize_with = "text")]
    pub thread_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "address")]
    pub from: Option<Address>,
    #[serde(default, deserialize_with = "addresses")]
    pub to: Vec<Address>,
    #[serde(default, deserialize_with = "addresses")]
    pub cc: Vec<Address>,
    #[serde(default, deserialize_with = "text")]
    pub sent_at: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub snippet: Option<String>,
    #[serde(flatten)]
    pub placement: Placement,
}

/// Where an email or a meeting sits: its Gong workspace and its CRM context (the shape of a
/// call's `context`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    #[serde(default, deserialize_with = "text")]
    pub workspace_id: Option<String>,
    #[serde(default, deserialize_with = "crm")]
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
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub start: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub end: Option<String>,
    #[serde(default, deserialize_with = "address")]
    pub organizer: Option<Address>,
    #[serde(default, deserialize_with = "addresses")]
    pub invitees: Vec<Address>,
    #[serde(default, deserialize_with = "text")]
    pub meeting_url: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub call_id: Option<String>,
    #[serde(flatten)]
    pub placement: Placement,
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
    pub fn parse(kind: EventKind, payload: &[u8]) -> Result<Item, String> {
        let what = |e: serde_json::Error| format!("{kind} payload unreadable: {e}");
        match kind {
            EventKind::Call => serde_json::from_slice::<CallWebhook>(payload)
                .map(|w| Item::Call(Box::new(w.call_data)))
                .map_err(what),
            EventKind::Email => serde_json::from_slice::<EmailWebhook>(payload)
                .map(|w| Item::Email(Box::new(w.email_data)))
                .map_err(what),
            EventKind::Meeting => serde_json::from_slice::<MeetingWebhook>(payload)
                .map(|w| Item::Meeting(Box::new(w.meeting_data)))
                .map_err(what),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_meetings_in_odd_shapes_still_parse() {
        let email = br#"{"emailData": {"id": 12345, "to": null, "cc": ["a@b.example"],
            "from": "c@d.example", "sentAt": 1700000000, "crmContext": {}, "subject": 7}}"#;
        let Item::Email(e) = Item::parse(EventKind::Email, email).unwrap() else {
            panic!("an email");
        };
        assert_eq!(e.id.as_str(), "12345");
        assert!(e.to.is_empty());
        assert_eq!(e.cc[0].email.as_deref(), Some("a@b.example"));
        assert_eq!(e.from.unwrap().email.as_deref(), Some("c@d.example"));
        assert_eq!(e.sent_at.as_deref(), Some("1700000000"));
        assert!(e.placement.crm_context.is_none());
        assert_eq!(e.subject.as_deref(), Some("7"));

        let meeting = br#"{"meetingData": {"id": "m1", "invitees": null, "callId": 98765,
            "organizer": {"email": "o@p.example", "name": null}}}"#;
        let Item::Meeting(m) = Item::parse(EventKind::Meeting, meeting).unwrap() else {
            panic!("a meeting");
        };
        assert!(m.invitees.is_empty());
        assert_eq!(m.call_id.as_deref(), Some("98765"));
        assert_eq!(m.organizer.unwrap().email.as_deref(), Some("o@p.example"));
    }

    #[test]
    fn a_body_without_its_id_is_refused_for_good() {
        assert!(Item::parse(EventKind::Email, br#"{"emailData": {"subject": "x"}}"#).is_err());
        assert!(Item::parse(EventKind::Meeting, br#"{"meetingData": []}"#).is_err());
    }
}
