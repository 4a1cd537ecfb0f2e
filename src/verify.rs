//! Webhook verification: the only way to obtain a [`VerifiedEvent`].
//!
//! The inbox accepts nothing else, so an unverified body cannot reach storage by mistake:
//! [`Verifier::verify`] checks the credential (Gong's RS256 token, an HS256 token signed
//! with one of several shared secrets, or a URL key) and [`VerifiedRequest::into_event`]
//! then checks that the body is the JSON envelope the route expects. Both fail closed:
//! anything that is not positively verified is refused with a reason code.
//!
//! Replay protection is split on purpose: this module computes the token's hash and expiry,
//! and the store records it in the same transaction as the event, so "seen once" holds
//! across restarts and replicas and a token is consumed only if its event is stored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::config::WebhookAuthConfig;

/// Clock skew allowed on `exp`, `iat` and `nbf` (design §4: 60 s).
const SKEW_SECS: i64 = 60;
/// Longest source id accepted; Gong call ids have at most 20 digits.
const MAX_SOURCE_ID_LEN: usize = 256;

/// Which webhook route an event came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Call,
    Email,
    Meeting,
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

/// Why a webhook was refused with 401. The codes are the contract of design §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    MissingToken,
    BadSignature,
    Expired,
    NotYetValid,
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

/// The hash of an accepted token and how long it must be remembered.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    pub token_sha256: String,
    pub expires_at_ms: i64,
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

/// A configured key with the id it is logged and stored under.
struct NamedKey {
    id: String,
    key: DecodingKey,
}

/// Verifies webhooks against the configured keys. Cheap to share behind an `Arc`.
pub struct Verifier {
    rs256: Vec<NamedKey>,
    hs256: Vec<NamedKey>,
    /// (key id, SHA-256 of the key)
    url_keys: Vec<(String, Vec<u8>)>,
    public_url: Option<String>,
    allow_unsigned: bool,
    max_token_age_secs: i64,
    rs256_validation: Validation,
    hs256_validation: Validation,
}

/// The claims gong-relay reads. Everything optional: absence is decided on below, with a
/// reason code, instead of as a generic decode error.
#[derive(Deserialize)]
struct Claims {
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    webhook_url: Option<String>,
    body_sha256: Option<String>,
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// A stable, non-secret id for a key: `kind:` + 8 hex digits of a domain-separated SHA-256.
/// 32 bits identify a key among a handful without helping anyone guess a secret.
pub fn key_id(kind: &str, material: &[u8]) -> String {
    let mut input = b"gong-relay key id\0".to_vec();
    input.extend_from_slice(material);
    let d = digest(&SHA256, &input);
    format!("{kind}:{}", hex::encode(&d.as_ref()[..4]))
}

/// Parses a Gong rule public key: bare base64 SPKI DER as Gong shows it, or PEM.
/// Returns the key and its DER (for the key id).
pub fn parse_rs256_public_key(text: &str) -> Result<(DecodingKey, Vec<u8>), &'static str> {
    let text = text.trim();
    let der = if text.starts_with("-----BEGIN") {
        if text.contains("RSA PUBLIC KEY") {
            // PKCS#1: jsonwebtoken takes it as it is.
            let key = DecodingKey::from_rsa_pem(text.as_bytes())
                .map_err(|_| "not a valid PEM RSA public key")?;
            return Ok((key, text.as_bytes().to_vec()));
        }
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        STANDARD
            .decode(body)
            .map_err(|_| "PEM body is not valid base64")?
    } else {
        let body: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD
            .decode(body)
            .map_err(|_| "not valid base64 (expected Gong's bare base64 public key, or PEM)")?
    };
    let pem = spki_der_to_pem(&der);
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| "not an RSA SubjectPublicKeyInfo (expected Gong's rule public key)")?;
    Ok((key, der))
}

fn spki_der_to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
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

