//! The verification matrix (architecture §3): every accepted scheme, and one case per 401 reason.

use std::collections::BTreeSet;

use gong_relay::config::RawConfig;
use gong_sim::{RuleKey, SendOptions, SimConfig};
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::helpers::*;

const CALLS: &str = "/webhook/gong/calls";

/// Posts the fixture with `auth` and expects a 401 with `reason`; nothing may be stored.
async fn expect_refused(app: &TestApp, body: &[u8], auth: Option<&str>, reason: &str) {
    let (status, json) = answer(app.post(CALLS, body, auth).await).await;
    assert_eq!(status, 401, "{json}");
    assert_eq!(json["error"], reason, "{json}");
    assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(app.store().events().await.unwrap().is_empty());
}

/// A fresh app refuses the fixture with each `(Authorization, reason)` that `cases` makes for
/// it, as [`expect_refused`] checks.
async fn refuses(db: &TestDb, cases: impl FnOnce(&[u8]) -> Vec<(String, &'static str)>) {
    refuses_with(db, |_| {}, cases).await;
}

/// [`refuses`], with the app configured by `tweak`.
async fn refuses_with(
    db: &TestDb,
    tweak: impl FnOnce(&mut RawConfig),
    cases: impl FnOnce(&[u8]) -> Vec<(String, &'static str)>,
) {
    let app = TestApp::spawn_with(db, tweak).await;
    let body = call_body();
    for (auth, reason) in cases(&body) {
        expect_refused(&app, &body, Some(&auth), reason).await;
    }
    app.stop().await;
}

/// Gong's claims for `body` with `claim` set to `value`, signed RS256 with rule key A.
fn rs256_with(body: &[u8], claim: &str, value: Value) -> String {
    let mut claims = gong_claims(CALLS, body);
    claims[claim] = value;
    sign_rs256("gong_rule_a.key.pem", &claims)
}

/// HS256 claims for `body` with `claim` set to `value` (null: left out), signed with the
/// new secret.
fn hs256_with(body: &[u8], claim: &str, value: Value) -> String {
    let mut claims = hs_claims(CALLS, body);
    match value {
        Value::Null => claims.as_object_mut().unwrap().remove(claim),
        value => claims.as_object_mut().unwrap().insert(claim.into(), value),
    };
    sign_hs256(SECRET_NEW.as_bytes(), &claims)
}

/// The classic key-confusion forgery: HMAC keyed with the RSA public key's text.
fn forged_with_the_public_key(body: &[u8]) -> String {
    let public = read_data("gong_rule_a.pub.b64");
    sign_hs256(public.as_bytes(), &hs_claims(CALLS, body))
}

async fn rs256_gong_token_is_accepted_raw_and_with_bearer(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (body, raw) = signed_fixture();
    let (status, json) = answer(app.post(CALLS, &body, Some(&raw)).await).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "accepted");
    let event = app.stored(json["event_id"].as_str().unwrap()).await;
    assert_eq!(event.auth_method, "rs256");
    assert!(event.key_id.as_deref().unwrap().starts_with("rs256:"));
    assert_eq!(event.payload, body, "raw bytes as received");
    assert_eq!(event.body_sha256, sha256_hex(&body));
    assert_eq!(event.source_id, "7693221800038890052");
    assert_eq!(event.kind, "call");
    assert_eq!(event.status, "pending");
    assert!(!event.is_test);

    let body2 = call_body_for("1111");
    let bearer = format!("Bearer {}", gong_token(&body2));
    app.accepted(CALLS, &body2, Some(&bearer)).await;
    assert_eq!(app.store().events().await.unwrap().len(), 2);
    app.stop().await;
}

async fn hs256_old_and_new_secrets_both_verify(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let mut key_ids = Vec::new();
    for (i, secret) in [SECRET_OLD, SECRET_NEW].iter().enumerate() {
        let body = call_body_for(&format!("{i}00"));
        let token = sign_hs256(secret.as_bytes(), &hs_claims(CALLS, &body));
        let event = app
            .stored(&app.accepted(CALLS, &body, Some(&token)).await)
            .await;
        assert_eq!(event.auth_method, "hs256");
        key_ids.push(event.key_id.unwrap());
    }
    assert_ne!(key_ids[0], key_ids[1], "each secret has its own key id");
    app.stop().await;
}

async fn url_key_verifies_and_a_wrong_one_is_unknown(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let json_type = [("content-type", "application/json")];
    let res = app
        .post_with(&format!("{CALLS}?key={URL_KEY}"), call_body(), &json_type)
        .await;
    let (status, json) = answer(res).await;
    assert_eq!(status, 200, "{json}");
    let wrong = format!("{CALLS}?key=not-the-key");
    let (status, json) = answer(app.post_with(&wrong, call_body_for("2"), &[]).await).await;
    assert_eq!((status, json["error"].as_str()), (401, Some("unknown_key")));
    app.stop().await;
}

async fn missing_token(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    expect_refused(&app, &call_body(), None, "missing_token").await;
    expect_refused(&app, &call_body(), Some("Bearer "), "missing_token").await;
    app.stop().await;
}

async fn bad_signature(db: TestDb) {
    refuses(&db, |body| {
        // A Gong token from a rule whose key is not configured (no kid: Gong sends none).
        let foreign = sign_rs256("gong_rule_b.key.pem", &gong_claims(CALLS, body));
        // A valid token whose signature was altered (a middle character: the last one also
        // carries padding bits that base64 decoding may refuse before any verification).
        let token = gong_token(body);
        let at = token.rfind('.').unwrap() + 40;
        let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
        // An HS256 token signed with a secret that is not configured.
        let wrong = sign_hs256(b"some-other-secret-entirely", &hs_claims(CALLS, body));
        let tokens = [foreign, tampered, wrong];
        tokens.map(|t| (t, "bad_signature")).to_vec()
    })
    .await;
}

/// Not a JWT at all: nothing was signed, so the reason is not the signature's.
async fn malformed_token(db: TestDb) {
    refuses(&db, |body| {
        let token = gong_token(body);
        let two_parts = token[..token.rfind('.').unwrap()].to_owned();
        let bad_header = format!("!!!{token}");
        ["garbage".to_owned(), two_parts, bad_header]
            .map(|t| (t, "malformed_token"))
            .to_vec()
    })
    .await;
}

async fn unknown_key(db: TestDb) {
    refuses(&db, |body| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rs256:deadbeef".into());
        let claims = gong_claims(CALLS, body);
        let token = sign_rs256_with_header("gong_rule_b.key.pem", &claims, header);
        vec![(token, "unknown_key")]
    })
    .await;
}

