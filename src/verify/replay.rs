//! Replay protection: what of an accepted token must be remembered, and for how long.
//!
//! The work is split on purpose: this module computes the token's hash and expiry, and the
//! store records them in the same transaction as the event, so "seen once" holds across
//! restarts and replicas and a token is consumed only if its event is stored.

use super::sha256_hex;
use super::token::SKEW_SECS;

/// The hash of an accepted token and how long it must be remembered.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    pub token_sha256: String,
    pub expires_at_ms: i64,
}

impl ReplayGuard {
    /// The guard of an accepted `token` whose `exp` claim is `exp` (seconds).
    pub(super) fn for_token(token: &str, exp: i64) -> ReplayGuard {
        ReplayGuard {
            token_sha256: sha256_hex(token.as_bytes()),
            // Remembered past `exp` by the skew: until then the token could still pass.
            expires_at_ms: exp.saturating_add(SKEW_SECS + 1).saturating_mul(1000),
        }
    }
}
