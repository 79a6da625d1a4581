//! `corelane`: benchmark a bus, pump newline-delimited JSON into a store, tail a store,
//! verify a file log.
//!
//! ```text
//! corelane bench [--adapter file|memory|noop] [--data DIR] [--producers P] [--rate N] [--duration D] [--json] [--plot FILE.svg]
//! corelane pump  [--data DIR] [--input FILE] [--skip-bad]
//! corelane tail  --data DIR [--filter JSON] [--after CURSOR | --from-start | --from-end] [--follow] [--limit N]
//! corelane verify --data DIR [--json]
//! ```
//!
//! Errors are one line on stderr and a non-zero exit code.

mod bench;
mod output;
mod plot;
mod pump;
mod security;
mod store;
mod tail;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// An in-process event bus for latency-critical programs: benchmark it, feed it, read it.
#[derive(Debug, Parser)]
#[command(name = "corelane", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run producers against a bus and report throughput, latency percentiles and
    /// whether anything was lost (the default store: the file adapter in a temporary
    /// directory; no server needed).
    Bench(bench::Args),
    /// Read newline-delimited JSON from stdin (or --input) and ingest every line.
    Pump(pump::Args),
    /// Print stored events as JSON lines, optionally filtered, optionally following.
    Tail(tail::Args),
    /// Check a file log: every record's checksum and length, every segment's bytes;
    /// print per shard the records, sequences, segments, sizes, timestamps and every
    /// damaged range. Exit 0 when intact, 3 on damage.
    Verify(verify::Args),
}

/// What a subcommand reports as failure: one line.
type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(args),
        Command::Pump(args) => pump::run(args),
        Command::Tail(args) => tail::run(args),
        Command::Verify(args) => verify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let message = err.to_string().replace('\n', " ");
            eprintln!("corelane: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Parses a duration: `500ms`, `5s`, `2m`, or plain seconds (`1.5`).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (ns, us, ms, s, m, h)"
            ));
        }
    };
    if !(seconds.is_finite() && (0.0..1e9).contains(&seconds)) {
        return Err(format!("{text:?} is not a usable duration"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// Parses a count with an optional k/M/G suffix: `20000`, `20k`, `1.5M`.
fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number (try 20000, 20k, 1.5M)"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{text:?} is not a usable count"));
    }
    Ok((v * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_and_counts_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_count("20k"), Ok(20_000));
        assert_eq!(parse_count("1.5M"), Ok(1_500_000));
        assert!(parse_count("-3").is_err());
        assert!(parse_count("lots").is_err());
    }
}
