//! The `webhook_url` claim: does the token name this endpoint?
//!
//! Gong's claim is the URL typed into the rule, and ours is `GONG_WEBHOOK_PUBLIC_URL` plus
//! the route, so the two may be spelled differently while naming the same endpoint. Both
//! are parsed with the `url` crate (the WHATWG parser reqwest uses too) rather than compared
//! as strings: it knows default ports, host case, IDNA, dot segments and which characters a
//! path must percent-encode. Anything that does not parse as an absolute URL never matches.

use url::Url;

use super::EventKind;

/// Whether `claimed` is `public_url` + `kind`'s route, up to [`normalize_url`].
pub(super) fn names_route(claimed: &str, public_url: &str, kind: EventKind) -> bool {
    let expected = format!("{public_url}{}", kind.route());
    match (normalize_url(claimed), normalize_url(&expected)) {
        (Some(claimed), Some(expected)) => claimed == expected,
        _ => false,
    }
}

/// Whether a configured public URL can be matched at all (see [`normalize_url`]).
pub(super) fn is_usable_public_url(public_url: &str) -> bool {
    normalize_url(&format!("{public_url}{}", EventKind::Call.route())).is_some()
}

/// The URL as the parser serializes it (scheme and host lower-cased, default port dropped,
/// path dot segments resolved and percent-encoded where needed), without query and
/// fragment, and with trailing `/` trimmed. Existing percent escapes are kept as written,
/// so `%63` and `c` still differ, as they did before the parser. `None` when `url` is not an
/// absolute URL.
fn normalize_url(url: &str) -> Option<String> {
    let mut url = Url::parse(url.trim()).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://relay.example.com";

    fn same(a: &str, b: &str) -> bool {
        matches!((normalize_url(a), normalize_url(b)), (Some(a), Some(b)) if a == b)
    }

    #[test]
    fn urls_compare_by_scheme_host_and_path() {
        assert!(same(
            "HTTPS://Relay.Example.com:443/webhook/gong/calls/?x=1",
            "https://relay.example.com/webhook/gong/calls"
        ));
        assert!(!same(
            "https://relay.example.com/webhook/gong/emails",
            "https://relay.example.com/webhook/gong/calls"
        ));
        assert!(!same(
            "http://relay.example.com/webhook/gong/calls",
            "https://relay.example.com/webhook/gong/calls"
        ));
    }

    /// Cases the string handling this replaced also got right: kept.
    #[test]
    fn what_string_handling_already_did_is_kept() {
        let calls = EventKind::Call;
        for claim in [
            "https://relay.example.com/webhook/gong/calls",
            "https://relay.example.com:443/webhook/gong/calls",
            "HTTPS://RELAY.Example.COM/webhook/gong/calls",
            "https://relay.example.com/webhook/gong/calls/",
            "https://relay.example.com/webhook/gong/calls?source=gong#x",
            "  https://relay.example.com/webhook/gong/calls\n",
        ] {
            assert!(names_route(claim, PUBLIC, calls), "{claim}");
        }
        assert!(names_route(
            "http://127.0.0.1/webhook/gong/calls",
            "http://127.0.0.1:80",
            calls
        ));
        for claim in [
            // Another port, path case, a different host, credentials, no scheme.
            "https://relay.example.com:8443/webhook/gong/calls",
            "https://relay.example.com:80/webhook/gong/calls",
            "https://relay.example.com/Webhook/Gong/Calls",
            "https://relay.example.com.evil.net/webhook/gong/calls",
            "https://user@relay.example.com/webhook/gong/calls",
            "relay.example.com/webhook/gong/calls",
            // An escape is compared as written, not decoded (%63 is `c`), as before.
            "https://relay.example.com/webhook/gong/%63alls",
        ] {
            assert!(!names_route(claim, PUBLIC, calls), "{claim}");
        }
    }

    /// Cases only a URL parser gets right: improved.
    #[test]
    fn what_only_a_parser_gets_right() {
        let calls = EventKind::Call;
        // A port is a number: 0443 is 443, the default, as a client would connect.
        assert!(names_route(
            "https://relay.example.com:0443/webhook/gong/calls",
            PUBLIC,
            calls
        ));
        // A character the path must encode equals its encoded form.
        assert!(names_route(
            "https://relay.example.com/gong%20relay/webhook/gong/calls",
            "https://relay.example.com/gong relay",
            calls
        ));
        assert!(names_route(
            "https://relay.example.com/r%C3%A9seau/webhook/gong/calls",
            "https://relay.example.com/réseau",
            calls
        ));
        // Dot segments are resolved, as a client resolves them before sending.
        assert!(names_route(
            "https://relay.example.com/x/../webhook/./gong/calls",
            PUBLIC,
            calls
        ));
        // Internationalized hosts compare in their ASCII (punycode) form.
        assert!(names_route(
            "https://Bücher.example/webhook/gong/calls",
            "https://xn--bcher-kva.example",
            calls
        ));
        // What is not a URL matches nothing, not even itself.
        assert!(!names_route(
            "https://relay example.com/webhook/gong/calls",
            "https://relay example.com",
            calls
        ));
        assert!(!is_usable_public_url("https://relay example.com"));
        assert!(!is_usable_public_url("https://relay.example.com:99999"));
        assert!(is_usable_public_url(PUBLIC));
    }
}
