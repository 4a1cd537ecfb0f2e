//! Webhook verification: the only way to obtain a [`VerifiedEvent`].
//!
//! The inbox accepts nothing else, so an unverified body cannot reach storage by mistake.
//! Verification is split so that a body costs memory only once a credential vouches for
//! it: [`Verifier::check_headers`] checks what the headers alone prove (Gong's RS256 token,
//! an HS256 token signed with one of several shared secrets, or a URL key) and returns a
//! [`PendingRequest`]; only then is the body read, and [`PendingRequest::with_body`] checks
//! it against the token's `body_sha256`; [`VerifiedRequest::into_event`] finally checks that
//! the body is the JSON envelope the route expects. Every step fails closed: anything that
//! is not positively verified is refused with a reason code.
//!
//! This file holds the verifier and the vocabulary every part shares (routes, methods,
//! reason codes); each way of proving a request lives in its own file (`token`, `url_key`,
//! with `keys` and `webhook_url` beside them), as do the body check (`envelope`), the
//! verified types (`event`) and what replay protection needs from a token (`replay`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use jsonwebtoken::{Algorithm, Validation};

use crate::config::WebhookAuthConfig;

mod envelope;
mod event;
mod keys;
mod replay;
mod token;
mod url_key;
mod webhook_url;

pub use envelope::is_json_content_type;
pub use event::{PendingRequest, VerifiedEvent, VerifiedRequest};
pub use keys::{MIN_SECRET_BYTES, parse_rs256_public_key};
pub use replay::ReplayGuard;

use keys::NamedKey;

/// Which webhook route an event came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Call,
    Email,
    Meeting,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds are serialized by their stored name (admin API answers, logs).
impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A kind equals its stored name (`kind == "call"`).
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::Call, EventKind::Email, EventKind::Meeting];

    /// The stored name (`call`, `email`, `meeting`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Call => "call",
            EventKind::Email => "email",
            EventKind::Meeting => "meeting",
        }
    }

    /// The route's last segment and the metrics `endpoint` label.
    pub fn endpoint(self) -> &'static str {
        match self {
            EventKind::Call => "calls",
            EventKind::Email => "emails",
            EventKind::Meeting => "meetings",
        }
    }

    pub fn route(self) -> &'static str {
        match self {
            EventKind::Call => "/webhook/gong/calls",
            EventKind::Email => "/webhook/gong/emails",
            EventKind::Meeting => "/webhook/gong/meetings",
        }
    }

    /// The envelope field that carries the data.
    pub fn data_field(self) -> &'static str {
        match self {
            EventKind::Call => "callData",
            EventKind::Email => "emailData",
            EventKind::Meeting => "meetingData",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Rs256,
    Hs256,
    UrlKey,
    /// Only with `GONG_WEBHOOK_ALLOW_UNSIGNED=true` on a loopback bind.
    Unsigned,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Rs256 => "rs256",
            AuthMethod::Hs256 => "hs256",
            AuthMethod::UrlKey => "url_key",
            AuthMethod::Unsigned => "unsigned",
        }
    }
}

/// Why a webhook was refused with 401. The codes are a contract (the README's "What it answers"; architecture §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    MissingToken,
    /// Not a JWT at all (not three base64url parts, or parts that do not decode), or
    /// signed claims that are not the claims object: nothing to check a signature of.
    MalformedToken,
    BadSignature,
    Expired,
    NotYetValid,
    /// `exp` further ahead than `GONG_WEBHOOK_MAX_TOKEN_AGE` allows: a token that would
    /// stay replayable too long, though it is valid now.
    ExpTooFar,
    BodyHashMismatch,
    UrlMismatch,
    Replayed,
    AlgNotAllowed,
    UnknownKey,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::MalformedToken => "malformed_token",
            Reason::ExpTooFar => "exp_too_far",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BodyHashMismatch => "body_hash_mismatch",
            Reason::UrlMismatch => "url_mismatch",
            Reason::Replayed => "replayed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownKey => "unknown_key",
        }
    }
}

/// A refused credential: the reason code and a message safe to send back (never a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", reason.code())]
pub struct Rejection {
    pub reason: Reason,
    pub message: &'static str,
}

fn reject(reason: Reason, message: &'static str) -> Rejection {
    Rejection { reason, message }
}

/// A body that verified but is not the envelope the route expects: 400 or 415.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PayloadError {
    #[error("Content-Type must be application/json")]
    NotJson,
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    #[error("{0}")]
    Invalid(String),
}

/// What a token or key proved: which method and which configured key.
#[derive(Debug, Clone)]
struct Proof {
    method: AuthMethod,
    key_id: Option<String>,
    replay: Option<ReplayGuard>,
}

