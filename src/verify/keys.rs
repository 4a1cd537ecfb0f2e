//! Key material: parsing Gong's rule public keys and naming every key by an id that
//! reveals nothing secret.
//!
//! Gong shows a rule's public key as bare base64 SPKI DER; operators also paste PEM, either
//! SPKI or PKCS#1. All three end up as SPKI DER and then a `jsonwebtoken::DecodingKey`.
//! Key ids are logged and stored in every raw row, so they must not help anyone who reads
//! them: an RS256 key is named by a fingerprint of its public key (public material), and a
//! secret (HS256 secret, URL key) by its position in its list, 1-based (`hs256:2` is the
//! second entry of GONG_WEBHOOK_SECRETS), never by anything derived from its value. An id
//! hashed from a secret would let a reader of the warehouse test guesses offline.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::DecodingKey;
use secrecy::{ExposeSecret, SecretString};

/// Shortest HS256 secret or URL key accepted, in bytes: 256 bits, the size of HS256's own
/// output, so that guessing the secret is no easier than forging the MAC.
pub const MIN_SECRET_BYTES: usize = 32;

/// A configured key with the id it is logged and stored under.
pub(super) struct NamedKey {
    pub(super) id: String,
    pub(super) key: DecodingKey,
}

/// The id of an RS256 public key: `rs256:` + the first 8 hex digits of the SHA-256 of its
/// SPKI DER (what `openssl pkey -pubin -outform DER | sha256sum` prints).
pub(super) fn rs256_key_id(spki_der: &[u8]) -> String {
    format!("rs256:{}", &super::sha256_hex(spki_der)[..8])
}

/// The id of the `index`th (0-based) entry of a list of secrets: `kind:` + its 1-based
/// position, so that the id says which entry is in use and nothing about its value.
pub(super) fn position_id(kind: &str, index: usize) -> String {
    format!("{kind}:{}", index + 1)
}

/// Whether a secret is long enough; a problem line names the variable and entry only.
pub(super) fn long_enough(
    var: &str,
    index: usize,
    secret: &[u8],
    problems: &mut Vec<String>,
) -> bool {
    if secret.len() >= MIN_SECRET_BYTES {
        return true;
    }
    problems.push(format!(
        "{var}: entry {} is shorter than {MIN_SECRET_BYTES} bytes; use a random value of at least {MIN_SECRET_BYTES} bytes",
        index + 1
    ));
    false
}

/// Parses a Gong rule public key: bare base64 SPKI DER as Gong shows it, or PEM (SPKI or
/// PKCS#1). Returns the key and its SPKI DER (for the key id).
pub fn parse_rs256_public_key(text: &str) -> Result<(DecodingKey, Vec<u8>), &'static str> {
    let text = text.trim();
    let der = if text.starts_with("-----BEGIN") {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|_| "PEM body is not valid base64")?;
        if text.contains("RSA PUBLIC KEY") {
            // PKCS#1: wrapped as SPKI, so that one key has one id whichever form is pasted.
            pkcs1_to_spki(&der)
        } else {
            der
        }
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

/// `SubjectPublicKeyInfo { AlgorithmIdentifier rsaEncryption, BIT STRING pkcs1 }` in DER.
fn pkcs1_to_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_length(pkcs1.len() + 1, &mut bit_string);
    bit_string.push(0x00); // no unused bits
    bit_string.extend_from_slice(pkcs1);
    let mut spki = vec![0x30];
    der_length(RSA_ALGORITHM.len() + bit_string.len(), &mut spki);
    spki.extend_from_slice(&RSA_ALGORITHM);
    spki.extend_from_slice(&bit_string);
    spki
}

/// Appends a DER length: short form below 128, else long form.
fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    out.push(0x80 | (bytes.len() - first) as u8);
    out.extend_from_slice(&bytes[first..]);
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
                id: rs256_key_id(&der),
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
        if !long_enough("GONG_WEBHOOK_SECRETS", i, bytes, problems) {
            continue;
        }
        match DecodingKey::from_secret(bytes) {
            Ok(key) => keys.push(NamedKey {
                id: position_id("hs256", i),
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

/// SHA-256 of `data` as a fixed-size array (for constant-time comparison of digests).
pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> String {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn secret_ids_are_positions_and_carry_no_hash_of_the_secret() {
        let mut problems = Vec::new();
        let a = [
            SecretString::from("a".repeat(32)),
            SecretString::from("first-list-second-secret-0123456789"),
        ];
        let b = [
            SecretString::from("b".repeat(40)),
            SecretString::from("other-list-second-secret-abcdefghij"),
        ];
        let ids = |s: &[SecretString], p: &mut Vec<String>| {
            hs256_keys(s, p)
                .into_iter()
                .map(|k| k.id)
                .collect::<Vec<_>>()
        };
        // Different secrets at the same position: the same id.
        assert_eq!(ids(&a, &mut problems), ["hs256:1", "hs256:2"]);
        assert_eq!(ids(&b, &mut problems), ["hs256:1", "hs256:2"]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn rs256_ids_fingerprint_the_public_key_in_any_form() {
        let b64 = data("gong_rule_a.pub.b64");
        let (_, der) = parse_rs256_public_key(&b64).unwrap();
        // `openssl pkey -pubin -outform DER | sha256sum` of rule key A starts with d10b67db.
        assert_eq!(rs256_key_id(&der), "rs256:d10b67db");
        let (_, pkcs1_as_spki) =
            parse_rs256_public_key(&data("gong_rule_a.pub.pkcs1.pem")).unwrap();
        assert_eq!(
            pkcs1_as_spki, der,
            "PKCS#1 PEM is wrapped into the same SPKI"
        );
        let (_, other) = parse_rs256_public_key(&data("gong_rule_b.pub.b64")).unwrap();
        assert_ne!(rs256_key_id(&other), rs256_key_id(&der));
    }

    #[test]
    fn short_secrets_are_refused_by_entry_without_their_value() {
        let mut problems = Vec::new();
        let secrets = [
            SecretString::from("x".repeat(32)),
            SecretString::from("thirty-one-bytes-long-secret-31"),
        ];
        assert_eq!(hs256_keys(&secrets, &mut problems).len(), 1);
        assert_eq!(
            problems,
            [
                "GONG_WEBHOOK_SECRETS: entry 2 is shorter than 32 bytes; use a random value of at least 32 bytes"
            ]
        );
    }

    #[test]
    fn der_lengths() {
        let mut out = Vec::new();
        der_length(0x7f, &mut out);
        der_length(0x80, &mut out);
        der_length(0x10f, &mut out);
        assert_eq!(out, [0x7f, 0x81, 0x80, 0x82, 0x01, 0x0f]);
    }
}
