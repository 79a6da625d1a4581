//! Printing: percentile tables, durations, events as JSON lines.

use corelane::read::ConsumedEvent;
use hdrhistogram::Histogram;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// Percentiles of a latency histogram (nanoseconds).
pub fn percentiles(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "count": h.len(),
        "p50_ns": h.value_at_quantile(0.50),
        "p90_ns": h.value_at_quantile(0.90),
        "p99_ns": h.value_at_quantile(0.99),
        "p99_9_ns": h.value_at_quantile(0.999),
        "p99_99_ns": h.value_at_quantile(0.9999),
        "max_ns": h.max(),
        "mean_ns": h.mean(),
    })
}

/// Nanoseconds with a readable unit.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// A count with a readable unit.
pub fn fmt_count(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} G", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

/// A percentile table with one row per histogram.
pub fn print_table(title: &str, rows: &[(&str, &Histogram<u64>)]) {
    println!("\n{title}");
    println!(
        "  {:28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "", "p50", "p90", "p99", "p99.9", "p99.99", "max", "count"
    );
    for (label, h) in rows {
        if h.is_empty() {
            println!("  {label:28} (no samples)");
            continue;
        }
        let q = |p| fmt_ns(h.value_at_quantile(p) as f64);
        println!(
            "  {label:28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12}",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            q(0.9999),
            fmt_ns(h.max() as f64),
            h.len()
        );
    }
}

/// An event as one JSON line: metadata, and the payload, when it is JSON, exactly as
/// stored (key order, duplicate keys and number spellings kept); else base64 under
/// `payload_b64`. Line breaks between a payload's tokens become spaces, so that each
/// event stays one line (JSON strings cannot hold a raw line break).
pub fn event_line(e: &ConsumedEvent) -> String {
    let mut line = format!(
        "{{\"id\":{},\"shard\":{},\"seq\":{},\"ts\":{}",
        Value::String(e.id.clone()),
        e.shard,
        e.sequence,
        e.insertion_ts
    );
    // Valid JSON is valid UTF-8.
    let json_text = serde_json::from_slice::<IgnoredAny>(&e.payload)
        .ok()
        .and_then(|_| std::str::from_utf8(&e.payload).ok());
    match json_text {
        Some(text) => {
            line.push_str(",\"payload\":");
            line.extend(text.trim().chars().map(|c| match c {
                '\n' | '\r' => ' ',
                other => other,
            }));
        }
        None => {
            line.push_str(",\"payload_b64\":");
            line.push_str(&Value::String(base64(&e.payload)).to_string());
        }
    }
    if let Some(id) = &e.dedup_id {
        line.push_str(",\"dedup_id\":");
        line.push_str(&Value::String(id.clone()).to_string());
    }
    line.push('}');
    line
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }
}
