//! Behaviour of the insights module as architecture §8 states it.

use std::io::Write;

use super::*;

fn rules() -> Rules {
    Rules::builtin()
}

fn say(text: &str, start_ms: i64, speaker: &str, external: bool) -> Utterance {
    Utterance {
        text: text.to_owned(),
        start_ms: Some(start_ms),
        speaker_id: Some(speaker.to_owned()),
        speaker_name: Some(format!("Speaker {speaker}")),
        external,
    }
}

/// A 30-minute call with the given customer sentences (speaker "c1", a minute apart).
fn call(customer_says: &[&str]) -> Subject {
    Subject {
        kind: SubjectKind::Call,
        duration_seconds: Some(1800.0),
        utterances: customer_says
            .iter()
            .enumerate()
            .map(|(i, text)| say(text, 60_000 * (i as i64 + 1), "c1", true))
            .collect(),
        ..Subject::default()
    }
}

fn email(subject: &str, body: &str) -> Subject {
    Subject {
        kind: SubjectKind::Email,
        texts: vec![
            TextBlock {
                source: "email_subject",
                text: subject.to_owned(),
                external: true,
            },
            TextBlock {
                source: "email_body",
                text: body.to_owned(),
                external: true,
            },
        ],
        ..Subject::default()
    }
}

/// [`call`] with one customer sentence, on an opportunity of this amount and kind.
fn call_on(amount: f64, kind: &str, customer_says: &str) -> Subject {
    Subject {
        deals: vec![deal(amount, kind)],
        ..call(&[customer_says])
    }
}

/// The analysis of `subject`, which must be urgent for a reason that says `because`.
fn assert_urgent(subject: &Subject, because: &str) -> Analysis {
    let analysis = analyze(&rules(), subject);
    let reason = &analysis.priority_reason;
    assert_eq!(analysis.priority, Priority::Urgent, "{reason}");
    assert!(reason.contains(because), "{reason}");
    analysis
}

fn deal(amount: f64, kind: &str) -> Deal {
    Deal {
        name: Some("Acme".to_owned()),
        amount: Some(amount),
        stage: Some("Negotiation".to_owned()),
        kind: Some(kind.to_owned()),
        close_date: None,
    }
}

fn action(text: &str) -> ActionItemSignal {
    ActionItemSignal {
        text: text.to_owned(),
        start_ms: Some(1_650_000),
        speaker_id: Some("rep".to_owned()),
    }
}

/// `step` is one of the analysis's next steps.
fn assert_step(analysis: &Analysis, step: &str) {
    let steps = &analysis.next_steps;
    assert!(steps.iter().any(|s| s == step), "{step:?} not in {steps:?}");
}

fn find(analysis: &Analysis, kind: InsightKind) -> Vec<&Insight> {
    analysis
        .insights
        .iter()
        .filter(|i| i.kind == kind)
        .collect()
}

fn labels(analysis: &Analysis, kind: InsightKind) -> Vec<&str> {
    find(analysis, kind)
        .iter()
        .map(|i| i.label.as_str())
        .collect()
}

fn override_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("insight-rules-")
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(contents.as_bytes())
        .expect("write temp file");
    file
}

/// The error of loading a rules file with these contents, and the file's path.
fn load_error(contents: &str) -> (String, String) {
    let file = override_file(contents);
    let error = Rules::load(&[], Some(file.path())).unwrap_err();
    (error.to_string(), file.path().display().to_string())
}

