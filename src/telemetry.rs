//! Logs and metrics.
//!
//! Logs are JSON lines by default (one object per event, with the request's correlation id
//! carried by the span), `pretty` for people at a terminal. Metrics use the `metrics` facade
//! with a Prometheus recorder that the app renders itself on `GET /metrics`, so no second
//! HTTP listener is needed. The names are the contract listed in the README: keep them exactly.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const WEBHOOK_REQUESTS_TOTAL: &str = "webhook_requests_total";
pub const WEBHOOK_VERIFICATION_FAILURES_TOTAL: &str = "webhook_verification_failures_total";
pub const WEBHOOK_PROCESSING_DURATION_SECONDS: &str = "webhook_processing_duration_seconds";
pub const INBOX_DEPTH: &str = "inbox_depth";
pub const VALIDATION_FAILURES_TOTAL: &str = "validation_failures_total";
pub const DATA_QUALITY_SCORE: &str = "data_quality_score";
pub const ACTIVE_BACKGROUND_TASKS: &str = "active_background_tasks";
pub const DLQ_DEPTH: &str = "dlq_depth";
pub const OUTBOX_PENDING: &str = "outbox_pending";
pub const OLDEST_PENDING_AGE_SECONDS: &str = "inbox_oldest_pending_age_seconds";
pub const EVENTS_PROCESSED_TOTAL: &str = "events_processed_total";
pub const CIRCUIT_BREAKER_STATE: &str = "circuit_breaker_state";
pub const NOTIFICATIONS_PUBLISHED_TOTAL: &str = "notifications_published_total";
pub const NOTIFICATION_PUBLISH_DELAY_SECONDS: &str = "notification_publish_delay_seconds";
pub const HTTP_CONNECTIONS_OPEN: &str = "http_connections_open";
pub const HTTP_CONNECTIONS_REFUSED_TOTAL: &str = "http_connections_refused_total";
/// Recorded by the Gong API client, which names them in its own crate.
pub use gong_api::metric::{
    CALLS_TOTAL as GONG_API_CALLS_TOTAL, DAILY_BUDGET_REMAINING as GONG_API_DAILY_BUDGET_REMAINING,
    RATE_LIMIT_HITS_TOTAL as API_RATE_LIMIT_HITS_TOTAL,
};

/// Every metric the service exports (dashboards and alerts may query only these).
pub const ALL_METRICS: [&str; 19] = [
    WEBHOOK_REQUESTS_TOTAL,
    WEBHOOK_VERIFICATION_FAILURES_TOTAL,
    WEBHOOK_PROCESSING_DURATION_SECONDS,
    INBOX_DEPTH,
    VALIDATION_FAILURES_TOTAL,
    DATA_QUALITY_SCORE,
    ACTIVE_BACKGROUND_TASKS,
    DLQ_DEPTH,
    OUTBOX_PENDING,
    OLDEST_PENDING_AGE_SECONDS,
    EVENTS_PROCESSED_TOTAL,
    CIRCUIT_BREAKER_STATE,
    NOTIFICATIONS_PUBLISHED_TOTAL,
    NOTIFICATION_PUBLISH_DELAY_SECONDS,
    GONG_API_CALLS_TOTAL,
    GONG_API_DAILY_BUDGET_REMAINING,
    API_RATE_LIMIT_HITS_TOTAL,
    HTTP_CONNECTIONS_OPEN,
    HTTP_CONNECTIONS_REFUSED_TOTAL,
];

/// Installs the global log subscriber. Safe to call more than once (later calls do nothing),
/// which keeps tests that start several apps in one process simple.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder. The `metrics` facade has one global recorder, so
/// every app started in this process (tests start many) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(WEBHOOK_PROCESSING_DURATION_SECONDS.into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0, 30.0,
                    ],
                )
                .expect("bucket list is not empty")
                .set_buckets_for_metric(
                    Matcher::Full(NOTIFICATION_PUBLISH_DELAY_SECONDS.into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    ],
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed already, in which case ours
            // would render nothing; the handle is still valid.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        WEBHOOK_REQUESTS_TOTAL,
        "Webhook requests answered, by endpoint and HTTP status"
    );
    metrics::describe_counter!(
        WEBHOOK_VERIFICATION_FAILURES_TOTAL,
        "Webhooks refused by verification, by reason code"
    );
    metrics::describe_histogram!(
        WEBHOOK_PROCESSING_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time spent per processing stage"
    );
    metrics::describe_gauge!(INBOX_DEPTH, "Events in the inbox not yet processed");
    metrics::describe_counter!(
        VALIDATION_FAILURES_TOTAL,
        "Fields present but invalid in processed events, by kind and field"
    );
    metrics::describe_gauge!(
        DATA_QUALITY_SCORE,
        "Data quality score (0-1) of the last processed event, by kind"
    );
    metrics::describe_gauge!(
        ACTIVE_BACKGROUND_TASKS,
        "Background tasks running (workers busy with a batch, reconciler, batcher)"
    );
    metrics::describe_gauge!(DLQ_DEPTH, "Events in the dead-letter queue");
    metrics::describe_gauge!(OUTBOX_PENDING, "Notifications not yet published");
    metrics::describe_gauge!(
        OLDEST_PENDING_AGE_SECONDS,
        "Age of the oldest event waiting to be processed"
    );
    metrics::describe_counter!(
        EVENTS_PROCESSED_TOTAL,
        "Events finished by the pipeline, by kind and outcome (done, partial, retry, dead)"
    );
    metrics::describe_gauge!(
        HTTP_CONNECTIONS_OPEN,
        "HTTP connections open on the listeners"
    );
    metrics::describe_counter!(
        HTTP_CONNECTIONS_REFUSED_TOTAL,
        "HTTP connections closed at once because MAX_CONNECTIONS were open"
    );
}

/// Counts itself in `active_background_tasks` while alive.
pub struct BackgroundTask(());

impl BackgroundTask {
    pub fn start() -> BackgroundTask {
        metrics::gauge!(ACTIVE_BACKGROUND_TASKS).increment(1.0);
        BackgroundTask(())
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        metrics::gauge!(ACTIVE_BACKGROUND_TASKS).decrement(1.0);
    }
}
