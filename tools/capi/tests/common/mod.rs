//! What the tests that build native programs share: finding tools, and building the
//! libraries into this test's own target directory and profile.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `<target>/<profile dir>`: this test runs from `<target>/<profile dir>/deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// The cargo profile whose output is [`profile_dir`].
pub fn profile() -> String {
    match profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".into(),
        Some(other) => other.into(),
    }
}

/// `Some(name)` when `name --version` runs. When it does not, the test is skipped with a
/// printed reason, except under `CI=true`, where that is a failure.
pub fn tool(name: &str) -> Option<String> {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name.to_string());
    }
    let reason = format!("{name} is not installed");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason}: under CI=true the native build tests must run");
    }
    eprintln!("skipping: {reason}");
    None
}

/// Builds `libcorelane.a` and `libcorelane.so` into [`profile_dir`]: `cargo test` does
/// not produce them on its own (the tests cannot link them as Rust). Returns the
/// directory.
pub fn build_libraries() -> PathBuf {
    let dir = profile_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "corelane-capi", "--lib"])
        .args(["--profile", &profile(), "--target-dir"])
        .arg(dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build -p corelane-capi failed");
    for lib in ["libcorelane.a", "libcorelane.so"] {
        assert!(dir.join(lib).exists(), "{lib} was not built in {dir:?}");
    }
    dir
}
