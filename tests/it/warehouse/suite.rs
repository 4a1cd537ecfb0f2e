//! The warehouse suite: each test body runs once per backend (`on_every_warehouse!`:
//! SQLite, PostgreSQL and Snowflake through its stand-in), over the fixtures of `mod.rs`.

use super::*;

async fn migrate_is_idempotent_and_creates_every_table(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    // Twice more, in both orders: each migrator tolerates the other's versions.
    wh.migrate().await.unwrap();
    store.migrate().await.unwrap();
    wh.migrate().await.unwrap();
    assert_eq!(wh.backend(), t.backend);
    wh.ping().await.unwrap();
    for table in TABLES {
        assert_eq!(wh.count(table).await.unwrap(), 0, "{}", table.name);
        // Selecting names every column of the definition: a column missing from the DDL
        // fails here.
        let none = wh.select(table, table.key[0], "nothing").await.unwrap();
        assert!(none.is_empty(), "{}", table.name);
        assert!(wh.fetch(table, "nothing").await.unwrap().is_none());
    }
    // The operational store still works next to the warehouse.
    assert_eq!(store.inbox_depth().await.unwrap(), 0);
    store.close().await;
}

async fn calls_round_trip_every_column_type(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    let full = CallRow {
        call_id: "7782342274025937895".into(),
        title: text("Quarterly review — ACME"),
        url: text("https://app.gong.io/call?id=7782342274025937895"),
        started: Some(at(1_780_000_000_250)),
        scheduled: Some(at(1_779_999_900_000)),
        duration_seconds: Some(1834.5),
        direction: text("Conference"),
        system: text("Zoom"),
        scope: text("External"),
        media: text("Video"),
        language: text("eng"),
        workspace_id: text("623457276584334"),
        primary_user_id: text("234599484848423"),
        is_private: Some(true),
        participants: json!([
            {"name": "Ann", "emailAddress": "ann@example.com", "affiliation": "Internal",
             "context": [{"system": "Salesforce", "objects": [{"objectType": "Contact",
                 "fields": [{"name": "Title", "value": "VP"}]}]}]},
            {"name": "Bob", "emailAddress": null, "speakerId": 42}
        ]),
        trackers: json!([{"name": "Pricing", "count": 3, "occurrences": [{"startTime": 12.5}]}]),
        topics: json!([{"name": "Budget", "duration": 120.25}]),
        action_items: json!(["Send the proposal", "Book a follow-up"]),
        brief: text("Customer asked about pricing.\nFollow-up next week."),
        key_points: json!([{"text": "Budget approved"}]),
        interaction_stats: json!({"talkRatio": 0.42, "longestMonologue": 95, "nested": {"deep": [1, 2, {"x": true}]}}),
        talk_ratio: Some(0.42),
        transcript: json!([{"speakerId": "42", "topic": "Pricing",
            "sentences": [{"start": 0, "end": 1500, "text": "Hello \"there\" ☃"}]}]),
        call_outcome: text("Qualified"),
        enhanced: Enhanced {
            crm_context: json!({"accounts": [{"id": "001", "name": "ACME"}]}),
            sentiment_score: Some(-0.25),
            insights: json!({"risks": ["budget"], "score": 87}),
            priority: "high".into(),
            next_steps: json!([{"action": "send proposal", "due": "2026-12-01"}]),
            data_quality_score: 0.95,
            enhanced: true,
            enhancement_note: None,
            is_test: false,
            source_event_id: "evt-full".into(),
            version: 1_780_000_001_000,
            updated_at: at(1_780_000_001_999),
        },
    };
    let mut rows = Rows::of(&CALLS, &[full.clone(), bare_call("bare-1", 1)]).unwrap();
    // Times with other offsets, and finer than milliseconds: stored as the same instant,
    // read back in UTC with milliseconds.
    rows.rows[0].insert("started".into(), json!("2026-05-28T22:16:40.250+02:00"));
    rows.rows[0].insert("scheduled".into(), json!("2026-05-28T15:45:00.000-05:00"));
    rows.rows[0].insert("unknown_field".into(), json!("ignored"));
    wh.write(&rows).await.unwrap();
    assert_eq!(wh.count(&CALLS).await.unwrap(), 2);

    let got = fetch(&wh, &CALLS, "7782342274025937895").await;
    let mut expected = serde_json::to_value(&full).unwrap();
    expected["started"] = json!("2026-05-28T20:16:40.250Z");
    expected["scheduled"] = json!("2026-05-28T20:45:00.000Z");
    expected["updated_at"] = json!("2026-05-28T20:26:41.999Z");
    assert_eq!(Value::Object(got.clone()), expected);
    // Spelled out, so the test does not rest on serialisation alone.
    assert_eq!(got.len(), CALLS.columns.len());
    assert_eq!(got["is_private"], json!(true));
    assert_eq!(got["enhanced"], json!(true));
    assert_eq!(got["is_test"], json!(false));
    assert_eq!(got["duration_seconds"], json!(1834.5));
    assert_eq!(got["sentiment_score"], json!(-0.25));
    assert_eq!(got["version"], json!(1_780_000_001_000i64));
    assert_eq!(got["enhancement_note"], Value::Null);
    assert_eq!(
        got["participants"][0]["context"][0]["objects"][0]["fields"][0]["value"],
        json!("VP")
    );
    assert_eq!(got["participants"][1]["emailAddress"], Value::Null);
    assert_eq!(
        got["transcript"][0]["sentences"][0]["text"],
        json!("Hello \"there\" ☃")
    );
    assert!(!got.contains_key("unknown_field"));

    let bare = fetch(&wh, &CALLS, "bare-1").await;
    assert_eq!(bare.len(), CALLS.columns.len());
    for col in [
        "title",
        "started",
        "duration_seconds",
        "is_private",
        "participants",
        "transcript",
        "crm_context",
        "sentiment_score",
    ] {
        assert_eq!(bare[col], Value::Null, "{col}");
    }
    assert_eq!(bare["insights"], json!([]));
    assert_eq!(bare["priority"], json!("low"));
    assert_eq!(bare["data_quality_score"], json!(0.5));
    assert_eq!(bare["enhanced"], json!(false));
    assert_eq!(bare["updated_at"], json!("2026-05-28T20:26:40.001Z"));

    // A non-string value in a text column is kept as its JSON text.
    let mut rows = Rows::of(&CALLS, &[bare_call("bare-2", 1)]).unwrap();
    rows.rows[0].insert("title".into(), json!({"a": 1}));
    rows.rows[0].insert("media".into(), json!(12));
    wh.write(&rows).await.unwrap();
    let got = fetch(&wh, &CALLS, "bare-2").await;
    assert_eq!(got["title"], json!(r#"{"a":1}"#));
    assert_eq!(got["media"], json!("12"));

    assert!(wh.fetch(&CALLS, "unknown").await.unwrap().is_none());
    store.close().await;
}

async fn upsert_replaces_older_rows_only(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    write(&wh, &CALLS, &[titled_call("c1", 10, "first")]).await;
    assert_eq!(fetch(&wh, &CALLS, "c1").await["title"], json!("first"));

    write(&wh, &CALLS, &[titled_call("c1", 20, "newer")]).await;
    let got = fetch(&wh, &CALLS, "c1").await;
    assert_eq!(got["title"], json!("newer"));
    assert_eq!(got["version"], json!(20));

    // A worker whose lease expired writes its older result late: ignored, no error.
    write(&wh, &CALLS, &[titled_call("c1", 15, "stale")]).await;
    let got = fetch(&wh, &CALLS, "c1").await;
    assert_eq!(got["title"], json!("newer"));
    assert_eq!(got["version"], json!(20));

    // The same version again (reprocessing the same claim) replaces the row.
    let mut again = titled_call("c1", 20, "again");
    again.is_private = Some(false);
    write(&wh, &CALLS, &[again]).await;
    let got = fetch(&wh, &CALLS, "c1").await;
    assert_eq!(got["title"], json!("again"));
    assert_eq!(got["is_private"], json!(false));

    // Every non-key column is replaced, NULLs included.
    write(&wh, &CALLS, &[bare_call("c1", 30)]).await;
    let got = fetch(&wh, &CALLS, "c1").await;
    assert_eq!(got["title"], Value::Null);
    assert_eq!(got["is_private"], Value::Null);
    assert_eq!(wh.count(&CALLS).await.unwrap(), 1);

    // The meetings table upserts the same way.
    let meeting = |version: i64, title: &str| MeetingRow {
        meeting_id: "m1".into(),
        title: Some(title.into()),
        start_time: Some(at(1_780_000_000_000)),
        end_time: Some(at(1_780_003_600_000)),
        organizer: json!({"email": "ann@example.com"}),
        invitees: json!([{"email": "bob@example.com"}]),
        meeting_url: None,
        call_id: Some("c1".into()),
        workspace_id: None,
        participants: json!([]),
        recorded_call: Value::Null,
        enhanced: enhanced(version, "evt-m"),
    };
    write(&wh, &MEETINGS, &[meeting(5, "new")]).await;
    write(&wh, &MEETINGS, &[meeting(4, "old")]).await;
    let got = fetch(&wh, &MEETINGS, "m1").await;
    assert_eq!(got["title"], json!("new"));
    assert_eq!(got["end_time"], json!("2026-05-28T21:26:40.000Z"));
    assert_eq!(got["recorded_call"], Value::Null);
    store.close().await;
}

async fn one_batch_with_a_key_twice_keeps_the_highest_version(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    write(
        &wh,
        &EMAILS,
        &[
            email("e1", 5, "v5"),
            email("e2", 1, "other"),
            email("e1", 9, "v9"),
            email("e1", 7, "v7"),
            // Ties: the later row wins, as a later write would.
            email("e3", 3, "first"),
            email("e3", 3, "second"),
        ],
    )
    .await;
    assert_eq!(wh.count(&EMAILS).await.unwrap(), 3);
    let e1 = fetch(&wh, &EMAILS, "e1").await;
    assert_eq!(e1["subject"], json!("v9"));
    assert_eq!(e1["version"], json!(9));
    assert_eq!(e1["word_count"], json!(1));
    assert_eq!(e1["from_address"]["name"], json!("Ann"));
    assert_eq!(e1["sent_at"], json!("2026-05-28T20:26:40.123Z"));
    assert_eq!(fetch(&wh, &EMAILS, "e2").await["subject"], json!("other"));
    assert_eq!(fetch(&wh, &EMAILS, "e3").await["subject"], json!("second"));

    // A stored row of a higher version still wins over the batch's best.
    write(&wh, &EMAILS, &[email("e1", 8, "v8"), email("e1", 6, "v6")]).await;
    assert_eq!(fetch(&wh, &EMAILS, "e1").await["subject"], json!("v9"));
    store.close().await;
}

async fn insert_ignore_keeps_the_first_raw_row(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    let batches = [
        vec![raw("evt-1", "call-1", json!({"n": 1}))],
        // Written again (a retry after a crash): the stored row stays as it was.
        vec![
            raw("evt-2", "call-1", json!({"n": 2})),
            raw("evt-1", "call-1", json!({"n": 99})),
        ],
        // Twice in one batch: the first one is kept.
        vec![
            raw("evt-3", "call-2", json!({"n": 3})),
            raw("evt-3", "call-2", json!({"n": 4})),
        ],
    ];
    for batch in &batches {
        write(&wh, &RAW, batch).await;
    }
    assert_eq!(wh.count(&RAW).await.unwrap(), 3);
    let first = fetch(&wh, &RAW, "evt-1").await;
    assert_eq!(first["payload"], json!({"n": 1}));
    assert_eq!(first["is_test"], json!(true));
    assert_eq!(first["key_id"], Value::Null);
    assert_eq!(first["received_at"], json!("2026-05-28T20:26:40.000Z"));
    assert_eq!(fetch(&wh, &RAW, "evt-3").await["payload"], json!({"n": 3}));

    let of_call: Vec<Value> = wh
        .select(&RAW, "source_id", "call-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r["event_id"].clone())
        .collect();
    assert_eq!(of_call, [json!("evt-1"), json!("evt-2")]);
    store.close().await;
}

async fn a_large_history_batch_is_written_in_chunks(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    // 10 columns: 3,000 rows per statement, so 4,000 rows take two statements (in one
    // transaction).
    const N: i64 = 4_000;
    let base = 1_780_000_000_000;
    let rows: Vec<HistoryRow> = (0..N)
        .map(|i| {
            history(
                history_id(base + i),
                &format!("evt-{}", i % 100),
                1 + i / 100,
                "enhance",
                base + i,
            )
        })
        .collect();
    write(&wh, &HISTORY, &rows).await;
    assert_eq!(wh.count(&HISTORY).await.unwrap(), N);
    // A row from each statement reads back intact.
    for i in [0, 3_500] {
        let got = fetch(&wh, &HISTORY, &rows[i as usize].history_id).await;
        assert_eq!(got["event_id"], json!(format!("evt-{}", i % 100)));
        assert_eq!(got["attempt"], json!(1 + i / 100));
        assert_eq!(
            got["started_at"],
            json!(at(base + i).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        );
    }
    assert_eq!(
        wh.select(&HISTORY, "event_id", "evt-7")
            .await
            .unwrap()
            .len(),
        40
    );
    // Writing the same rows again changes nothing.
    write(&wh, &HISTORY, &rows).await;
    assert_eq!(wh.count(&HISTORY).await.unwrap(), N);
    store.close().await;
}

async fn select_returns_an_events_history_in_order(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    let t = 1_780_000_000_000;
    let stages = ["parse", "enhance", "insights", "warehouse"];
    let mut rows: Vec<HistoryRow> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ms = t + 10 * i as i64;
            history(history_id(ms), "evt-a", 1, s, ms)
        })
        .collect();
    rows.push(history(history_id(t + 5), "evt-b", 1, "parse", t + 5));
    let mut failed = history(history_id(t + 100), "evt-a", 2, "warehouse", t + 100);
    failed.status = "failed".into();
    failed.error = Some("warehouse unavailable".into());
    rows.push(failed);
    // Written out of order, in two batches.
    rows.reverse();
    write(&wh, &HISTORY, &rows[..3]).await;
    write(&wh, &HISTORY, &rows[3..]).await;

    let got = wh.select(&HISTORY, "event_id", "evt-a").await.unwrap();
    let seen: Vec<(Value, Value)> = got
        .iter()
        .map(|r| (r["stage"].clone(), r["attempt"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("parse"), json!(1)),
            (json!("enhance"), json!(1)),
            (json!("insights"), json!(1)),
            (json!("warehouse"), json!(1)),
            (json!("warehouse"), json!(2)),
        ]
    );
    assert_eq!(got[4]["status"], json!("failed"));
    assert_eq!(got[4]["error"], json!("warehouse unavailable"));
    assert_eq!(got[0]["error"], Value::Null);
    assert_eq!(got[0]["finished_at"], json!("2026-05-28T20:26:40.007Z"));

    // By a typed column: its value is parsed as that type.
    let second = wh.select(&HISTORY, "attempt", "2").await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["event_id"], json!("evt-a"));
    let at_t5 = wh
        .select(&HISTORY, "started_at", "2026-05-28T22:26:40.005+02:00")
        .await
        .unwrap();
    assert_eq!(at_t5.len(), 1);
    assert_eq!(at_t5[0]["event_id"], json!("evt-b"));
    assert!(
        wh.select(&HISTORY, "event_id", "evt-z")
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

/// `HISTORY_RETENTION`: the oldest rows go first, never more than the limit at a time, and
/// rows finished after the bound stay.
async fn history_is_pruned_oldest_first_in_bounded_batches(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    let base = 1_780_000_000_000;
    let rows: Vec<HistoryRow> = (0..5)
        .map(|i| {
            let ms = base + i * 1_000;
            history(history_id(ms), "evt-p", 1, "parse", ms)
        })
        .collect();
    write(&wh, &HISTORY, &rows).await;
    assert_eq!(wh.prune_history(base - 1, 10).await.unwrap(), 0);
    assert_eq!(wh.prune_history(base + 3_500, 2).await.unwrap(), 2);
    assert!(
        wh.fetch(&HISTORY, &rows[0].history_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        wh.fetch(&HISTORY, &rows[2].history_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(wh.prune_history(base + 3_500, 2).await.unwrap(), 2);
    assert_eq!(wh.prune_history(base + 3_500, 2).await.unwrap(), 0);
    assert_eq!(wh.count(&HISTORY).await.unwrap(), 1);
    assert!(
        wh.fetch(&HISTORY, &rows[4].history_id)
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
}

fn assert_bad_row(err: WarehouseError, table: &str, column: &str) {
    match err {
        WarehouseError::BadRow { table: t, reason } => {
            assert_eq!(t, table);
            assert!(reason.contains(column), "{reason}");
        }
        other => panic!("expected BadRow, got {other:?}"),
    }
}

async fn a_value_of_the_wrong_type_is_a_bad_row(t: TestWarehouse) {
    let (store, wh) = (t.store.clone(), t.wh.clone());
    let t = 1_780_000_000_000;
    let good = history(history_id(t), "evt-a", 1, "parse", t);
    let mut rows = Rows::of(
        &HISTORY,
        &[
            good.clone(),
            history(history_id(t + 1), "evt-a", 1, "x", t + 1),
        ],
    )
    .unwrap();
    rows.rows[1].insert("attempt".into(), json!("abc"));
    let err = wh.write(&rows).await.unwrap_err();
    assert_bad_row(err, "webhook_processing_history", "attempt");
    // Nothing of the batch was written, the good row included.
    assert_eq!(wh.count(&HISTORY).await.unwrap(), 0);

    // One row, one bad column: a value of the wrong type, or (null) a key left out.
    let history_row = Rows::of(&HISTORY, std::slice::from_ref(&good)).unwrap();
    let call_row = Rows::of(&CALLS, &[bare_call("c1", 1)]).unwrap();
    for (rows, table, column, value) in [
        (
            &history_row,
            "webhook_processing_history",
            "started_at",
            json!("yesterday"),
        ),
        (&call_row, "gong_calls_enhanced", "is_private", json!("yes")),
        (&call_row, "gong_calls_enhanced", "call_id", Value::Null),
    ] {
        let mut rows = rows.clone();
        match value {
            Value::Null => rows.rows[0].remove(column),
            value => rows.rows[0].insert(column.into(), value),
        };
        assert_bad_row(wh.write(&rows).await.unwrap_err(), table, column);
    }

    assert_bad_row(
        wh.select(&HISTORY, "no_such_column", "x")
            .await
            .unwrap_err(),
        "webhook_processing_history",
        "no_such_column",
    );
    assert_bad_row(
        wh.select(&HISTORY, "attempt", "abc").await.unwrap_err(),
        "webhook_processing_history",
        "attempt",
    );
    assert_eq!(wh.count(&HISTORY).await.unwrap(), 0);
    assert_eq!(wh.count(&CALLS).await.unwrap(), 0);

    // A NOT NULL column left empty is refused before any SQL runs, not a silent NULL.
    let mut rows = Rows::of(&HISTORY, &[good]).unwrap();
    rows.rows[0].remove("stage");
    assert_bad_row(
        wh.write(&rows).await.unwrap_err(),
        "webhook_processing_history",
        "stage",
    );
    assert_eq!(wh.count(&HISTORY).await.unwrap(), 0);
    store.close().await;
}

on_every_warehouse!(
    migrate_is_idempotent_and_creates_every_table,
    calls_round_trip_every_column_type,
    upsert_replaces_older_rows_only,
    one_batch_with_a_key_twice_keeps_the_highest_version,
    insert_ignore_keeps_the_first_raw_row,
    a_large_history_batch_is_written_in_chunks,
    select_returns_an_events_history_in_order,
    a_value_of_the_wrong_type_is_a_bad_row,
    history_is_pruned_oldest_first_in_bounded_batches,
);
