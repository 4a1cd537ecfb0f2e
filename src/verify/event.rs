//! The verified types: a request whose headers checked out, one whose body did too, and
//! the inbox event.
//!
//! Verification runs in two phases so that a body is read only for a request that a
//! credential vouches for: `Verifier::check_headers` makes a [`PendingRequest`] from the
//! headers alone, and its one way forward is [`PendingRequest::with_body`], which checks the
//! body against the token's `body_sha256` and makes a [`VerifiedRequest`].
//! `VerifiedEvent` is the only type the inbox takes, and its fields are private to this
//! file: the one way to make it is `VerifiedRequest::into_event`. So an event in the store
//! has always been through the header check, the body check and the envelope check.

use bytes::Bytes;
use subtle::ConstantTimeEq;

use super::replay::ReplayGuard;
use super::{
    AuthMethod, EventKind, PayloadError, Proof, Reason, Rejection, envelope, now_ms, reject,
    sha256_hex,
};

/// A request whose headers verified (token signature, algorithm, key, times, `webhook_url`;
/// or a URL key; or unsigned trial mode), whose body has not been read yet.
#[derive(Debug)]
pub struct PendingRequest {
    kind: EventKind,
    proof: Proof,
    /// The token's `body_sha256` claim, lowercased; `None` for a URL key or unsigned trial
    /// mode, which vouch for no body in particular.
    body_sha256_claim: Option<String>,
}

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

impl PendingRequest {
    /// Only [`super::Verifier::check_headers`] makes one.
    pub(super) fn new(kind: EventKind, proof: Proof, body_sha256_claim: Option<String>) -> Self {
        PendingRequest {
            kind,
            proof,
            body_sha256_claim,
        }
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// Checks `body` against the token's `body_sha256` (in constant time) and returns the
    /// verified request: the only way to make one.
    pub fn with_body(self, body: Bytes) -> Result<VerifiedRequest, Rejection> {
        let body_sha256 = sha256_hex(&body);
        if let Some(claimed) = &self.body_sha256_claim
            && !bool::from(claimed.as_bytes().ct_eq(body_sha256.as_bytes()))
        {
            return Err(reject(
                Reason::BodyHashMismatch,
                "body_sha256 does not match the body",
            ));
        }
        Ok(VerifiedRequest {
            kind: self.kind,
            proof: self.proof,
            body,
            body_sha256,
        })
    }
}

impl VerifiedRequest {
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