#[test]
fn default_rules_parse_and_fill_every_field() {
    let r = rules();
    assert!(r.competitors().iter().any(|c| c == "Chorus"));
    assert!(!r.request_phrases.is_empty());
    for kind in [
        InsightKind::ChurnRisk,
        InsightKind::CompetitorMention,
        InsightKind::Pricing,
        InsightKind::Legal,
        InsightKind::Upsell,
    ] {
        assert!(
            r.tracker_kinds.contains_key(&kind),
            "tracker names for {kind:?}"
        );
    }
    for kind in [
        InsightKind::ChurnRisk,
        InsightKind::Pricing,
        InsightKind::Legal,
        InsightKind::Upsell,
    ] {
        assert!(
            r.phrases.get(&kind).is_some_and(|p| !p.is_empty()),
            "{kind:?}"
        );
    }
    let s = &r.sentiment;
    assert!(!s.positive.is_empty() && !s.negative.is_empty() && !s.negators.is_empty());
    assert!(s.negation_window > 0 && s.damping > 0.0 && s.min_words == 3);
    assert_eq!(s.negative_threshold, -0.4);
    let p = &r.priority;
    assert_eq!(r.large_deal_amount(), 100_000.0);
    assert_eq!((p.short_call_seconds, p.many_action_items), (300.0, 3));
    assert_eq!(p.renewal_markers, ["renewal"]);
    assert_eq!(p.urgent_kinds, [InsightKind::ChurnRisk]);
    assert!(p.high_kinds.contains(&InsightKind::CompetitorMention));
    let n = &r.next_steps;
    assert!(n.max == 6 && n.max_chars > 0 && !n.strip_prefixes.is_empty());
    for kind in &n.order {
        assert!(n.templates.contains_key(kind), "template for {kind:?}");
    }
    assert!(r.evidence.max_per_insight == 5 && r.evidence.max_text_chars > 0);
}

#[test]
fn competitor_tracker_and_churn_phrase_make_a_call_high() {
    let mut subject = call(&[
        "Honestly we might switch to another vendor next quarter.",
        "Chorus showed us something similar.",
    ]);
    subject.trackers.push(TrackerSignal {
        name: "Competitors".to_owned(),
        count: 1,
        occurrences: vec![Occurrence {
            start_ms: Some(120_400),
            speaker_id: Some("c1".to_owned()),
        }],
        phrases: vec!["chorus".to_owned()],
    });
    let analysis = analyze(&rules(), &subject);
    assert_eq!(analysis.priority, Priority::High);
    assert_eq!(labels(&analysis, InsightKind::ChurnRisk), ["switch to"]);
    // The tracker's phrase takes the configured spelling and merges with the transcript.
    let competitors = find(&analysis, InsightKind::CompetitorMention);
    assert_eq!(competitors.len(), 1);
    assert_eq!(competitors[0].label, "Chorus");
    let sources: Vec<&str> = competitors[0]
        .evidence
        .iter()
        .map(|e| e.source.as_str())
        .collect();
    assert_eq!(sources, ["tracker", "transcript"]);
    assert_eq!(
        analysis.priority_reason,
        "Churn risk (switch to); competitor mentioned (Chorus)."
    );
}

#[test]
fn churn_on_a_large_deal_is_urgent() {
    let says = "We are not renewing at this price.";
    let subject = call_on(250_000.0, "New Business", says);
    let analysis = assert_urgent(&subject, "large opportunity (Acme, amount 250000)");
    assert_eq!(labels(&analysis, InsightKind::LargeDeal), ["Acme"]);
    let crm = &find(&analysis, InsightKind::LargeDeal)[0].evidence[0];
    assert_eq!(crm.source, "crm");
}

#[test]
fn churn_on_a_renewal_is_urgent() {
    let says = "We have to cancel, the budget cut hit us.";
    let subject = call_on(5_000.0, "Renewal", says);
    assert_urgent(&subject, "renewal opportunity (Acme");
    // A large deal without churn risk is not urgent.
    let calm = call_on(900_000.0, "Renewal", "Thanks, the rollout went well.");
    assert_eq!(analyze(&rules(), &calm).priority, Priority::Medium);
}

#[test]
fn short_call_with_nothing_is_low_but_not_with_churn() {
    let mut subject = call(&["Hi, just confirming the time for Tuesday."]);
    subject.duration_seconds = Some(180.0);
    let analysis = analyze(&rules(), &subject);
    assert_eq!(analysis.priority, Priority::Low);
    assert!(analysis.priority_reason.starts_with("Short call (3 min"));
    assert!(analysis.next_steps.is_empty());

    let mut risky = call(&["We want to cancel."]);
    risky.duration_seconds = Some(180.0);
    assert_eq!(analyze(&rules(), &risky).priority, Priority::High);
}