async fn alg_none_is_not_allowed(db: TestDb) {
    let none = |body: &[u8]| unsigned_token(&gong_claims(CALLS, body));
    refuses(&db, |body| vec![(none(body), "alg_not_allowed")]).await;
}

/// Only HS256 secrets are configured.
fn secrets_only(c: &mut RawConfig) {
    c.gong_webhook_public_keys = None;
    c.gong_webhook_url_keys = None;
}

async fn rs256_token_against_hs256_secrets_only(db: TestDb) {
    refuses_with(&db, secrets_only, |body| {
        vec![(gong_token(body), "alg_not_allowed")]
    })
    .await;
}

/// Only RS256 rule keys are configured.
fn rule_keys_only(c: &mut RawConfig) {
    c.gong_webhook_secrets = None;
    c.gong_webhook_url_keys = None;
}

async fn hs256_token_against_rs256_keys_only(db: TestDb) {
    let forged = |body: &[u8]| vec![(forged_with_the_public_key(body), "alg_not_allowed")];
    refuses_with(&db, rule_keys_only, forged).await;
}

async fn key_confusion_with_both_kinds_configured(db: TestDb) {
    refuses(&db, |body| {
        vec![(forged_with_the_public_key(body), "bad_signature")]
    })
    .await;
}

async fn other_algorithms_are_not_allowed(db: TestDb) {
    refuses(&db, |body| {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET_NEW.as_bytes()).unwrap();
        let header = Header::new(Algorithm::HS512);
        let hs512 = jsonwebtoken::encode(&header, &hs_claims(CALLS, body), &key).unwrap();
        vec![(hs512, "alg_not_allowed")]
    })
    .await;
}

