//! The `webhook_url` claim: does the token name this endpoint?
//!
//! Gong's claim is the URL typed into the rule, and ours is `GONG_WEBHOOK_PUBLIC_URL` plus
//! the route, so the two may be spelled differently while naming the same endpoint: both
//! are normalized before they are compared.

use super::EventKind;

/// Whether `claimed` is `public_url` + `kind`'s route, up to [`normalize_url`].
pub(super) fn names_route(claimed: &str, public_url: &str, kind: EventKind) -> bool {
    let expected = format!("{public_url}{}", kind.route());
    normalize_url(claimed) == normalize_url(&expected)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
