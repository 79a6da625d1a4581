//! `corelane tail`: stored events as JSON lines, from a store opened read-only.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;

use corelane::read::{ConsumeOrder, ConsumeRequest, Consumer, Cursor, Filter, StartAt};

use crate::Failure;
use crate::output::event_line;
use crate::store::{AdapterKind, open_readable};

/// Options of `corelane tail`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store: file (default), or a redis[s]://, nats:// or tls:// URL.
    #[arg(long, default_value = "file", value_parser = AdapterKind::parse)]
    adapter: AdapterKind,
    #[command(flatten)]
    security: crate::security::SecurityArgs,
    /// The store's data directory (file adapter).
    #[arg(long, default_value = "corelane-data")]
    data: PathBuf,
    /// Only events matching this JSON filter, e.g. '{"path":"sym","value":"AAPL"}'.
    #[arg(long, value_parser = parse_filter)]
    filter: Option<Filter>,
    /// Resume after this cursor (printed on stderr by an earlier tail).
    #[arg(long, value_parser = parse_cursor, conflicts_with_all = ["from_start", "from_end"])]
    after: Option<Cursor>,
    /// Start at the beginning of every shard (the default).
    #[arg(long, conflicts_with = "from_end")]
    from_start: bool,
    /// Start after the last stored event: only new events (useful with --follow).
    #[arg(long)]
    from_end: bool,
    /// Keep waiting for new events until Ctrl-C (or --limit).
    #[arg(long)]
    follow: bool,
    /// Print at most this many events.
    #[arg(long)]
    limit: Option<u64>,
    /// Order: shard (shard by shard, in sequence order) or time (by insertion timestamp).
    #[arg(long, default_value = "shard", value_parser = parse_order)]
    order: ConsumeOrder,
}

fn parse_filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| e.to_string())
}

fn parse_cursor(text: &str) -> Result<Cursor, String> {
    Cursor::decode(text).map_err(|e| e.to_string())
}

fn parse_order(text: &str) -> Result<ConsumeOrder, String> {
    match text {
        "shard" => Ok(ConsumeOrder::Shard),
        "time" => Ok(ConsumeOrder::Time),
        other => Err(format!("{other:?}: expected shard or time")),
    }
}

/// Runs `corelane tail`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let (store, shards) = open_readable(&args.adapter, &args.data, &args.security)?;
    let consumer = Consumer::new(store, shards);
    let mut request = ConsumeRequest::new().limit(1000).ordering(args.order);
    if let Some(f) = args.filter.clone() {
        request = request.filter(f);
    }
    let start = match (&args.after, args.from_end) {
        (Some(c), _) => StartAt::Cursor(c.clone()),
        (None, true) => StartAt::End,
        (None, false) => StartAt::Beginning,
    };
    // Resolves the start (StartAt::End reads each shard's last position now).
    let mut subscription = consumer
        .subscribe(request.clone(), start)?
        .max_idle_wait(Duration::from_millis(200));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printed = 0u64;
    let remaining = |printed: u64| args.limit.map_or(u64::MAX, |l| l.saturating_sub(printed));
    if !args.follow {
        // One pass: page until nothing more is stored.
        let mut cursor = subscription.cursor().clone();
        let mut problem = None;
        while remaining(printed) > 0 {
            request.after = Some(cursor.clone());
            request.limit = remaining(printed).min(1000) as usize;
            let page = consumer.poll(&request)?;
            if let Some(f) = page.failed_shards.first() {
                problem = Some(format!("shard {}: {}", f.shard, f.error));
            }
            for event in &page.events {
                writeln!(out, "{}", event_line(event))?;
                printed += 1;
            }
            cursor = page.next_cursor;
            if !page.has_more || problem.is_some() {
                break;
            }
        }
        out.flush()?;
        drop(out);
        eprintln!("cursor: {cursor}");
        return match problem {
            Some(p) => Err(p.into()),
            None => Ok(ExitCode::SUCCESS),
        };
    }
    let handle = subscription.stop_handle();
    ctrlc::set_handler(move || handle.stop()).map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    while remaining(printed) > 0 {
        match subscription.next() {
            Some(Ok(event)) => {
                writeln!(out, "{}", event_line(&event))?;
                out.flush()?;
                printed += 1;
            }
            Some(Err(err)) => eprintln!("corelane: {err}"),
            None => break,
        }
    }
    out.flush()?;
    drop(out);
    eprintln!("cursor: {}", subscription.cursor());
    Ok(ExitCode::SUCCESS)
}
