//! Rows the warehouse refuses: one bad row must not take its batch with it. A text
//! PostgreSQL cannot hold (NUL) is stored with U+FFFD in its place; a row the warehouse
//! refuses for good (a constraint) fails alone, and only it uses an attempt.

use gong_relay::store::Store;
use gong_relay::warehouse::{EMAILS, RAW};
use serde_json::{Value, json};

use super::*;

/// Four emails to the same Gong user, `em-1` .. `em-4`, the last one shaped by `last`.
async fn four_emails(app: &TestApp, user: &str, last: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut events = Vec::new();
    let mut last = Some(last);
    for n in 1..=4 {
        let mut w = email_webhook(user);
        w["emailData"]["id"] = json!(format!("em-{n}"));
        if n == 4 {
            (last.take().unwrap())(&mut w);
        }
        events.push(post_hs256(app, "/webhook/gong/emails", &w).await);
    }
    events
}

/// One batch of four emails, one of which carries NUL in its body (raw JSON: `\u0000`,
/// which jsonb refuses; text: a NUL, which TEXT refuses). Every one is stored, the NUL as
/// U+FFFD, with its first and only attempt.
async fn an_email_with_nul_is_stored_with_its_batch(db: TestDb) {
    let (sim, app) = start_without_workers(&db, |c| c.max_attempts = Some("1".into())).await;
    let user = internal_email(&sim.create_calls(1).remove(0));
    let events = four_emails(&app, &user, |w| {
        w["emailData"]["body"] = json!("Hello\u{0}world, we might cancel.");
        w["emailData"]["subject"] = json!("Re\u{0}newal");
    })
    .await;
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 4, "one batch");
    for e in &events {
        let s = summary(&app, e).await;
        assert_eq!((s.status.as_str(), s.attempts), ("done", 1), "{s:?}");
    }
    let stored = row(&app, &EMAILS, "em-4").await.unwrap();
    assert_eq!(stored["subject"], json!("Re\u{FFFD}newal"));
    assert_eq!(
        stored["body"],
        json!("Hello\u{FFFD}world, we might cancel.")
    );
    let raw = row(&app, &RAW, &events[3]).await.unwrap();
    assert_eq!(
        raw["payload"]["emailData"]["subject"],
        json!("Re\u{FFFD}newal")
    );
    stop(app, sim).await;
}

/// Makes the emails table refuse any row whose subject is `unwritable`, as a constraint
/// the row cannot meet (a CHECK on PostgreSQL, a trigger on SQLite, which cannot add a
/// CHECK to an existing table).
async fn refuse_unwritable_subject(store: &Store) {
    match store {
        Store::Postgres(pool) => {
            sqlx::query(
                "ALTER TABLE gong_emails_enhanced ADD CONSTRAINT writable_subject \
                 CHECK (subject IS DISTINCT FROM 'unwritable')",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        Store::Sqlite(pool) => {
            sqlx::query(
                "CREATE TRIGGER writable_subject BEFORE INSERT ON gong_emails_enhanced \
                 WHEN NEW.subject = 'unwritable' BEGIN SELECT RAISE(ABORT, 'unwritable subject'); END",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// A batch of four emails, one of which the warehouse refuses for good: the three others
/// are stored in the same pass with their one attempt; the bad one uses its only attempt
/// (MAX_ATTEMPTS 1) and is dead-lettered, alone.
async fn one_unwritable_row_fails_alone(db: TestDb) {
    let (sim, app) = start_without_workers(&db, |c| c.max_attempts = Some("1".into())).await;
    refuse_unwritable_subject(app.store()).await;
    let user = internal_email(&sim.create_calls(1).remove(0));
    let events = four_emails(&app, &user, |w| {
        w["emailData"]["subject"] = json!("unwritable");
    })
    .await;
    assert_eq!(app.app.pipeline().run_once().await.unwrap(), 4, "one batch");
    for (n, e) in events[..3].iter().enumerate() {
        let s = summary(&app, e).await;
        assert_eq!((s.status.as_str(), s.attempts), ("done", 1), "{s:?}");
        assert!(row(&app, &EMAILS, &format!("em-{}", n + 1)).await.is_some());
    }
    let bad = summary(&app, &events[3]).await;
    assert_eq!((bad.status.as_str(), bad.attempts), ("dead", 1), "{bad:?}");
    assert!(
        bad.last_error.as_deref().unwrap().contains("warehouse"),
        "{bad:?}"
    );
    assert!(row(&app, &EMAILS, "em-4").await.is_none());
    assert_eq!(outbox_types(&app, &events[3]).await, ["processing_error"]);
    stop(app, sim).await;
}

crate::on_postgres!(postgres_only: an_email_with_nul_is_stored_with_its_batch);
crate::on_both_backends!(one_unwritable_row_fails_alone);
