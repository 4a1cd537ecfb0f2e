//! `gong-relay watch`: notifications as agents receive them, one readable line each (or the
//! raw JSON). Pub/sub shows only what is published while it listens; `--from-stream` reads
//! the stream instead, from its first entry, which is how an agent that was away catches up.

use clap::Args;
use futures_util::StreamExt;
use gong_relay::config::Config;
use gong_relay::notify::Names;
use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use secrecy::ExposeSecret;
use serde_json::Value;

#[derive(Args)]
pub struct WatchArgs {
    /// Channel pattern to subscribe to (default: every channel, e.g. `sophia:gong:*`;
    /// `sophia:gong:priority:*` for the priority copies only).
    #[arg(long, value_name = "PATTERN")]
    channel: Option<String>,
    /// Read the stream from its first entry, then follow it (instead of pub/sub).
    #[arg(long, conflicts_with = "channel")]
    from_stream: bool,
    /// Print each message's JSON as received.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: WatchArgs, config: &Config) -> anyhow::Result<()> {
    let Some(url) = &config.redis_url else {
        anyhow::bail!("watch needs Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379/0)");
    };
    let client = redis::Client::open(url.expose_secret())
        .map_err(|e| anyhow::anyhow!("REDIS_URL: {:?}", e.kind()))?;
    let names = Names::new(config.redis_prefix.clone());
    let follow = async {
        if args.from_stream {
            follow_stream(&client, &names.stream(false), args.json).await
        } else {
            let pattern = args.channel.unwrap_or_else(|| names.all_channels());
            subscribe(&client, &pattern, args.json).await
        }
    };
    tokio::select! {
        r = follow => r,
        _ = crate::shutdown_signal() => Ok(()),
    }
}

async fn subscribe(client: &redis::Client, pattern: &str, json: bool) -> anyhow::Result<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(pattern).await?;
    eprintln!("watching {pattern} (Ctrl-C to stop)");
    let mut messages = pubsub.on_message();
    while let Some(msg) = messages.next().await {
        let payload: String = msg.get_payload()?;
        print_message(msg.get_channel_name(), &payload, json);
    }
    anyhow::bail!("Redis closed the subscription")
}

async fn follow_stream(client: &redis::Client, stream: &str, json: bool) -> anyhow::Result<()> {
    // XREAD BLOCK waits longer than the default response timeout (500 ms).
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    eprintln!("reading {stream} from its start (Ctrl-C to stop)");
    let mut last = "0".to_owned();
    let options = StreamReadOptions::default().count(100).block(5_000);
    loop {
        let reply: Option<StreamReadReply> =
            conn.xread_options(&[stream], &[&last], &options).await?;
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            if let Some(data) = entry.get::<String>("data") {
                print_message(stream, &data, json);
            }
            last = entry.id;
        }
    }
}

/// `URGENT  call_processed  sophia:gong:calls  Acme renewal (34 min): … [7693221800038890052]`
fn print_message(channel: &str, payload: &str, json: bool) {
    if json {
        println!("{payload}");
        return;
    }
    let Ok(m) = serde_json::from_str::<Value>(payload) else {
        println!("{channel}  {payload}");
        return;
    };
    let text = |k: &str| m[k].as_str().unwrap_or("-").to_owned();
    // An insight's own sentence says more than the call's title.
    let title = if m["type"] == "insight" {
        m["summary"].as_str()
    } else {
        m["title"].as_str().or(m["summary"].as_str())
    }
    .unwrap_or("-");
    println!(
        "{:<7} {:<18} {:<28} {} [{}]{}",
        text("priority").to_uppercase(),
        text("type"),
        channel,
        title,
        text("source_id"),
        if m["is_test"] == Value::Bool(true) {
            " (test)"
        } else {
            ""
        }
    );
}
