//! URL keys: a shared token in the webhook URL's `?key=`, for senders that cannot sign.
//!
//! Keys are kept only as SHA-256 digests, and a candidate's digest is compared with every
//! key's in constant time without stopping at a match, so the time taken says nothing about
//! the keys' lengths or about which key came close. A URL key proves less than a token: no
//! body hash, no expiry, and so no replay guard. Each key is named by its position in
//! GONG_WEBHOOK_URL_KEYS (`url_key:1`), never by anything derived from its value.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::keys::{long_enough, position_id, sha256};
use super::{AuthMethod, Proof, Reason, Rejection, Verifier, reject};

/// (key id, SHA-256 of the key) for each configured URL key; a key shorter than
/// [`super::MIN_SECRET_BYTES`] adds a line to `problems`, by position, never by value.
pub(super) fn digests(
    keys: &[SecretString],
    problems: &mut Vec<String>,
) -> Vec<(String, [u8; 32])> {
    // Kept as digests: comparing fixed-length digests reveals nothing about the keys'
    // lengths, which comparing the keys themselves would.
    keys.iter()
        .enumerate()
        .filter(|(i, k)| {
            long_enough(
                "GONG_WEBHOOK_URL_KEYS",
                *i,
                k.expose_secret().as_bytes(),
                problems,
            )
        })
        .map(|(i, k)| {
            (
                position_id("url_key", i),
                sha256(k.expose_secret().as_bytes()),
            )
        })
        .collect()
}

impl Verifier {
    pub(super) fn verify_url_key(&self, candidate: &str) -> Result<Proof, Rejection> {
        // Compare against every key without stopping early, so the time taken says nothing
        // about which key (if any) came close.
        let candidate = sha256(candidate.as_bytes());
        let mut found: Option<&str> = None;
        for (id, key) in &self.url_keys {
            if bool::from(key.ct_eq(&candidate)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_are_named_by_position_and_short_ones_refused() {
        let mut problems = Vec::new();
        let keys = [
            SecretString::from("k".repeat(31)),
            SecretString::from("a-url-key-of-thirty-two-bytes-ok"),
        ];
        let ids: Vec<String> = digests(&keys, &mut problems)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["url_key:2"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("GONG_WEBHOOK_URL_KEYS: entry 1 is shorter than 32 bytes"));
        assert!(!problems[0].contains("kkkk"));
    }
}
