//! The webhook-verification settings: the `GONG_WEBHOOK_*` variables.
//!
//! Only the shape of each value is checked here (JSON arrays, a URL, a duration). Whether a
//! public key is an RSA key or a secret is long enough is for `verify::Verifier::new` to
//! say, as it is the one that compiles the material into keys; `Config::from_raw` asks it
//! once everything else has been read, so its lines come last.

use std::time::Duration;

use secrecy::SecretString;

use super::RawConfig;
use super::parse::Problems;

/// Webhook verification material, as configured (the verifier compiles it into keys).
#[derive(Debug, Clone, Default)]
pub struct WebhookAuthConfig {
    pub hs256_secrets: Vec<SecretString>,
    /// Each entry is bare base64 SPKI DER or PEM, as pasted from Gong's "Show public key".
    pub rs256_public_keys: Vec<String>,
    pub url_keys: Vec<SecretString>,
    pub public_url: Option<String>,
    pub allow_unsigned: bool,
    pub max_token_age: Duration,
}

impl WebhookAuthConfig {
    /// True when at least one real verification method (not "unsigned") is configured.
    pub fn has_method(&self) -> bool {
        !self.hs256_secrets.is_empty()
            || !self.rs256_public_keys.is_empty()
            || !self.url_keys.is_empty()
    }

    /// Reads the `GONG_WEBHOOK_*` variables out of `raw`, recording problems in `p`.
    pub(super) fn from_raw(p: &mut Problems, raw: &mut RawConfig) -> WebhookAuthConfig {
        let hs256_secrets = p.secret_array(
            "GONG_WEBHOOK_SECRETS",
            raw.gong_webhook_secrets.take(),
            raw.gong_webhook_secrets_file.take(),
        );
        let rs256_public_keys = p
            .plain_or_file(
                "GONG_WEBHOOK_PUBLIC_KEYS",
                raw.gong_webhook_public_keys.take(),
                raw.gong_webhook_public_keys_file.take(),
            )
            .map(|s| p.string_array("GONG_WEBHOOK_PUBLIC_KEYS", &s))
            .unwrap_or_default();
        let url_keys = p.secret_array(
            "GONG_WEBHOOK_URL_KEYS",
            raw.gong_webhook_url_keys.take(),
            raw.gong_webhook_url_keys_file.take(),
        );
        let public_url = p.optional_url(
            "GONG_WEBHOOK_PUBLIC_URL",
            raw.gong_webhook_public_url.as_deref(),
        );
        let allow_unsigned = p.boolean(
            "GONG_WEBHOOK_ALLOW_UNSIGNED",
            raw.gong_webhook_allow_unsigned.as_deref(),
            false,
        );
        let max_token_age = p.duration(
            "GONG_WEBHOOK_MAX_TOKEN_AGE",
            raw.gong_webhook_max_token_age.as_deref(),
            "1h",
        );
        if max_token_age.is_zero() {
            p.add("GONG_WEBHOOK_MAX_TOKEN_AGE", "must be greater than zero");
        }
        WebhookAuthConfig {
            hs256_secrets,
            rs256_public_keys,
            url_keys,
            public_url,
            allow_unsigned,
            max_token_age,
        }
    }
}