#[test]
fn three_action_items_make_a_call_high() {
    let mut subject = call(&["Sounds good."]);
    subject.action_items = vec![
        action("Send the security questionnaire by Friday"),
        action("I'll book the follow-up demo."),
        action("Share the onboarding plan"),
    ];
    let analysis = analyze(&rules(), &subject);
    assert_eq!(analysis.priority, Priority::High);
    assert_eq!(analysis.priority_reason, "3 action items.");
    assert_eq!(find(&analysis, InsightKind::ActionItem).len(), 3);
    assert_step(&analysis, "Send the security questionnaire by Friday");
    assert_step(&analysis, "Book the follow-up demo");

    subject.action_items.pop();
    assert_eq!(analyze(&rules(), &subject).priority, Priority::Medium);
}

#[test]
fn informational_email_is_low_and_a_question_makes_it_medium() {
    let fyi = email("Slides", "FYI, attached the slides from today.");
    let analysis = analyze(&rules(), &fyi);
    assert_eq!(analysis.priority, Priority::Low);
    assert!(analysis.priority_reason.starts_with("Informational email"));

    let question = email("Slides", "Thanks for today. When is the next session?");
    let analysis = analyze(&rules(), &question);
    assert_eq!(analysis.priority, Priority::Medium);
    assert_eq!(
        analysis.priority_reason,
        "The email asks a question or makes a request."
    );

    let request = email("Slides", "Let me know when you have reviewed them.");
    assert_eq!(analyze(&rules(), &request).priority, Priority::Medium);

    let risky = email("Contract", "We decided to cancel our subscription.");
    assert_eq!(analyze(&rules(), &risky).priority, Priority::High);
}

#[test]
fn meetings_follow_call_rules_only_with_a_recorded_call() {
    let mut meeting = Subject {
        kind: SubjectKind::Meeting,
        duration_seconds: Some(120.0),
        texts: vec![TextBlock {
            source: "title",
            text: "Weekly sync".to_owned(),
            external: false,
        }],
        ..Subject::default()
    };
    assert_eq!(analyze(&rules(), &meeting).priority, Priority::Medium);
    meeting.texts[0].text = "Discuss contract termination: terminate the contract?".to_owned();
    assert_eq!(analyze(&rules(), &meeting).priority, Priority::High);
    meeting.texts[0].text = "Weekly sync".to_owned();
    meeting
        .utterances
        .push(say("Quick hello.", 1_000, "c1", true));
    assert_eq!(analyze(&rules(), &meeting).priority, Priority::Low);
}

#[test]
fn sentiment_scores_external_sentences_only() {
    let negative = call(&[
        "I am really frustrated, the sync is broken again.",
        "This is unacceptable and the support was terrible.",
    ]);
    let analysis = analyze(&rules(), &negative);
    let score = analysis.sentiment_score.expect("external text");
    assert!(score < -0.4, "{score}");
    let risk = find(&analysis, InsightKind::NegativeSentiment);
    assert_eq!(risk.len(), 1);
    assert_eq!(risk[0].evidence.len(), 2);
    assert_eq!(analysis.priority, Priority::High);
    assert_eq!(
        analysis.next_steps[0],
        "Check in with the customer: negative sentiment"
    );

    let positive = call(&["This is great, the team loves it and setup was easy."]);
    let score = analyze(&rules(), &positive)
        .sentiment_score
        .expect("external text");
    assert!(score > 0.0, "{score}");

    let mut internal = call(&["This is terrible and broken."]);
    internal.utterances[0].external = false;
    let analysis = analyze(&rules(), &internal);
    assert_eq!(analysis.sentiment_score, None);
    assert!(find(&analysis, InsightKind::NegativeSentiment).is_empty());

    // External text without lexicon words is neutral, not absent.
    assert_eq!(
        analyze(&rules(), &call(&["See you Tuesday."])).sentiment_score,
        Some(0.0)
    );
}

#[test]
fn a_single_negative_word_is_not_a_risk() {
    let analysis = analyze(&rules(), &call(&["That part was slow."]));
    assert!(analysis.sentiment_score.is_some_and(|s| s < 0.0));
    assert!(find(&analysis, InsightKind::NegativeSentiment).is_empty());
}