async fn expired(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let body = call_body();
    let token = rs256_with(&body, "exp", json!(now() - 120));
    expect_refused(&app, &body, Some(&token), "expired").await;
    // Within the 60 s skew it still passes.
    let token = rs256_with(&body, "exp", json!(now() - 30));
    assert_eq!(app.post(CALLS, &body, Some(&token)).await.status(), 200);
    app.stop().await;
}

async fn far_future_exp_is_too_far_and_future_iat_not_yet_valid(db: TestDb) {
    refuses(&db, |body| {
        let far_future = rs256_with(body, "exp", json!(now() + 3 * 3600));
        let future_iat = hs256_with(body, "iat", json!(now() + 600));
        vec![(far_future, "exp_too_far"), (future_iat, "not_yet_valid")]
    })
    .await;
}

async fn body_changed_by_one_byte(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (body, token) = signed_fixture();
    let mut changed = body.clone();
    let i = changed.iter().position(|b| *b == b'7').unwrap();
    changed[i] = b'8';
    expect_refused(&app, &changed, Some(&token), "body_hash_mismatch").await;
    app.stop().await;
}

async fn wrong_webhook_url(db: TestDb) {
    let elsewhere = json!("https://attacker.example.net/webhook/gong/calls");
    refuses(&db, |body| {
        let attacker = rs256_with(body, "webhook_url", elsewhere);
        // A token minted for another route of ours does not fit this one either.
        let emails = gong_claims("/webhook/gong/emails", body);
        let other_route = sign_rs256("gong_rule_a.key.pem", &emails);
        vec![(attacker, "url_mismatch"), (other_route, "url_mismatch")]
    })
    .await;
}

/// A token is accepted once: sent again (a proxy that lost our 200), also after a restart,
/// it is answered with the event it was accepted as, and nothing new is stored.
async fn a_resent_token_is_a_duplicate_also_after_restart(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (body, token) = signed_fixture();
    let id = app.accepted(CALLS, &body, Some(&token)).await;
    let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(
        (status, &json["event_id"], &json["duplicate"]),
        (200, &json!(id), &json!(true))
    );
    app.stop().await;

    let app = TestApp::spawn(&db).await;
    let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
    assert_eq!(
        (status, &json["event_id"], &json["duplicate"]),
        (200, &json!(id), &json!(true))
    );
    assert_eq!(app.store().events().await.unwrap().len(), 1);
    app.stop().await;
}

async fn hs256_iat_is_required_and_bounded(db: TestDb) {
    refuses(&db, |body| {
        vec![
            (hs256_with(body, "iat", Value::Null), "bad_signature"),
            (hs256_with(body, "iat", json!(now() - 2 * 3600)), "expired"),
            // Absurd times are refused with a reason, not an overflow.
            (hs256_with(body, "exp", json!(1e300)), "exp_too_far"),
        ]
    })
    .await;
}

async fn several_rule_keys_in_base64_and_pem(db: TestDb) {
    let pem = {
        let b64 = read_data("gong_rule_b.pub.b64");
        let lines: Vec<String> = b64
            .trim()
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    };
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_public_keys =
            Some(json!([read_data("gong_rule_a.pub.b64"), pem]).to_string());
    })
    .await;
    let mut key_ids = std::collections::HashSet::new();
    for (i, key) in ["gong_rule_a.key.pem", "gong_rule_b.key.pem"]
        .iter()
        .enumerate()
    {
        let body = call_body_for(&format!("31{i}"));
        let token = sign_rs256(key, &gong_claims(CALLS, &body));
        let (status, json) = answer(app.post(CALLS, &body, Some(&token)).await).await;
        assert_eq!(status, 200, "{key}: {json}");
        let e = app.stored(json["event_id"].as_str().unwrap()).await;
        key_ids.insert(e.key_id.unwrap());
    }
    assert_eq!(key_ids.len(), 2, "each rule's key has its own id");
    app.stop().await;
}

