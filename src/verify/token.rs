//! Signed tokens: Gong's RS256 JWT and HS256 JWTs signed with a shared secret.
//!
//! `jsonwebtoken` checks only the signature and that the header's `alg` is the expected
//! one; everything else (which keys to try, the time claims with our skew, the body hash,
//! the `webhook_url` claim) is decided here, so that each refusal carries the reason code
//! of architecture §3 instead of a generic decode error. The algorithm picks the key set and
//! never the other way round: that closes the RS256/HS256 key-confusion attack.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::replay::ReplayGuard;
use super::{AuthMethod, EventKind, Proof, Reason, Rejection, Verifier, reject, webhook_url};

/// Clock skew allowed on `exp`, `iat` and `nbf` (architecture §3: 60 s).
pub(super) const SKEW_SECS: i64 = 60;

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

pub(super) fn validation(alg: Algorithm) -> Validation {
    // Time claims and the body hash are checked below with our own skew and reason codes;
    // the library checks only the signature and that the header's alg is this one.
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    v
}

fn now_secs() -> i64 {
    super::now_ms() / 1000
}

impl Verifier {
    /// Checks everything a token proves without the body, and returns the proof with the
    /// token's `body_sha256` claim (lowercased) for the body phase to compare.
    pub(super) fn verify_token(
        &self,
        kind: EventKind,
        token: &str,
    ) -> Result<(Proof, String), Rejection> {
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
                    return Err(reject(Reason::MalformedToken, "token claims are not valid"));
                }
                Err(_) => return Err(reject(Reason::MalformedToken, "token is malformed")),
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
                Reason::ExpTooFar,
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

        // A token without the claim vouches for no body: refused before any body is read.
        let claimed = claims
            .body_sha256
            .ok_or_else(|| reject(Reason::BodyHashMismatch, "token has no body_sha256 claim"))?
            .to_ascii_lowercase();

        if let Some(public_url) = &self.public_url {
            let claimed = claims
                .webhook_url
                .ok_or_else(|| reject(Reason::UrlMismatch, "token has no webhook_url claim"))?;
            if !webhook_url::names_route(&claimed, public_url, kind) {
                return Err(reject(
                    Reason::UrlMismatch,
                    "webhook_url is not this endpoint's public URL",
                ));
            }
        }

        let proof = Proof {
            method,
            key_id: Some(key_id.clone()),
            replay: Some(ReplayGuard::for_token(token, exp)),
        };
        Ok((proof, claimed))
    }
}

fn decode_jose_header(token: &str) -> Result<JoseHeader, Rejection> {
    let malformed = || reject(Reason::MalformedToken, "token is not a compact JWS");
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