/// Verifies webhooks against the configured keys. Cheap to share behind an `Arc`.
pub struct Verifier {
    rs256: Vec<NamedKey>,
    hs256: Vec<NamedKey>,
    /// (key id, SHA-256 of the key)
    url_keys: Vec<(String, [u8; 32])>,
    public_url: Option<String>,
    allow_unsigned: bool,
    max_token_age_secs: i64,
    rs256_validation: Validation,
    hs256_validation: Validation,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest(&SHA256, data).as_ref())
}

impl Verifier {
    /// Compiles the configured keys. Errors name the variable and entry, never the secret.
    pub fn new(cfg: &WebhookAuthConfig) -> Result<Verifier, crate::config::ConfigError> {
        let mut problems = Vec::new();
        let rs256 = keys::rs256_keys(&cfg.rs256_public_keys, &mut problems);
        let hs256 = keys::hs256_keys(&cfg.hs256_secrets, &mut problems);
        let url_keys = url_key::digests(&cfg.url_keys, &mut problems);
        if let Some(url) = &cfg.public_url
            && !webhook_url::is_usable_public_url(url)
        {
            problems.push(
                "GONG_WEBHOOK_PUBLIC_URL: must be an absolute http:// or https:// URL".into(),
            );
        }
        if !problems.is_empty() {
            return Err(crate::config::ConfigError(problems));
        }
        Ok(Verifier {
            rs256,
            hs256,
            url_keys,
            public_url: cfg.public_url.clone(),
            // "Unsigned" is for trials with nothing configured; once any method is set, a
            // request without a credential is refused like any other.
            allow_unsigned: cfg.allow_unsigned && !cfg.has_method(),
            max_token_age_secs: cfg.max_token_age.as_secs() as i64,
            rs256_validation: token::validation(Algorithm::RS256),
            hs256_validation: token::validation(Algorithm::HS256),
        })
    }

    /// The ids of the configured keys, for the start-up report.
    pub fn key_ids(&self) -> Vec<&str> {
        self.rs256
            .iter()
            .chain(&self.hs256)
            .map(|k| k.id.as_str())
            .chain(self.url_keys.iter().map(|(id, _)| id.as_str()))
            .collect()
    }

    /// Checks what the request's headers alone prove, before any of its body is read.
    ///
    /// `authorization` is the `Authorization` header, `url_key` the `key` query parameter.
    /// The body is checked afterwards by [`PendingRequest::with_body`].
    pub fn check_headers(
        &self,
        kind: EventKind,
        authorization: Option<&str>,
        url_key: Option<&str>,
    ) -> Result<PendingRequest, Rejection> {
        let (proof, body_sha256_claim) =
            if let Some(candidate) = url_key.filter(|_| !self.url_keys.is_empty()) {
                (self.verify_url_key(candidate)?, None)
            } else if let Some(token) = authorization.map(strip_bearer).filter(|t| !t.is_empty()) {
                let (proof, claim) = self.verify_token(kind, token)?;
                (proof, Some(claim))
            } else if self.allow_unsigned {
                let proof = Proof {
                    method: AuthMethod::Unsigned,
                    key_id: None,
                    replay: None,
                };
                (proof, None)
            } else {
                return Err(reject(
                    Reason::MissingToken,
                    "no Authorization token (or URL key) on the request",
                ));
            };
        Ok(PendingRequest::new(kind, proof, body_sha256_claim))
    }
}

fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return "";
    }
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_prefix_is_optional_and_case_insensitive() {
        assert_eq!(strip_bearer("Bearer a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("bearer   a.b.c "), "a.b.c");
        assert_eq!(strip_bearer("a.b.c"), "a.b.c");
        assert_eq!(strip_bearer("Bear"), "Bear");
        assert_eq!(strip_bearer("Bearer "), "");
    }

    #[test]
    fn bad_public_keys_are_reported_by_entry() {
        let cfg = WebhookAuthConfig {
            rs256_public_keys: vec!["not base64!".into(), "aGVsbG8=".into()],
            hs256_secrets: vec![secrecy::SecretString::from("short")],
            ..Default::default()
        };
        let err = Verifier::new(&cfg).err().unwrap();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.0[0].contains("entry 1"));
        assert!(err.0[1].contains("entry 2"));
        assert!(!err.to_string().contains("short\""));
    }

    #[test]
    fn a_public_url_that_no_claim_can_match_is_reported() {
        let cfg = WebhookAuthConfig {
            public_url: Some("https://relay example.com".into()),
            ..Default::default()
        };
        let err = Verifier::new(&cfg).err().unwrap();
        assert_eq!(
            err.0,
            ["GONG_WEBHOOK_PUBLIC_URL: must be an absolute http:// or https:// URL"]
        );
    }
}