async fn one_token_sent_concurrently_is_accepted_once(db: TestDb) {
    let app = TestApp::spawn(&db).await;
    let (body, token) = signed_fixture();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (sender, body, token) = (app.sender(), body.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let res = sender.post(CALLS, body, &[("authorization", &token)]).await;
            answer(res.unwrap()).await
        }));
    }
    // One acceptance; the others are exact retries of it: duplicates of its event.
    let mut accepted = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (200, json) => {
                ids.insert(json["event_id"].as_str().unwrap().to_owned());
                if json["duplicate"] != true {
                    accepted += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((accepted, ids.len()), (1, 1));
    assert_eq!(app.store().events().await.unwrap().len(), 1);
    app.stop().await;
}

async fn unsigned_only_when_allowed(db: TestDb) {
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_secrets = None;
        c.gong_webhook_public_keys = None;
        c.gong_webhook_url_keys = None;
        c.gong_webhook_allow_unsigned = Some("true".into());
    })
    .await;
    let event = app
        .stored(&app.accepted(CALLS, &call_body(), None).await)
        .await;
    assert_eq!(event.auth_method, "unsigned");
    app.stop().await;

    // Once a method is configured, the flag no longer lets credential-less requests in.
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_allow_unsigned = Some("true".into());
    })
    .await;
    let (status, json) = answer(app.post(CALLS, &call_body_for("8"), None).await).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("missing_token"))
    );
    app.stop().await;
}

/// Key ids name HS256 secrets and URL keys by their position in their list, and an RS256
/// key by a fingerprint of its public key: two different secrets at the same position get
/// the same id, so a stored id carries nothing that could test a guess of a secret.
async fn key_ids_reveal_nothing_of_the_secrets(db: TestDb) {
    let lists = [
        [
            "first-list-secret-one-0123456789abcdef",
            "first-list-secret-two-0123456789abcdef",
        ],
        [
            "other-list-secret-one-fedcba9876543210",
            "other-list-secret-two-fedcba9876543210",
        ],
    ];
    let url_keys = [
        "first-url-key-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "other-url-key-abcdefghijklmnopqrstuvwxyz",
    ];
    let mut seen = Vec::new();
    for (i, (secrets, url_key)) in lists.iter().zip(url_keys).enumerate() {
        let app = TestApp::spawn_with(&db, |c| {
            c.gong_webhook_secrets = Some(json!(secrets).to_string());
            c.gong_webhook_url_keys = Some(json!([url_key]).to_string());
        })
        .await;
        let body = call_body_for(&format!("90{i}1"));
        let token = sign_hs256(secrets[1].as_bytes(), &hs_claims(CALLS, &body));
        let hs = app
            .stored(&app.accepted(CALLS, &body, Some(&token)).await)
            .await;
        let body = call_body_for(&format!("90{i}2"));
        let path = format!("{CALLS}?key={url_key}");
        let url = app.stored(&app.accepted(&path, &body, None).await).await;
        let body = call_body_for(&format!("90{i}3"));
        let rs = app
            .stored(&app.accepted(CALLS, &body, Some(&gong_token(&body))).await)
            .await;
        seen.push([hs.key_id.unwrap(), url.key_id.unwrap(), rs.key_id.unwrap()]);
        app.stop().await;
    }
    // The RS256 id is the public key's SHA-256 fingerprint (of its SPKI DER), which an
    // operator can compute from the key Gong shows.
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        read_data("gong_rule_a.pub.b64").trim(),
    )
    .unwrap();
    let fingerprint = format!("rs256:{}", &sha256_hex(&der)[..8]);
    let expected = ["hs256:2".to_owned(), "url_key:1".to_owned(), fingerprint];
    assert_eq!(seen, [expected.clone(), expected]);
}

