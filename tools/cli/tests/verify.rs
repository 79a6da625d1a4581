//! `corelane verify` on file logs that `corelane pump` wrote: intact, then with a byte
//! flipped in the middle of a segment, then with a torn tail.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{run, text};

/// A one-shard store of `events` events (`corelane pump`); returns its only segment.
fn pumped_store(data: &Path, events: usize) -> PathBuf {
    let input: String = (0..events)
        .map(|i| {
            format!(
                "{{\"i\":{i},\"sym\":\"AAPL\",\"px\":{}}}\n",
                18950 + i % 100
            )
        })
        .collect();
    let out = run(
        &["pump", "--data", data.to_str().unwrap(), "--shards", "1"],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shard = data.join("shard-0000");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&shard)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments.pop().unwrap()
}

fn verify(data: &Path, json: bool) -> (Option<i32>, String, String) {
    let mut args = vec!["verify", "--data", data.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = run(&args, None);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn an_intact_log_verifies_with_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let segment = pumped_store(&data, 1000);
    let (code, out, err) = verify(&data, false);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("shard 0: 1000 records, sequences 0..=999, 1 segment,"),
        "{out}"
    );
    assert!(out.contains(&segment.display().to_string()), "{out}");
    assert!(
        out.contains("oldest 20") && out.contains("newest 20"),
        "{out}"
    );
    assert!(out.contains("intact: 1000 records"), "{out}");

    let (code, out, _) = verify(&data, true);
    assert_eq!(code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], true);
    assert_eq!(report["records"], 1000);
    let shard = &report["shards"][0];
    assert_eq!(shard["first_sequence"], 0);
    assert_eq!(shard["last_sequence"], 999);
    assert!(shard["oldest_ts"].as_u64().unwrap() <= shard["newest_ts"].as_u64().unwrap());
    let file_len = std::fs::metadata(&segment).unwrap().len();
    assert_eq!(shard["bytes"], file_len);
    assert_eq!(shard["segments"][0]["records"], 1000);
    assert_eq!(shard["damaged"].as_array().unwrap().len(), 0);
}

#[test]
fn a_flipped_byte_is_named_by_file_and_offset_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let segment = pumped_store(&data, 1000);
    let len = std::fs::metadata(&segment).unwrap().len();
    let flipped_at = len / 2;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, flipped_at).unwrap();
    file.write_all_at(&[byte[0] ^ 0x40], flipped_at).unwrap();
    drop(file);

    let (code, out, err) = verify(&data, false);
    assert_eq!(code, Some(3), "{out}{err}");
    let damaged = out
        .lines()
        .find(|l| l.contains("DAMAGED") && l.contains("offset"))
        .unwrap_or_else(|| panic!("no damaged range in:\n{out}"));
    assert!(
        damaged.contains(&segment.display().to_string()),
        "{damaged}"
    );
    assert!(damaged.contains("lost sequence"), "{damaged}");
    print!("{out}");

    let (code, out, _) = verify(&data, true);
    assert_eq!(code, Some(3));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], false);
    let range = &report["shards"][0]["damaged"][0];
    assert_eq!(range["file"], segment.display().to_string());
    let (offset, range_len) = (
        range["offset"].as_u64().unwrap(),
        range["len"].as_u64().unwrap(),
    );
    assert!(
        offset <= flipped_at && flipped_at < offset + range_len,
        "{range} does not cover offset {flipped_at}"
    );
    // The one damaged record is lost; the 999 around it are intact.
    let lost = &range["lost_sequences"];
    assert_eq!(lost[0], lost[1], "{range}");
    assert_eq!(report["records"], 999);
}

/// A torn tail is left for the writer's recovery by reads; verify reports it.
#[test]
fn a_torn_tail_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let segment = pumped_store(&data, 100);
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 5).unwrap();
    drop(file);

    let (code, out, err) = verify(&data, true);
    assert_eq!(code, Some(3), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 99);
    let range = &report["shards"][0]["damaged"][0];
    assert_eq!(
        range["offset"].as_u64().unwrap() + range["len"].as_u64().unwrap(),
        len - 5
    );
    assert!(
        range["reason"].as_str().unwrap().contains("torn write"),
        "{range}"
    );
}