#[test]
fn negation_flips_sentiment() {
    let not_happy = call(&["We are not happy with the rollout."]);
    assert!(
        analyze(&rules(), &not_happy)
            .sentiment_score
            .is_some_and(|s| s < 0.0)
    );
    let no_problem = call(&["No problem, that is not an issue."]);
    assert!(
        analyze(&rules(), &no_problem)
            .sentiment_score
            .is_some_and(|s| s > 0.0)
    );
}

#[test]
fn matching_is_on_whole_words_and_case_insensitive() {
    let analysis = analyze(
        &rules(),
        &call(&[
            "We watched Chorusline.",
            "What is your cancellation policy?",
        ]),
    );
    assert!(find(&analysis, InsightKind::CompetitorMention).is_empty());
    // Asking about a cancellation policy is not, by itself, a churn signal.
    assert!(find(&analysis, InsightKind::ChurnRisk).is_empty());

    let analysis = analyze(&rules(), &call(&["CHORUS's pricing is lower.", "the msa"]));
    assert_eq!(
        labels(&analysis, InsightKind::CompetitorMention),
        ["Chorus"]
    );
    assert_eq!(labels(&analysis, InsightKind::Pricing), ["pricing"]);
    assert_eq!(labels(&analysis, InsightKind::Legal), ["MSA"]);
}

#[test]
fn competitors_override_replaces_the_list() {
    let custom = Rules::load(&[" Gong Rival ".to_owned(), " ".to_owned()], None).expect("rules");
    assert_eq!(custom.competitors(), ["Gong Rival"]);
    let analysis = analyze(&custom, &call(&["Chorus and gong rival both pitched us."]));
    assert_eq!(
        labels(&analysis, InsightKind::CompetitorMention),
        ["Gong Rival"]
    );
    // An empty COMPETITORS keeps the defaults.
    let default = Rules::load(&[], None).expect("rules");
    assert_eq!(default.competitors(), rules().competitors());
}

#[test]
fn rules_file_overrides_only_what_it_names() {
    let file = override_file(
        "[priority]\nlarge_deal_amount = 50000\n\n\
         [next_steps.templates]\npricing = \"Ask finance about {labels}\"\n",
    );
    let custom = Rules::load(&[], Some(file.path())).expect("rules");
    assert_eq!(custom.large_deal_amount(), 50_000.0);
    let defaults = rules();
    assert_eq!(
        custom.priority.short_call_seconds,
        defaults.priority.short_call_seconds
    );
    assert_eq!(custom.priority.high_kinds, defaults.priority.high_kinds);
    assert_eq!(custom.phrases, defaults.phrases);
    assert_eq!(
        custom.next_steps.templates.get(&InsightKind::ChurnRisk),
        defaults.next_steps.templates.get(&InsightKind::ChurnRisk)
    );

    let says = "We may cancel; the discount was too small.";
    let subject = call_on(60_000.0, "Expansion", says);
    let analysis = analyze(&custom, &subject);
    assert_eq!(analysis.priority, Priority::Urgent);
    assert_step(&analysis, "Ask finance about discount");
    assert_eq!(analyze(&defaults, &subject).priority, Priority::High);
}

/// Key paths of a TOML table, e.g. "priority.large_deal_amount".
fn key_paths(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        if let toml::Value::Table(inner) = value {
            key_paths(inner, &format!("{path}."), out);
        }
        out.push(path);
    }
}

#[test]
fn the_sample_override_file_loads_and_shows_every_key() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/insight_rules.toml");
    let custom = Rules::load(&[], Some(&path)).expect("examples/insight_rules.toml is valid");
    assert_eq!(custom.large_deal_amount(), 250_000.0);

    let sample: toml::Table = std::fs::read_to_string(&path)
        .expect("read sample")
        .parse()
        .expect("sample parses");
    let defaults: toml::Table = include_str!("default_rules.toml")
        .parse()
        .expect("defaults");
    let (mut in_sample, mut in_defaults) = (Vec::new(), Vec::new());
    key_paths(&sample, "", &mut in_sample);
    key_paths(&defaults, "", &mut in_defaults);
    let missing: Vec<&String> = in_defaults
        .iter()
        .filter(|k| !in_sample.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from the sample: {missing:?}"
    );

    let says = "We will cancel unless the price drops.";
    let subject = call_on(150_000.0, "Renewal", says);
    let analysis = analyze(&custom, &subject);
    assert_eq!(
        analysis.next_steps[0],
        "Loop in CSM: churn risk (cancel): \"We will cancel unless the price drops.\""
    );
    assert_step(&analysis, "Confirm the renewal plan for Acme");
}

