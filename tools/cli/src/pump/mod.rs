//! `corelane pump`: newline-delimited JSON from stdin or a file into a store.
//!
//! A reader thread reads lines; the main thread ingests them, so that Ctrl-C is noticed
//! at once even while stdin blocks: reading stops, the bus shuts down gracefully, and
//! every line accepted so far is stored before the counts are printed.
//!
//! A run: open the input and the store, build a bus that waits for room (here), ingest
//! line by line (here), shut down, then print the [`summary`].

mod summary;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use corelane::{Backpressure, Bus, IngestError, InvalidEvent, Producer};
use corelane_adapters::FsyncPolicy;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};

use self::summary::Summary;
use crate::Failure;
use crate::store::{AdapterKind, Opened, open_writable, parse_fsync};

/// Options of `corelane pump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store: file (default), memory, noop, or a redis[s]://, nats:// or tls:// URL.
    #[arg(long, default_value = "file", value_parser = AdapterKind::parse)]
    adapter: AdapterKind,
    #[command(flatten)]
    security: crate::security::SecurityArgs,
    /// Data directory for the file adapter.
    #[arg(long, default_value = "corelane-data")]
    data: PathBuf,
    /// File adapter durability: never, every-batch, or interval:MS.
    #[arg(long, default_value = "interval:100", value_parser = parse_fsync)]
    fsync: FsyncPolicy,
    /// Shards (default: the cores this process may use; a store keeps its shard count).
    #[arg(long)]
    shards: Option<usize>,
    /// Read from this file instead of stdin.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Report bad lines (invalid JSON, or longer than max_event_bytes) and go on
    /// (default: stop at the first one).
    #[arg(long)]
    skip_bad: bool,
    /// Print the summary as one JSON object on stdout (for scripts).
    #[arg(long)]
    json: bool,
}

enum Line {
    Text(u64, Vec<u8>),
    Failed(u64, std::io::Error),
}

/// What the ingest loop saw.
#[derive(Default)]
struct LineCounts {
    read: u64,
    ingested: u64,
    /// Lines that are not one valid JSON value.
    bad_json: u64,
    /// Lines longer than `max_event_bytes`.
    too_large: u64,
    blank: u64,
}

/// Runs `corelane pump`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let input = open_input(&args)?;
    let opened = open_writable(
        &args.adapter,
        Some(args.data.clone()),
        args.fsync,
        &args.security,
    )?;
    let bus = build_bus(&args, &opened)?;
    let interrupted = interrupt_on_ctrl_c()?;
    let lines = spawn_reader(input);
    let mut producer = bus.producer();
    let (counts, failure) = ingest_lines(&args, &mut producer, &lines, &interrupted);
    drop(producer);
    let stats = bus.shutdown()?;
    let interrupted = interrupted.load(Ordering::SeqCst);
    let summary = Summary {
        counts: &counts,
        stats: &stats,
        interrupted,
    };
    let failure = summary.failure(failure);
    if args.json {
        println!("{}", summary.json(failure.as_deref()));
    } else {
        eprintln!("{}", summary.text());
    }
    if let Some(msg) = failure {
        return Err(msg.into());
    }
    Ok(if interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn open_input(args: &Args) -> Result<Box<dyn Read + Send>, Failure> {
    Ok(match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path).map_err(|e| format!("--input {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdin()),
    })
}

/// A bus that waits (up to an hour) for room rather than refusing a line.
fn build_bus(args: &Args, opened: &Opened) -> Result<Bus, Failure> {
    let mut builder = Bus::builder().backpressure(Backpressure::block(Duration::from_secs(3600)));
    if let Some(shards) = args.shards {
        builder = builder.num_shards(shards);
    } else if let Some(file) = &opened.file {
        // An existing store keeps its shard count.
        let existing = (0..)
            .take_while(|s| file.config().dir.join(format!("shard-{s:04}")).is_dir())
            .count();
        if existing > 0 {
            builder = builder.num_shards(existing);
        }
    }
    Ok(builder.build_shared(Arc::clone(&opened.adapter))?)
}

/// A flag that Ctrl-C sets; a second Ctrl-C while stopping kills the process the usual way.
fn interrupt_on_ctrl_c() -> Result<Arc<AtomicBool>, Failure> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    Ok(interrupted)
}

/// Ingests lines until the input ends, Ctrl-C, or a line that stops the pump; returns the
/// counts and, when the pump stopped on an error, its message.
fn ingest_lines(
    args: &Args,
    producer: &mut Producer,
    lines: &Receiver<Line>,
    interrupted: &AtomicBool,
) -> (LineCounts, Option<String>) {
    let mut counts = LineCounts::default();
    // Wake every 50 ms even when stdin blocks, to notice Ctrl-C.
    while !interrupted.load(Ordering::SeqCst) {
        let line = match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let (number, text) = match line {
            Line::Text(n, t) => (n, t),
            Line::Failed(n, e) => return (counts, Some(format!("reading line {n}: {e}"))),
        };
        counts.read += 1;
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            counts.blank += 1;
            continue;
        }
        let bad = match producer.ingest_json(trimmed) {
            Ok(_) => {
                counts.ingested += 1;
                continue;
            }
            Err(IngestError::ShuttingDown(_)) => break,
            Err(
                e @ IngestError::Invalid {
                    error: InvalidEvent::Json(_),
                    ..
                },
            ) => {
                counts.bad_json += 1;
                e.to_string()
            }
            Err(e @ IngestError::TooLarge { .. }) => {
                counts.too_large += 1;
                e.to_string()
            }
            Err(other) => return (counts, Some(format!("line {number}: {other}"))),
        };
        let msg = format!("line {number}: {bad}");
        if !args.skip_bad {
            return (counts, Some(msg));
        }
        eprintln!("corelane: skipped {msg}");
    }
    (counts, None)
}

fn spawn_reader(input: Box<dyn Read + Send>) -> Receiver<Line> {
    let (tx, rx) = sync_channel(4096);
    std::thread::Builder::new()
        .name("pump-reader".into())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 16, input);
            let mut number = 0u64;
            loop {
                let mut line = Vec::new();
                number += 1;
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if tx.send(Line::Text(number, line)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Line::Failed(number, e));
                        return;
                    }
                }
            }
        })
        .expect("spawn reader thread");
    rx
}
