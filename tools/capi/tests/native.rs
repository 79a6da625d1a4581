//! Builds and runs the C API test program and the C++ host example against the static
//! library, with AddressSanitizer and UndefinedBehaviorSanitizer. Needs gcc and g++: when
//! one is missing the test is skipped with a printed reason, except under `CI=true`,
//! where that is a failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::{build_libraries, tool as compiler};

fn build(compiler: &str, std: &str, source: &Path, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = build_libraries().join("libcorelane.a");
    let status = Command::new(compiler)
        .args([std, "-g", "-O1", "-Wall", "-Wextra", "-Werror"])
        .args([
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(source)
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(out)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{compiler} failed to build {}",
        source.display()
    );
}

fn run(exe: &Path, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        exe.display(),
        out.status
    );
    assert!(!stderr.contains("Sanitizer"), "sanitizer report:\n{stderr}");
    stdout
}

#[test]
fn c_api_test_program_passes_under_sanitizers() {
    let Some(cc) = compiler("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("api_test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    build(&cc, "-std=c11", &root.join("tests/c/api_test.c"), &exe);
    let out = run(&exe, &[]);
    assert!(out.contains(", 0 failures"), "{out}");
}

#[test]
fn cpp_host_ingests_a_million_events_under_sanitizers() {
    let Some(cxx) = compiler("g++") else { return };
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("host");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    build(&cxx, "-std=c++17", &root.join("examples/host.cpp"), &exe);
    let data = dir.path().join("data");
    let out = run(&exe, &[data.to_str().unwrap(), "1000000"]);
    assert!(out.contains("read back 1000000 events"), "{out}");
    assert!(
        out.contains("order ok") && out.contains("host: ok"),
        "{out}"
    );
    print!("{out}");
}