/// Rows written before the ids changed carried 32 bits of an unsalted hash of the secret:
/// the migrations replace them with a marker (in the inbox and in the warehouse's raw
/// table), and leave today's ids alone.
async fn legacy_key_ids_are_scrubbed(db: TestDb) {
    let secret = "legacy-secret-0123456789abcdef0123456789";
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_secrets = Some(json!([secret]).to_string());
    })
    .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = call_body_for(&format!("7700{n}"));
        let token = sign_hs256(secret.as_bytes(), &hs_claims(CALLS, &body));
        ids.push(app.accepted(CALLS, &body, Some(&token)).await);
    }
    // Raw rows as a warehouse of that time holds them (this app runs no workers).
    let wh = app.app.pipeline().warehouse().clone();
    let raw_key_ids = ["hs256:1f2e3d4c", "url:a0b1c2d3", "hs256:1"];
    let rows: Vec<serde_json::Value> = ids
        .iter()
        .zip(raw_key_ids)
        .map(|(id, key_id)| {
            json!({"event_id": id, "kind": "call", "source_id": id, "request_id": "r",
                   "received_at": "2026-12-01T00:00:00Z", "auth_method": "hs256",
                   "key_id": key_id, "is_test": false, "body_sha256": "00"})
        })
        .collect();
    let rows = gong_relay::warehouse::Rows::of(&gong_relay::warehouse::RAW, &rows).unwrap();
    wh.write(&rows).await.unwrap();
    // Age two inbox rows to the old id forms.
    let old = [
        (ids[0].as_str(), "hs256:1f2e3d4c"),
        (ids[1].as_str(), "url:a0b1c2d3"),
    ];
    let store_sql = include_str!("../../migrations/sqlite/20261202040001_legacy_key_ids.sql");
    let wh_sql =
        include_str!("../../migrations/warehouse/sqlite/20261202100001_legacy_key_ids.sql");
    macro_rules! age_and_migrate {
        ($pool:expr) => {{
            for (id, key_id) in old {
                let sql =
                    format!("UPDATE inbox_events SET key_id = '{key_id}' WHERE event_id = '{id}'");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute($pool)
                    .await
                    .unwrap();
            }
            sqlx::raw_sql(store_sql).execute($pool).await.unwrap();
            sqlx::raw_sql(wh_sql).execute($pool).await.unwrap();
        }};
    }
    match app.store() {
        gong_relay::store::Store::Sqlite(p) => age_and_migrate!(p),
        gong_relay::store::Store::Postgres(p) => age_and_migrate!(p),
    }
    let key_ids = |id: String| {
        let wh = wh.clone();
        let app = &app;
        async move {
            let inbox = app.stored(&id).await.key_id;
            let raw = wh
                .fetch(&gong_relay::warehouse::RAW, &id)
                .await
                .unwrap()
                .unwrap()["key_id"]
                .clone();
            (inbox, raw)
        }
    };
    assert_eq!(
        key_ids(ids[0].clone()).await,
        (Some("hs256:legacy".into()), json!("hs256:legacy"))
    );
    assert_eq!(
        key_ids(ids[1].clone()).await,
        (Some("url_key:legacy".into()), json!("url_key:legacy"))
    );
    assert_eq!(
        key_ids(ids[2].clone()).await,
        (Some("hs256:1".into()), json!("hs256:1"))
    );
    app.stop().await;
}

/// `gong-relay check-config` in a directory holding `.env` with `line`, nothing else set.
fn check_config_with_dotenv(line: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), format!("{line}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gong-relay"))
        .arg("check-config")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// An unquoted JSON list in `.env` reaches us without its double quotes: refused with the
