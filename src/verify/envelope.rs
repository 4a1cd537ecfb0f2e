//! The webhook body: the JSON envelope of each route and the source id it carries.
//!
//! Only what gong-relay needs is read (the id and `isTest`); unknown fields are skipped and
//! the body is stored exactly as received. A body whose credential verified can still be
//! refused here, with 400 or 415 instead of 401, so that a sender sees which part failed.

use serde::Deserialize;

use super::{EventKind, PayloadError};

/// Longest source id accepted; Gong call ids have at most 20 digits.
const MAX_SOURCE_ID_LEN: usize = 256;

/// The envelope of all three routes. Unknown fields are skipped without being kept.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "callData")]
    call_data: Option<CallData>,
    #[serde(rename = "emailData")]
    email_data: Option<KeyedData>,
    #[serde(rename = "meetingData")]
    meeting_data: Option<KeyedData>,
    #[serde(rename = "isTest")]
    is_test: Option<bool>,
}

#[derive(Deserialize)]
struct CallData {
    #[serde(rename = "metaData")]
    meta_data: Option<KeyedData>,
}

#[derive(Deserialize)]
struct KeyedData {
    id: Option<Id>,
}

/// Gong ids are strings of digits, but some tools turn them into numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Unsigned(u64),
    Signed(i64),
}

impl Id {
    fn into_string(self) -> String {
        match self {
            Id::Text(s) => s.trim().to_owned(),
            Id::Unsigned(n) => n.to_string(),
            Id::Signed(n) => n.to_string(),
        }
    }
}

/// `application/json`, `application/<x>+json`, with parameters. A missing header is taken
/// as JSON: Gong's Content-Type is not documented, and refusing real deliveries over it
/// would lose data, while the body is parsed as JSON either way.
pub fn is_json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return true };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// What the envelope says about the event.
pub(super) struct Parsed {
    pub(super) source_id: String,
    pub(super) is_test: bool,
}

/// Checks the Content-Type and that `body` is `kind`'s envelope with a usable id.
pub(super) fn parse(
    kind: EventKind,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Parsed, PayloadError> {
    if !is_json_content_type(content_type) {
        return Err(PayloadError::NotJson);
    }
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            return Err(PayloadError::Invalid(format!(
                "body is JSON but not a {} envelope: {e}",
                kind.data_field()
            )));
        }
        Err(e) => return Err(PayloadError::Malformed(e.to_string())),
    };
    let field = kind.data_field();
    let missing = || PayloadError::Invalid(format!("missing {field}"));
    let id = match kind {
        EventKind::Call => {
            let call = envelope.call_data.ok_or_else(missing)?;
            call.meta_data.and_then(|m| m.id)
        }
        EventKind::Email => envelope.email_data.ok_or_else(missing)?.id,
        EventKind::Meeting => envelope.meeting_data.ok_or_else(missing)?.id,
    };
    let id_path = match kind {
        EventKind::Call => "callData.metaData.id",
        EventKind::Email => "emailData.id",
        EventKind::Meeting => "meetingData.id",
    };
    let source_id = id
        .map(Id::into_string)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PayloadError::Invalid(format!("missing {id_path}")))?;
    if source_id.len() > MAX_SOURCE_ID_LEN || source_id.chars().any(char::is_control) {
        return Err(PayloadError::Invalid(format!(
            "{id_path} is longer than {MAX_SOURCE_ID_LEN} characters or has control characters"
        )));
    }
    Ok(Parsed {
        source_id,
        is_test: envelope.is_test.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type(Some("application/json")));
        assert!(is_json_content_type(Some(
            "Application/JSON; charset=UTF-8"
        )));
        assert!(is_json_content_type(Some("application/vnd.gong+json")));
        assert!(is_json_content_type(None));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(Some(
            "application/x-www-form-urlencoded"
        )));
    }
}
