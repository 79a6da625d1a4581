//! `corelane verify`: checks a file log the way a database checks its files.
//!
//! The store is opened read-only through the file adapter's own read side, which checks
//! every record's CRC32C and length as it builds each segment's index, steps over what
//! does not check out and reports it as a damaged range. On top of that:
//! 1. [`walk`]: reads every shard from its first record to its last, and accounts for
//!    every byte of every segment (header, records, damaged ranges): bytes left over are
//!    a torn or damaged tail the read side leaves to the writer's recovery;
//! 2. [`report`]: the result as text or JSON.
//!
//! Exit codes: 0 intact, 3 damage found, 1 the store could not be read (2 is clap's, for
//! a usage error).

mod report;
mod walk;

use std::path::PathBuf;
use std::process::ExitCode;

use corelane_adapters::FileAdapter;

use crate::Failure;
use crate::store::readable_dir;

/// Options of `corelane verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file log's data directory. Verify it while no writer has it open: a writer
    /// may be appending to the newest segment.
    #[arg(long, default_value = "corelane-data")]
    data: PathBuf,
    /// Print one JSON object (for scripts) instead of text.
    #[arg(long)]
    json: bool,
}

/// The exit code when damage was found.
const DAMAGED: u8 = 3;

/// Runs `corelane verify`.
pub fn run(args: Args) -> Result<ExitCode, Failure> {
    readable_dir(&args.data)?;
    let store = FileAdapter::open_read_only(&args.data).map_err(|e| e.to_string())?;
    if store.num_shards() == 0 {
        return Err(format!(
            "{} holds no shards (is it a corelane data directory?)",
            args.data.display()
        )
        .into());
    }
    let shards = (0..store.num_shards())
        .map(|shard| walk::walk_shard(&store, &args.data, shard))
        .collect::<Result<Vec<_>, _>>()?;
    let log = walk::LogReport {
        dir: args.data,
        shards,
    };
    if args.json {
        println!("{}", report::json(&log));
    } else {
        report::print_text(&log);
    }
    Ok(if log.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DAMAGED)
    })
}
