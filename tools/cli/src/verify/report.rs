//! `corelane verify`'s result as text (per shard, then a verdict) or one JSON object.

use corelane::adapter::DamagedRange;
use serde_json::{Value, json};

use super::walk::{LogReport, SegmentReport, ShardReport};

/// Prints the report as text on stdout.
pub fn print_text(log: &LogReport) {
    let segments: usize = log.shards.iter().map(|s| s.segments.len()).sum();
    let bytes: u64 = log.shards.iter().map(ShardReport::bytes).sum();
    println!(
        "{}: {}, {}, {}",
        log.dir.display(),
        count(log.shards.len() as u64, "shard"),
        count(segments as u64, "segment"),
        fmt_bytes(bytes)
    );
    for shard in &log.shards {
        print_shard(shard);
    }
    let damaged: usize = log.shards.iter().map(|s| s.damaged.len()).sum();
    let problems: usize = log.shards.iter().map(|s| s.problems.len()).sum();
    let records: u64 = log.shards.iter().map(|s| s.records).sum();
    if log.is_intact() {
        println!("intact: {records} records, every checksum and length checks out");
    } else {
        println!(
            "DAMAGED: {}, {}; {} intact",
            count(damaged as u64, "damaged range"),
            count(problems as u64, "other problem"),
            count(records, "record")
        );
    }
}

fn print_shard(shard: &ShardReport) {
    let sequences = shard
        .sequences
        .map_or("none".into(), |(a, b)| format!("{a}..={b}"));
    println!(
        "shard {}: {}, sequences {sequences}, {}, {}",
        shard.shard,
        count(shard.records, "record"),
        count(shard.segments.len() as u64, "segment"),
        fmt_bytes(shard.bytes())
    );
    if let Some((oldest, newest)) = shard.timestamps {
        println!("  oldest {}, newest {}", utc(oldest), utc(newest));
    }
    for segment in &shard.segments {
        let sequences = segment
            .sequences
            .map_or("no records".into(), |(a, b)| format!("sequences {a}..={b}"));
        println!(
            "  {}  {}  {}, {sequences}",
            segment.path.display(),
            fmt_bytes(segment.bytes),
            count(segment.records, "record")
        );
    }
    for range in &shard.damaged {
        println!(
            "  DAMAGED {} offset {} length {}: {}; {}",
            range.location,
            range.offset,
            range.len,
            range.reason,
            lost(range)
        );
    }
    for problem in &shard.problems {
        println!("  PROBLEM {problem}");
    }
}

/// What a damaged range lost, in words.
fn lost(range: &DamagedRange) -> String {
    match range.lost_sequences {
        Some((a, b)) if a == b => format!("lost sequence {a}"),
        Some((a, b)) => format!("lost sequences {a}..={b} ({})", count(b - a + 1, "record")),
        None => "lost sequences unknown".into(),
    }
}

/// The report as one JSON object.
pub fn json(log: &LogReport) -> Value {
    json!({
        "dir": log.dir.display().to_string(),
        "intact": log.is_intact(),
        "records": log.shards.iter().map(|s| s.records).sum::<u64>(),
        "bytes": log.shards.iter().map(ShardReport::bytes).sum::<u64>(),
        "shards": log.shards.iter().map(shard_json).collect::<Vec<_>>(),
    })
}

fn shard_json(shard: &ShardReport) -> Value {
    json!({
        "shard": shard.shard,
        "intact": shard.is_intact(),
        "records": shard.records,
        "bytes": shard.bytes(),
        "first_sequence": shard.sequences.map(|s| s.0),
        "last_sequence": shard.sequences.map(|s| s.1),
        "oldest_ts": shard.timestamps.map(|t| t.0),
        "newest_ts": shard.timestamps.map(|t| t.1),
        "segments": shard.segments.iter().map(segment_json).collect::<Vec<_>>(),
        "damaged": shard.damaged.iter().map(|r| json!({
            "file": r.location,
            "offset": r.offset,
            "len": r.len,
            "lost_sequences": r.lost_sequences.map(|(a, b)| [a, b]),
            "reason": r.reason,
        })).collect::<Vec<_>>(),
        "problems": shard.problems,
    })
}

fn segment_json(segment: &SegmentReport) -> Value {
    json!({
        "file": segment.path.display().to_string(),
        "base_sequence": segment.base_sequence,
        "bytes": segment.bytes,
        "records": segment.records,
        "first_sequence": segment.sequences.map(|s| s.0),
        "last_sequence": segment.sequences.map(|s| s.1),
    })
}

/// `1 record`, `2 records`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes with a binary unit.
fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Unix-epoch nanoseconds as UTC, RFC 3339 with milliseconds.
fn utc(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let millis = ts_ns % 1_000_000_000 / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_sizes_read_as_people_write_them() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123_000_000), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_767_225_599_999_999_999), "2025-12-31T23:59:59.999Z");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(3 << 30), "3.0 GiB");
    }
}
