//! URL keys: a shared token in the webhook URL's `?key=`, for senders that cannot sign.
//!
//! Keys are kept only as SHA-256 digests, and a candidate's digest is compared with every
//! key's in constant time without stopping at a match, so the time taken says nothing about
//! the keys' lengths or about which key came close. A URL key proves less than a token: no
//! body hash, no expiry, and so no replay guard.

use aws_lc_rs::digest::{SHA256, digest};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::keys::key_id;
use super::{AuthMethod, Proof, Reason, Rejection, Verifier, reject};

/// (key id, SHA-256 of the key) for each configured URL key.
pub(super) fn digests(keys: &[SecretString]) -> Vec<(String, Vec<u8>)> {
    // Kept as digests: comparing fixed-length digests reveals nothing about the keys'
    // lengths, which comparing the keys themselves would.
    keys.iter()
        .map(|k| {
            let bytes = k.expose_secret().as_bytes();
            (
                key_id("url", bytes),
                digest(&SHA256, bytes).as_ref().to_vec(),
            )
        })
        .collect()
}

impl Verifier {
    pub(super) fn verify_url_key(&self, candidate: &str) -> Result<Proof, Rejection> {
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
}