#[test]
fn bad_rules_files_are_errors_naming_the_file() {
    let (message, path) = load_error("[priority\nlarge_deal_amount = 1\n");
    assert!(message.contains(&path), "{message}");
    assert!(message.contains("line 1"), "{message}");

    let (message, _) = load_error("competitors = [\"X\"]\n\n[priority]\nlarge_deal = 1\n");
    assert!(
        message.contains("line 4") && message.contains("large_deal"),
        "{message}"
    );

    let (message, _) = load_error("[evidence]\nmax_per_insight = \"five\"\n");
    assert!(message.contains("line 2"), "{message}");

    let (message, _) = load_error("[phrases]\nchurn = [\"leaving\"]\n");
    assert!(message.contains("churn"), "{message}");

    let (message, _) = load_error("[sentiment]\npositive = [\"very good\"]\ndamping = -1.0\n");
    assert!(
        message.contains("\"very good\" is not a single word"),
        "{message}"
    );
    assert!(message.contains("sentiment.damping"), "{message}");

    let missing = std::env::temp_dir().join("gong-relay-no-such-rules-file.toml");
    let error = Rules::load(&[], Some(&missing)).unwrap_err();
    assert!(matches!(error, RulesError::Read { .. }));
    assert!(
        error
            .to_string()
            .contains("gong-relay-no-such-rules-file.toml")
    );
}

#[test]
fn evidence_carries_sentence_timestamp_and_speaker() {
    let mut subject = call(&[]);
    subject.utterances = vec![
        say("Let me share my screen.", 300_000, "rep", false),
        say(
            "We are looking at alternatives, Clari mostly.",
            312_000,
            "c1",
            true,
        ),
    ];
    subject.trackers = vec![
        TrackerSignal {
            name: "Churn Risk".to_owned(),
            count: 1,
            occurrences: vec![Occurrence {
                start_ms: Some(312_400),
                speaker_id: Some("c1".to_owned()),
            }],
            phrases: vec![],
        },
        // Silent and unknown trackers are ignored.
        TrackerSignal {
            name: "Competitors".to_owned(),
            count: 0,
            ..TrackerSignal::default()
        },
        TrackerSignal {
            name: "Next Steps".to_owned(),
            count: 4,
            ..TrackerSignal::default()
        },
    ];
    subject.action_items = vec![action("Send the pricing sheet")];
    let analysis = analyze(&rules(), &subject);

    let churn = find(&analysis, InsightKind::ChurnRisk);
    assert_eq!(churn.len(), 2, "{churn:?}");
    let tracker = &churn
        .iter()
        .find(|i| i.label == "Churn Risk")
        .expect("tracker insight");
    let e = &tracker.evidence[0];
    assert_eq!(e.source, "tracker");
    assert_eq!(e.tracker.as_deref(), Some("Churn Risk"));
    assert_eq!(e.timestamp_ms, Some(312_400));
    assert_eq!(e.speaker_id.as_deref(), Some("c1"));
    assert_eq!(e.speaker_name.as_deref(), Some("Speaker c1"));
    assert_eq!(
        e.text.as_deref(),
        Some("We are looking at alternatives, Clari mostly.")
    );

    let phrase = churn
        .iter()
        .find(|i| i.label == "looking at alternatives")
        .expect("phrase");
    let e = &phrase.evidence[0];
    assert_eq!(
        (e.source.as_str(), e.timestamp_ms),
        ("transcript", Some(312_000))
    );
    assert_eq!(e.speaker_name.as_deref(), Some("Speaker c1"));
    assert_eq!(labels(&analysis, InsightKind::CompetitorMention), ["Clari"]);

    let item = &find(&analysis, InsightKind::ActionItem)[0].evidence[0];
    assert_eq!(
        (item.source.as_str(), item.timestamp_ms),
        ("action_item", Some(1_650_000))
    );
    assert_eq!(item.speaker_id.as_deref(), Some("rep"));
    assert_eq!(item.speaker_name.as_deref(), Some("Speaker rep"));
    // The action item's text is scanned too.
    assert_eq!(
        find(&analysis, InsightKind::Pricing)[0].evidence[0].source,
        "action_item"
    );
}

