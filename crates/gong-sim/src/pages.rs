//! 100-record pages with opaque cursors. A cursor carries the offset of the next page, a
//! hash of the request it belongs to, and when the sequence's first page was served: Gong's
//! cursors die about an hour after the *first* page, however recent the cursor itself.

use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gong_api::models::Records;
use serde_json::{Value, json};

use super::reply::ApiError;

pub struct Paging {
    pub size: usize,
    pub ttl: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Short hash of the request's filters, so a cursor cannot be replayed on another query.
pub fn filter_key(scope: &str, filter: &Value) -> String {
    let text = format!("{scope}|{filter}");
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    hex::encode(&d.as_ref()[..8])
}

impl Paging {
    /// The slice of `total` items this request gets, and the `records` block to answer with.
    pub fn page(
        &self,
        total: usize,
        cursor: Option<&str>,
        key: &str,
    ) -> Result<(Range<usize>, Records), ApiError> {
        let size = self.size.max(1);
        let (offset, first_ms) = match cursor.filter(|c| !c.is_empty()) {
            None => (0, now_ms()),
            Some(c) => self.open(c, key)?,
        };
        let end = (offset + size).min(total);
        let cursor = (end < total).then(|| {
            let raw = json!({"o": end, "f": key, "t": first_ms}).to_string();
            URL_SAFE_NO_PAD.encode(raw)
        });
        let records = Records {
            total_records: Some(total as i64),
            current_page_size: Some(end.saturating_sub(offset) as i64),
            current_page_number: Some((offset / size) as i64),
            cursor,
        };
        Ok((offset.min(total)..end, records))
    }

    fn open(&self, cursor: &str, key: &str) -> Result<(usize, u64), ApiError> {
        let invalid = || ApiError::bad_request("cursor: invalid cursor value");
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| invalid())?;
        let (Some(offset), Some(f), Some(first)) =
            (v["o"].as_u64(), v["f"].as_str(), v["t"].as_u64())
        else {
            return Err(invalid());
        };
        if now_ms().saturating_sub(first) > self.ttl.as_millis() as u64 {
            return Err(ApiError::bad_request(
                "The cursor has expired; repeat the request without a cursor",
            ));
        }
        if f != key {
            return Err(ApiError::bad_request(
                "cursor: the cursor does not belong to a request with these filters",
            ));
        }
        Ok((offset as usize, first))
    }
}
