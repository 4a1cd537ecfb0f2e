//! Key material: parsing Gong's rule public keys and naming every key by a stable id.
//!
//! Gong shows a rule's public key as bare base64 SPKI DER; operators also paste PEM, either
//! SPKI or PKCS#1. All three end up as a `jsonwebtoken::DecodingKey`. Each key, public or
//! secret, is logged and stored under an id derived from it by hashing, so that rotation
//! can be followed in the logs without any key (or a usable hint of one) appearing there.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::DecodingKey;
use secrecy::{ExposeSecret, SecretString};

/// A configured key with the id it is logged and stored under.
pub(super) struct NamedKey {
    pub(super) id: String,
    pub(super) key: DecodingKey,
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

/// The keys of `GONG_WEBHOOK_PUBLIC_KEYS`; a bad entry adds a line to `problems`.
pub(super) fn rs256_keys(texts: &[String], problems: &mut Vec<String>) -> Vec<NamedKey> {
    let mut keys = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match parse_rs256_public_key(text) {
            Ok((key, der)) => keys.push(NamedKey {
                id: key_id("rs256", &der),
                key,
            }),
            Err(why) => problems.push(format!(
                "GONG_WEBHOOK_PUBLIC_KEYS: entry {} is {why}",
                i + 1
            )),
        }
    }
    keys
}

/// The keys of `GONG_WEBHOOK_SECRETS`; a bad entry adds a line to `problems` that names
/// it by position, never by value.
pub(super) fn hs256_keys(secrets: &[SecretString], problems: &mut Vec<String>) -> Vec<NamedKey> {
    let mut keys = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < 16 {
            problems.push(format!(
                "GONG_WEBHOOK_SECRETS: entry {} is shorter than 16 characters",
                i + 1
            ));
            continue;
        }
        match DecodingKey::from_secret(bytes) {
            Ok(key) => keys.push(NamedKey {
                id: key_id("hs256", bytes),
                key,
            }),
            Err(_) => problems.push(format!(
                "GONG_WEBHOOK_SECRETS: entry {} cannot be used as an HS256 key",
                i + 1
            )),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_stable_and_do_not_contain_the_secret() {
        let a = key_id("hs256", b"a-very-secret-value");
        assert_eq!(a, key_id("hs256", b"a-very-secret-value"));
        assert_ne!(a, key_id("hs256", b"another-secret-value"));
        assert!(a.starts_with("hs256:") && a.len() == "hs256:".len() + 8);
    }
}