/// fix (single quotes), never echoing the secret; in single quotes it is accepted.
#[test]
fn an_unquoted_json_list_in_dotenv_says_to_use_single_quotes() {
    let list = format!("[\"{SECRET_NEW}\"]");
    let (ok, text) = check_config_with_dotenv(&format!("GONG_WEBHOOK_SECRETS={list}"));
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "GONG_WEBHOOK_SECRETS: must be a JSON array of strings, e.g. [\"a\", \"b\"]; this one \
             has no double quotes, as .env leaves an unquoted list: in .env write it in single \
             quotes, GONG_WEBHOOK_SECRETS='[\"...\"]'"
        ),
        "{text}"
    );
    assert!(
        !text.contains(SECRET_NEW),
        "the secret is not echoed: {text}"
    );
    // The one reason, not a second line claiming that no method is configured at all.
    assert!(
        !text.contains("no webhook verification configured"),
        "{text}"
    );
    let (ok, text) = check_config_with_dotenv(&format!("GONG_WEBHOOK_SECRETS='{list}'"));
    assert!(ok, "{text}");
}

crate::on_both_backends!(
    legacy_key_ids_are_scrubbed,
    key_ids_reveal_nothing_of_the_secrets,
    rs256_gong_token_is_accepted_raw_and_with_bearer,
    hs256_old_and_new_secrets_both_verify,
    url_key_verifies_and_a_wrong_one_is_unknown,
    missing_token,
    bad_signature,
    malformed_token,
    unknown_key,
    alg_none_is_not_allowed,
    rs256_token_against_hs256_secrets_only,
    hs256_token_against_rs256_keys_only,
    key_confusion_with_both_kinds_configured,
    other_algorithms_are_not_allowed,
    expired,
    far_future_exp_is_too_far_and_future_iat_not_yet_valid,
    body_changed_by_one_byte,
    wrong_webhook_url,
    a_resent_token_is_a_duplicate_also_after_restart,
    hs256_iat_is_required_and_bounded,
    several_rule_keys_in_base64_and_pem,
    one_token_sent_concurrently_is_accepted_once,
    unsigned_only_when_allowed,
);

/// Webhooks as the simulator's rule sends them (RS256, Gong's claims) pass verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_verify_against_gong_relay() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let key = RuleKey::generate();
    let app = TestApp::spawn_with(&db, |c| {
        c.gong_webhook_public_keys = Some(json!([key.public_key_base64()]).to_string());
        c.gong_webhook_public_url = Some(PUBLIC_URL.into());
    })
    .await;
    let sim = gong_sim::start(SimConfig::loopback()).await.unwrap();
    let claim = format!("{PUBLIC_URL}/webhook/gong/calls");
    let opts = SendOptions {
        to: app.url("/webhook/gong/calls"),
        count: 3,
        rate: 20.0,
        webhook_url: Some(claim.clone()),
        simulator: Some(sim.base_url()),
        ..SendOptions::default()
    };
    let report = gong_sim::send_webhooks(&key, &opts).await.unwrap();
    assert_eq!(
        (report.sent, report.accepted, report.failed),
        (3, 3, 0),
        "{report:?}"
    );
    assert_eq!(report.statuses.get(&200), Some(&3));

    // A test delivery of a locally made call, with the Bearer knob.
    let test = SendOptions {
        count: 1,
        is_test: true,
        bearer_prefix: true,
        simulator: None,
        ..opts.clone()
    };
    let report = gong_sim::send_webhooks(&key, &test).await.unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");

    let events = app.store().events().await.unwrap();
    assert_eq!(events.len(), 4);
    let known: BTreeSet<String> = sim.call_ids().into_iter().collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| known.contains(&e.source_id))
            .count(),
        3
    );
    assert_eq!(events.iter().filter(|e| e.is_test).count(), 1);

    // A token for another URL is refused: the claim matters.
    let wrong = SendOptions {
        webhook_url: Some("https://elsewhere.example.com/webhook/gong/calls".into()),
        ..test
    };
    let report = gong_sim::send_webhooks(&key, &wrong).await.unwrap();
    assert_eq!(report.statuses.get(&401), Some(&1), "{report:?}");
    sim.shutdown().await;
    app.stop().await;
}
