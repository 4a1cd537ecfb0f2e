//! How long the insight rules take on an hour-long call (1,500 sentences), in a release
//! build: `cargo run --release --example bench_insights`.

use std::time::Instant;

use gong_relay::insights::{Rules, Subject, Utterance, analyze};

fn main() {
    let lines = [
        "So the integration with our CRM has been working fine for the team.",
        "We compared it with Chorus and a couple of other tools last year.",
        "The dashboard is slow sometimes but support was helpful.",
        "Can you walk me through the reporting part again?",
        "Our finance people will want to see the pricing before the renewal.",
    ];
    let subject = Subject {
        duration_seconds: Some(3600.0),
        utterances: (0..1500)
            .map(|i| Utterance {
                text: lines[i % lines.len()].to_owned(),
                start_ms: Some(i as i64 * 2_400),
                speaker_id: Some(format!("s{}", i % 2)),
                speaker_name: None,
                external: i % 2 == 0,
            })
            .collect(),
        ..Subject::default()
    };
    let rules = Rules::builtin();
    let runs = 200;
    analyze(&rules, &subject);
    let start = Instant::now();
    let mut insights = 0;
    for _ in 0..runs {
        insights += analyze(&rules, &subject).insights.len();
    }
    let per = start.elapsed() / runs;
    println!(
        "insights on a 1,500-sentence call: {:.2} ms per analysis ({} insights), {runs} runs",
        per.as_secs_f64() * 1e3,
        insights / runs as usize
    );
}
