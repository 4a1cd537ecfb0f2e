//! The verified types: a request whose credential checked out, and the inbox event.
//!
//! `VerifiedEvent` is the only type the inbox takes, and its fields are private to this
//! file: the one way to make it is `VerifiedRequest::into_event`, and the one way to make a
//! `VerifiedRequest` is `Verifier::verify`. So an event in the store has always been
//! through both the credential check and the envelope check.

use bytes::Bytes;

use super::replay::ReplayGuard;
use super::{AuthMethod, EventKind, PayloadError, Proof, envelope, now_ms};

/// A request whose credential verified; its body is not yet known to be a valid envelope.
#[derive(Debug)]
pub struct VerifiedRequest {
    kind: EventKind,
    proof: Proof,
    body: Bytes,
    body_sha256: String,
}

/// An event ready for the inbox. Only this module can make one.
#[derive(Debug, Clone)]
pub struct VerifiedEvent {
    event_id: String,
    kind: EventKind,
    source_id: String,
    payload: Bytes,
    body_sha256: String,
    received_at_ms: i64,
    request_id: String,
    auth_method: AuthMethod,
    key_id: Option<String>,
    is_test: bool,
    replay: Option<ReplayGuard>,
}

impl VerifiedEvent {
    pub fn event_id(&self) -> &str {
        &self.event_id
    }
    pub fn kind(&self) -> EventKind {
        self.kind
    }
    pub fn source_id(&self) -> &str {
        &self.source_id
    }
    /// The raw body exactly as received.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
    /// Lowercase hex SHA-256 of the raw body.
    pub fn body_sha256(&self) -> &str {
        &self.body_sha256
    }
    pub fn received_at_ms(&self) -> i64 {
        self.received_at_ms
    }
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
    pub fn auth_method(&self) -> AuthMethod {
        self.auth_method
    }
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }
    pub fn is_test(&self) -> bool {
        self.is_test
    }
    pub fn replay(&self) -> Option<&ReplayGuard> {
        self.replay.as_ref()
    }
}

impl VerifiedRequest {
    /// Only [`super::Verifier::verify`] makes one.
    pub(super) fn new(kind: EventKind, proof: Proof, body: Bytes, body_sha256: String) -> Self {
        VerifiedRequest {
            kind,
            proof,
            body,
            body_sha256,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Checks the envelope and builds the inbox event.
    pub fn into_event(
        self,
        content_type: Option<&str>,
        request_id: &str,
    ) -> Result<VerifiedEvent, PayloadError> {
        let parsed = envelope::parse(self.kind, content_type, &self.body)?;
        Ok(VerifiedEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            kind: self.kind,
            source_id: parsed.source_id,
            payload: self.body,
            body_sha256: self.body_sha256,
            received_at_ms: now_ms(),
            request_id: request_id.to_owned(),
            auth_method: self.proof.method,
            key_id: self.proof.key_id,
            is_test: parsed.is_test,
            replay: self.proof.replay,
        })
    }
}
