//! What the benchmarks share: the service started on a free loopback port, and a burst of
//! signed call webhooks sent to it at once.

use std::time::{Duration, Instant};

use gong_relay::app::{self, RunningApp};
use gong_relay::config::{Config, RawConfig};
use gong_sim::{self as simulator, RuleKey, SendOptions};

const KEY: &str = include_str!("../../tests/data/gong_rule_a.key.pem");
const PUBLIC_KEY: &str = include_str!("../../tests/data/gong_rule_a.pub.b64");

/// The number of webhooks, the first argument (1,000 without one).
pub fn webhooks_arg() -> usize {
    let arg = std::env::args().nth(1);
    arg.and_then(|a| a.parse().ok()).unwrap_or(1000)
}

/// Starts the service as `raw` says, on a free loopback port, taking webhooks signed with
/// rule key A, logging warnings only.
pub async fn start(raw: RawConfig) -> RunningApp {
    let raw = RawConfig {
        bind_addr: Some("127.0.0.1:0".into()),
        gong_webhook_public_keys: Some(format!("[\"{}\"]", PUBLIC_KEY.trim())),
        log_level: Some("warn".into()),
        ..raw
    };
    let config = Config::from_raw(raw).expect("valid configuration");
    gong_relay::telemetry::init_logging(config.log_format, &config.log_level);
    app::start(config).await.expect("service starts")
}

/// Sends `count` signed call webhooks at once: the simulator's new calls when `simulator`
/// is its base URL, else calls made up here. Every one must be accepted. Returns when the
/// sending started and how long it took.
pub async fn burst(
    app: &RunningApp,
    count: usize,
    simulator: Option<String>,
) -> (Instant, Duration) {
    let key = RuleKey::from_pkcs8_pem(KEY).expect("test key");
    let opts = SendOptions {
        to: format!("http://{}/webhook/gong/calls", app.addr()),
        count,
        rate: 0.0,
        simulator,
        ..SendOptions::default()
    };
    let started = Instant::now();
    let report = simulator::send_webhooks(&key, &opts)
        .await
        .expect("webhooks sent");
    assert_eq!(report.accepted, count, "every webhook accepted: {report:?}");
    (started, started.elapsed())
}
