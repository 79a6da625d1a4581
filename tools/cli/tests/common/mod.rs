//! What the tests of the `corelane` binary share: running it, reading its output.
// Each test file uses a part of these.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub fn corelane() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corelane"))
}

pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    match stdin {
        Some(text) => run_bytes(args, text.as_bytes()),
        None => run_with(args, None),
    }
}

pub fn run_bytes(args: &[&str], stdin: &[u8]) -> Output {
    run_with(args, Some(stdin))
}

pub fn run_with(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = corelane();
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn corelane");
    if let Some(bytes) = stdin {
        // A run that fails before it reads its input (a refused password, a bad flag)
        // closes the pipe; what it printed and its status are what the test checks.
        match child.stdin.take().unwrap().write_all(bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write corelane's stdin"),
        }
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn tail_lines(dir: &Path, extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let mut args = vec!["tail", "--data", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args, None);
    assert!(out.status.success(), "tail failed: {}", text(&out.stderr));
    let lines = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("tail prints JSON lines"))
        .collect();
    let cursor = text(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("cursor: ").map(str::to_string))
        .expect("tail prints the resume cursor on stderr");
    (lines, cursor)
}