fn validation(alg: Algorithm) -> Validation {
    // Time claims and the body hash are checked below with our own skew and reason codes;
    // the library checks only the signature and that the header's alg is this one.
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

impl Verifier {
    /// Compiles the configured keys. Errors name the variable and entry, never the secret.
    pub fn new(cfg: &WebhookAuthConfig) -> Result<Verifier, crate::config::ConfigError> {
        let mut problems = Vec::new();
        let mut rs256 = Vec::new();
        for (i, text) in cfg.rs256_public_keys.iter().enumerate() {
            match parse_rs256_public_key(text) {
                Ok((key, der)) => rs256.push(NamedKey {
                    id: key_id("rs256", &der),
                    key,
                }),
                Err(why) => problems.push(format!(
                    "GONG_WEBHOOK_PUBLIC_KEYS: entry {} is {why}",
                    i + 1
                )),
            }
        }
        let mut hs256 = Vec::new();
        for (i, secret) in cfg.hs256_secrets.iter().enumerate() {
            let bytes = secret.expose_secret().as_bytes();
            if bytes.len() < 16 {
                problems.push(format!(
                    "GONG_WEBHOOK_SECRETS: entry {} is shorter than 16 characters",
                    i + 1
                ));
                continue;
            }
            match DecodingKey::from_secret(bytes) {
                Ok(key) => hs256.push(NamedKey {
                    id: key_id("hs256", bytes),
                    key,
                }),
                Err(_) => problems.push(format!(
                    "GONG_WEBHOOK_SECRETS: entry {} cannot be used as an HS256 key",
                    i + 1
                )),
            }
        }
        // Kept as digests: comparing fixed-length digests reveals nothing about the keys'
        // lengths, which comparing the keys themselves would.
        let url_keys = cfg
            .url_keys
            .iter()
            .map(|k| {
                let bytes = k.expose_secret().as_bytes();
                (
                    key_id("url", bytes),
                    digest(&SHA256, bytes).as_ref().to_vec(),
                )
            })
            .collect();
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
            rs256_validation: validation(Algorithm::RS256),
            hs256_validation: validation(Algorithm::HS256),
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

    /// Checks the request's credential against the body.
    ///
    /// `authorization` is the `Authorization` header, `url_key` the `key` query parameter.
    pub fn verify(
        &self,
        kind: EventKind,
        authorization: Option<&str>,
        url_key: Option<&str>,
        body: Bytes,
    ) -> Result<VerifiedRequest, Rejection> {
        let body_sha256 = sha256_hex(&body);
        let proof = if let Some(candidate) = url_key.filter(|_| !self.url_keys.is_empty()) {
            self.verify_url_key(candidate)?
        } else if let Some(token) = authorization.map(strip_bearer).filter(|t| !t.is_empty()) {
            self.verify_token(kind, token, &body_sha256)?
        } else if self.allow_unsigned {
            Proof {
                method: AuthMethod::Unsigned,
                key_id: None,
                replay: None,
            }
        } else {
            return Err(reject(
                Reason::MissingToken,
                "no Authorization token (or URL key) on the request",
            ));
        };
        Ok(VerifiedRequest {
            kind,
            proof,
            body,
            body_sha256,
        })
    }

    fn verify_url_key(&self, candidate: &str) -> Result<Proof, Rejection> {
        // Compare against every key without stopping early, so the time taken says nothing
        // about which key (if any) came close.
        let candidate = digest(&SHA256, candidate.as_bytes());
        let mut found: Option<&str> = None;
        for (id, key) in &self.url_keys {
            if bool::from(key.as_slice().ct_eq(candidate.as_ref())) {
                found = Some(id);
            }
        }
        match found {
            Some(id) => Ok(Proof {
                method: AuthMethod::UrlKey,
                key_id: Some(id.to_owned()),
                replay: None,
            }),
            None => Err(reject(
                Reason::UnknownKey,
                "the URL key is not a configured key",
            )),
        }
    }

    fn verify_token(
        &self,
        kind: EventKind,
        token: &str,
        body_sha256: &str,
    ) -> Result<Proof, Rejection> {
        let header = decode_jose_header(token)?;
        let (method, keys, validation) = match header.alg.as_deref() {
            Some("RS256") => (AuthMethod::Rs256, &self.rs256, &self.rs256_validation),
            Some("HS256") => (AuthMethod::Hs256, &self.hs256, &self.hs256_validation),
            _ => {
                return Err(reject(
                    Reason::AlgNotAllowed,
                    "only RS256 and HS256 tokens are accepted",
                ));
            }
        };
        if keys.is_empty() {
            // No key of this kind is configured: never fall back to another kind's key
            // (that is the RS256/HS256 key-confusion attack).
            return Err(reject(
                Reason::AlgNotAllowed,
                "no key of this token's algorithm is configured",
            ));
        }

        // A `kid` naming one of our keys selects it; otherwise every key of the kind is
        // tried (Gong's tokens carry no `kid`, and rotation lists old and new together).
        let kid = header.kid.as_deref();
        let preferred = kid.and_then(|kid| keys.iter().position(|k| k.id == kid));
        let order = preferred
            .into_iter()
            .chain((0..keys.len()).filter(|i| Some(*i) != preferred));
        let mut verified = None;
        for i in order {
            match jsonwebtoken::decode::<Claims>(token, &keys[i].key, validation) {
                Ok(data) => {
                    verified = Some((&keys[i].id, data.claims));
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::Json(_)) => {
                    return Err(reject(Reason::BadSignature, "token claims are not valid"));
                }
                Err(_) => return Err(reject(Reason::BadSignature, "token is malformed")),
            }
        }
        let Some((key_id, claims)) = verified else {
            return Err(match (kid, preferred) {
                (Some(_), None) => reject(
                    Reason::UnknownKey,
                    "the token's kid names no configured key and no configured key verifies it",
                ),
                _ => reject(
                    Reason::BadSignature,
                    "the signature does not verify with any configured key",
                ),
            });
        };

        // Claims are floats in JSON; `as` saturates, and the sums below saturate too, so an
        // absurd value is refused with a reason instead of overflowing.
        let now = now_secs();
        let max_age = self.max_token_age_secs;
        let exp = claims
            .exp
            .ok_or_else(|| reject(Reason::BadSignature, "token has no exp claim"))?
            as i64;
        if exp.saturating_add(SKEW_SECS) < now {
            return Err(reject(Reason::Expired, "token has expired"));
        }
        if exp > now.saturating_add(max_age).saturating_add(SKEW_SECS) {
            return Err(reject(
                Reason::NotYetValid,
                "token expires further ahead than GONG_WEBHOOK_MAX_TOKEN_AGE allows",
            ));
        }
        if let Some(nbf) = claims.nbf
            && nbf as i64 > now.saturating_add(SKEW_SECS)
        {
            return Err(reject(Reason::NotYetValid, "token is not valid yet (nbf)"));
        }
        match claims.iat.map(|iat| iat as i64) {
            Some(iat) if iat > now.saturating_add(SKEW_SECS) => {
                return Err(reject(Reason::NotYetValid, "token is issued in the future"));
            }
            Some(iat) if iat.saturating_add(max_age).saturating_add(SKEW_SECS) < now => {
                return Err(reject(
                    Reason::Expired,
                    "token was issued longer ago than GONG_WEBHOOK_MAX_TOKEN_AGE",
                ));
            }
            None if method == AuthMethod::Hs256 => {
                return Err(reject(Reason::BadSignature, "HS256 token has no iat claim"));
            }
            _ => {}
        }

        let claimed = claims
            .body_sha256
            .ok_or_else(|| reject(Reason::BodyHashMismatch, "token has no body_sha256 claim"))?;
        let claimed = claimed.to_ascii_lowercase();
        if !bool::from(claimed.as_bytes().ct_eq(body_sha256.as_bytes())) {
            return Err(reject(
                Reason::BodyHashMismatch,
                "body_sha256 does not match the body",
            ));
        }

        if let Some(public_url) = &self.public_url {
            let claimed = claims
                .webhook_url
                .ok_or_else(|| reject(Reason::UrlMismatch, "token has no webhook_url claim"))?;
            let expected = format!("{public_url}{}", kind.route());
            if normalize_url(&claimed) != normalize_url(&expected) {
                return Err(reject(
                    Reason::UrlMismatch,
                    "webhook_url is not this endpoint's public URL",
                ));
            }
        }

        Ok(Proof {
            method,
            key_id: Some(key_id.clone()),
            replay: Some(ReplayGuard {
                token_sha256: sha256_hex(token.as_bytes()),
                // Remembered past `exp` by the skew: until then the token could still pass.
                expires_at_ms: exp.saturating_add(SKEW_SECS + 1).saturating_mul(1000),
            }),
        })
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

fn decode_jose_header(token: &str) -> Result<JoseHeader, Rejection> {
    let malformed = || reject(Reason::BadSignature, "token is not a compact JWS");
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

/// Scheme and host lower-cased, default port dropped, trailing `/` trimmed, query and
/// fragment ignored: Gong's claim is the URL typed into the rule, which may differ from
/// ours in exactly these ways while naming the same endpoint.
fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or("");
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut authority = authority.to_ascii_lowercase();
    for default in [":443", ":80"] {
        if (scheme == "https" && default == ":443" || scheme == "http" && default == ":80")
            && authority.ends_with(default)
        {
            authority.truncate(authority.len() - default.len());
        }
    }
    format!("{scheme}://{authority}{}", path.trim_end_matches('/'))
}

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
        if !is_json_content_type(content_type) {
            return Err(PayloadError::NotJson);
        }
        let envelope: Envelope = match serde_json::from_slice(&self.body) {
            Ok(e) => e,
            Err(e) if e.is_data() => {
                return Err(PayloadError::Invalid(format!(
                    "body is JSON but not a {} envelope: {e}",
                    self.kind.data_field()
                )));
            }
            Err(e) => return Err(PayloadError::Malformed(e.to_string())),
        };
        let field = self.kind.data_field();
        let missing = || PayloadError::Invalid(format!("missing {field}"));
        let id = match self.kind {
            EventKind::Call => {
                let call = envelope.call_data.ok_or_else(missing)?;
                call.meta_data.and_then(|m| m.id)
            }
            EventKind::Email => envelope.email_data.ok_or_else(missing)?.id,
            EventKind::Meeting => envelope.meeting_data.ok_or_else(missing)?.id,
        };
        let id_path = match self.kind {
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
        Ok(VerifiedEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            kind: self.kind,
            source_id,
            payload: self.body,
            body_sha256: self.body_sha256,
            received_at_ms: now_ms(),
            request_id: request_id.to_owned(),
            auth_method: self.proof.method,
            key_id: self.proof.key_id,
            is_test: envelope.is_test.unwrap_or(false),
            replay: self.proof.replay,
        })
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
    fn urls_compare_by_scheme_host_and_path() {
        assert_eq!(
            normalize_url("HTTPS://Relay.Example.com:443/webhook/gong/calls/?x=1"),
            normalize_url("https://relay.example.com/webhook/gong/calls")
        );
        assert_ne!(
            normalize_url("https://relay.example.com/webhook/gong/emails"),
            normalize_url("https://relay.example.com/webhook/gong/calls")
        );
        assert_ne!(
            normalize_url("http://relay.example.com/webhook/gong/calls"),
            normalize_url("https://relay.example.com/webhook/gong/calls")
        );
    }

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

    #[test]
    fn key_ids_are_stable_and_do_not_contain_the_secret() {
        let a = key_id("hs256", b"a-very-secret-value");
        assert_eq!(a, key_id("hs256", b"a-very-secret-value"));
        assert_ne!(a, key_id("hs256", b"another-secret-value"));
        assert!(a.starts_with("hs256:") && a.len() == "hs256:".len() + 8);
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
}