#[test]
fn one_insight_per_label_with_capped_evidence() {
    let mentions: Vec<String> = (0..8)
        .map(|i| format!("Outreach again, number {i}."))
        .collect();
    let refs: Vec<&str> = mentions.iter().map(String::as_str).collect();
    let analysis = analyze(&rules(), &call(&refs));
    let outreach = find(&analysis, InsightKind::CompetitorMention);
    assert_eq!(outreach.len(), 1);
    assert_eq!(outreach[0].evidence.len(), 5);
    assert!(
        outreach[0].detail.contains("found in 8 sentences"),
        "{}",
        outreach[0].detail
    );
}

#[test]
fn next_steps_are_ordered_and_deduplicated() {
    let mut subject = call(&[
        "We need a discount or we will cancel.",
        "Salesloft offered us more seats for less.",
        "Legal needs the DPA signed.",
    ]);
    subject.action_items = vec![
        action("I'll send the DPA by Friday."),
        action("i'll send the DPA by Friday"),
        action("Send the DPA by Friday!"),
    ];
    let analysis = analyze(&rules(), &subject);
    assert_eq!(
        analysis.next_steps,
        [
            "Loop in CSM: churn risk (cancel)",
            "Prepare a competitive comparison against Salesloft",
            "Send the DPA by Friday",
            "Engage legal: DPA",
            "Review pricing / discount approval (discount)",
            "Follow up on expansion: more seats",
        ]
    );
    // Two of the three action items are the same snippet up to case and punctuation.
    assert_eq!(find(&analysis, InsightKind::ActionItem).len(), 2);
}

#[test]
fn next_steps_are_capped() {
    let mut subject = call(&["Fine."]);
    subject.action_items = (0..10)
        .map(|i| action(&format!("Task number {i}")))
        .collect();
    let analysis = analyze(&rules(), &subject);
    assert_eq!(analysis.next_steps.len(), 6);
    assert_eq!(analysis.next_steps[0], "Task number 0");
}

#[test]
fn analysis_serializes_with_lowercase_names() {
    let analysis = analyze(&rules(), &call(&["Avoma is cheaper."]));
    let json = serde_json::to_value(&analysis).expect("json");
    assert_eq!(json["priority"], "high");
    assert_eq!(json["insights"][0]["kind"], "competitor_mention");
    assert_eq!(json["insights"][0]["evidence"][0]["timestamp_ms"], 60_000);
}

#[test]
fn an_hour_long_transcript_is_analyzed_with_bounded_evidence() {
    let sentences = [
        "So the integration with our CRM has been working fine for the team.",
        "We compared it with Gong and a couple of other tools last year.",
        "The dashboard is slow sometimes but support was helpful.",
        "Can you walk me through the reporting part again?",
        "Our finance people will want to see the pricing before the renewal.",
    ];
    let mut subject = call(&[]);
    subject.utterances = (0..1500)
        .map(|i| {
            say(
                sentences[i % sentences.len()],
                i as i64 * 2_400,
                "c1",
                i % 2 == 0,
            )
        })
        .collect();
    // Its speed is measured by `cargo run --release --example bench_insights`, not here.
    let analysis = analyze(&rules(), &subject);
    assert_eq!(labels(&analysis, InsightKind::Pricing), ["pricing"]);
    // 300 pricing sentences, but one insight with a bounded list of evidence.
    let pricing = find(&analysis, InsightKind::Pricing);
    assert_eq!(pricing.len(), 1);
    assert!(!pricing[0].evidence.is_empty() && pricing[0].evidence.len() <= 5);
}
