//! `corelane pump`: newline-delimited JSON from stdin or a file into a store.
//!
//! A reader thread reads lines; the main thread ingests them, so that Ctrl-C is noticed
//! at once even while stdin blocks: reading stops, the bus shuts down gracefully, and
//! every line accepted so far is stored before the counts are printed.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use corelane::{Backpressure, Bus, IngestError, InvalidEvent};
use corelane_adapters::FsyncPolicy;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};

use crate::Failure;
use crate::store::{AdapterKind, open_writable, parse_fsync};

/// Options of `corelane pump`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store: file (default), memory, noop, or a redis:// or nats:// URL.
    #[arg(long, default_value = "file", value_parser = AdapterKind::parse)]
    adapter: AdapterKind,
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
    /// Report bad lines and go on (default: stop at the first one).
    #[arg(long)]
    skip_bad: bool,
}

enum Line {
    Text(u64, Vec<u8>),
    Failed(u64, std::io::Error),
}

/// Runs `corelane pump`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let input: Box<dyn Read + Send> = match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path).map_err(|e| format!("--input {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    let opened = open_writable(&args.adapter, Some(args.data.clone()), args.fsync)?;
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
    let bus = builder.build_shared(Arc::clone(&opened.adapter))?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        ctrlc::set_handler(move || {
            if interrupted.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        })
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    }
    let lines = spawn_reader(input);

    let mut producer = bus.producer();
    let (mut read, mut ingested, mut bad, mut blank) = (0u64, 0u64, 0u64, 0u64);
    let mut failure: Option<String> = None;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let line = match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let (number, text) = match line {
            Line::Text(n, t) => (n, t),
            Line::Failed(n, e) => {
                failure = Some(format!("reading line {n}: {e}"));
                break;
            }
        };
        read += 1;
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            blank += 1;
            continue;
        }
        match producer.ingest_json(trimmed) {
            Ok(_) => ingested += 1,
            Err(IngestError::Invalid {
                error: InvalidEvent::Json(e),
                ..
            }) => {
                bad += 1;
                let msg = format!("line {number}: {e}");
                if args.skip_bad {
                    eprintln!("corelane: skipped {msg}");
                } else {
                    failure = Some(msg);
                    break;
                }
            }
            Err(IngestError::ShuttingDown(_)) => break,
            Err(other) => {
                failure = Some(format!("line {number}: {other}"));
                break;
            }
        }
    }
    drop(producer);
    let stats = bus.shutdown()?;
    eprintln!(
        "corelane pump: read {read} lines, ingested {ingested}, bad {bad}, blank {blank}; written {} failed {}{}",
        stats.written,
        stats.failed.total(),
        if interrupted.load(Ordering::SeqCst) {
            " (interrupted)"
        } else {
            ""
        }
    );
    if stats.in_flight() != 0 || stats.written + stats.failed.total() != ingested {
        return Err(format!(
            "accounting mismatch: ingested {ingested}, written {}, failed {}",
            stats.written,
            stats.failed.total()
        )
        .into());
    }
    if let Some(msg) = failure {
        return Err(msg.into());
    }
    if stats.failed.total() > 0 {
        return Err(format!("{} events could not be stored", stats.failed.total()).into());
    }
    Ok(if interrupted.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
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
