//! Parsers for the kinds of value the variables hold, each recording its problems.
//!
//! Every parser takes the variable's name and its raw text, and on a bad value adds one
//! line to [`Problems`] and returns the default, so that parsing goes on and the whole
//! configuration is judged in one pass. Values that may be secret (`X` or `X_FILE`, JSON
//! arrays of keys) are never echoed in a problem.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

fn reqwest_like_url_ok(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

/// Collects problems while parsing, so they can all be reported together.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<String>);

impl Problems {
    pub(super) fn add(&mut self, var: &str, why: &str) {
        self.0.push(format!("{var}: {why}"));
    }

    pub(super) fn finish(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.0))
        }
    }

    /// A value that may be given directly or as `X_FILE`. The file's content is trimmed of a
    /// trailing newline, as secret files usually end with one.
    pub(super) fn plain_or_file(
        &mut self,
        var: &str,
        value: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<String> {
        match (value, file) {
            (Some(_), Some(_)) => {
                self.add(var, &format!("set together with {var}_FILE; set only one"));
                None
            }
            (Some(v), None) => Some(v),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_owned()),
                Err(e) => {
                    self.add(
                        &format!("{var}_FILE"),
                        &format!("cannot read {}: {e}", path.display()),
                    );
                    None
                }
            },
            (None, None) => None,
        }
    }

    pub(super) fn secret(
        &mut self,
        var: &str,
        value: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<SecretString> {
        self.plain_or_file(var, value, file)
            .filter(|s| !s.is_empty())
            .map(SecretString::from)
    }

    /// A secret JSON array of non-empty strings (keys), given directly or as `X_FILE`.
    pub(super) fn secret_array(
        &mut self,
        var: &str,
        value: Option<String>,
        file: Option<PathBuf>,
    ) -> Vec<SecretString> {
        self.secret(var, value, file)
            .map(|s| self.string_array(var, s.expose_secret()))
            .unwrap_or_default()
            .into_iter()
            .map(SecretString::from)
            .collect()
    }

    /// A JSON array of non-empty strings. The error never echoes the value: it may be secret.
    pub(super) fn string_array(&mut self, var: &str, value: &str) -> Vec<String> {
        let value = value.trim();
        if value.is_empty() {
            return Vec::new();
        }
        match serde_json::from_str::<Vec<String>>(value) {
            Ok(items) if items.iter().all(|i| !i.trim().is_empty()) => items,
            Ok(_) => {
                self.add(var, "contains an empty string");
                Vec::new()
            }
            // `[a, b]` without a double quote is what `.env` leaves of an unquoted JSON list
            // (dotenvy reads `"` as shell-like quoting and drops it). Not accepted as a
            // list: the items cannot be told apart safely (a secret may hold `,` or `]`),
            // and an unquoted value also loses `$` and `\`: single quotes keep it as is.
            Err(_) if value.starts_with('[') && !value.contains('"') => {
                self.add(
                    var,
                    &format!(
                        "must be a JSON array of strings, e.g. [\"a\", \"b\"]; this one has no \
                         double quotes, as .env leaves an unquoted list: in .env write it in \
                         single quotes, {var}='[\"...\"]'"
                    ),
                );
                Vec::new()
            }
            Err(_) => {
                self.add(var, "must be a JSON array of strings, e.g. [\"a\", \"b\"]");
                Vec::new()
            }
        }
    }

    pub(super) fn boolean(&mut self, var: &str, value: Option<&str>, default: bool) -> bool {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(_) => {
                self.add(var, "must be true or false");
                default
            }
        }
    }

    pub(super) fn duration(&mut self, var: &str, value: Option<&str>, default: &str) -> Duration {
        let text = value.map(str::trim).filter(|v| !v.is_empty());
        match text {
            Some("0") => Duration::ZERO,
            Some(t) => humantime::parse_duration(t).unwrap_or_else(|_| {
                self.add(var, "must be a duration such as 30s, 15m, 1h or 7d");
                humantime::parse_duration(default).expect("default durations are valid")
            }),
            None => humantime::parse_duration(default).expect("default durations are valid"),
        }
    }

    /// A number that `ok` accepts; `why` is the problem when it does not parse or fit.
    fn number<T: FromStr + Copy>(
        &mut self,
        var: &str,
        value: Option<&str>,
        default: T,
        ok: impl Fn(T) -> bool,
        why: &str,
    ) -> T {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(n) if ok(n) => n,
                _ => {
                    self.add(var, why);
                    default
                }
            },
        }
    }

    pub(super) fn positive_f64(&mut self, var: &str, value: Option<&str>, default: f64) -> f64 {
        let ok = |n: f64| n.is_finite() && n > 0.0;
        self.number(var, value, default, ok, "must be a positive number")
    }

    pub(super) fn positive_int(&mut self, var: &str, value: Option<&str>, default: u64) -> u64 {
        let ok = |n: u64| n > 0 && n <= u32::MAX as u64;
        self.number(
            var,
            value,
            default,
            ok,
            "must be a whole number greater than zero",
        )
    }

    /// A whole number from 0 to `max` (0 is allowed, unlike [`Problems::positive_int`]).
    pub(super) fn whole_number_up_to(
        &mut self,
        var: &str,
        value: Option<&str>,
        max: u64,
        default: u64,
    ) -> u64 {
        let why = format!("must be a whole number from 0 to {max}");
        self.number(var, value, default, |n: u64| n <= max, &why)
    }

    pub(super) fn url(&mut self, var: &str, value: Option<&str>, default: &str) -> String {
        self.optional_url(var, value)
            .unwrap_or_else(|| default.to_owned())
    }

    /// An absolute http(s) URL without its trailing `/`; `None` when unset, empty or bad.
    pub(super) fn optional_url(&mut self, var: &str, value: Option<&str>) -> Option<String> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) if reqwest_like_url_ok(v) => Some(v.trim_end_matches('/').to_owned()),
            Some(_) => {
                self.add(var, "must be an absolute http:// or https:// URL");
                None
            }
        }
    }
}
