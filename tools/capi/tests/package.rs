//! Installs the C ABI as a package with `install.sh` and builds what its users build: a
//! C++ project with CMake (`find_package(corelane CONFIG REQUIRED)`, both imported
//! targets) and a C program with `pkg-config --cflags --libs corelane`; runs each.
//! Needs cmake, pkg-config, gcc and g++: when one is missing the test is skipped with a
//! printed reason, except under `CI=true`, where that is a failure.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{build_libraries, profile, tool};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn checked(what: &str, command: &mut Command) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Installs the libraries this test's profile built (no second, release build).
fn install(prefix: &Path) {
    let target = build_libraries().parent().unwrap().to_path_buf();
    checked(
        "install.sh",
        Command::new(manifest_dir().join("install.sh"))
            .args(["--no-build", "--profile", &profile()])
            .arg(prefix)
            .env("CARGO_TARGET_DIR", target),
    );
}

fn assert_installed(prefix: &Path) {
    let version = env!("CARGO_PKG_VERSION");
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    for file in [
        "lib/libcorelane.a".to_string(),
        format!("lib/libcorelane.so.{version}"),
        "include/corelane.h".into(),
        "include/corelane.hpp".into(),
        "lib/cmake/corelane/corelaneConfig.cmake".into(),
        "lib/cmake/corelane/corelaneConfigVersion.cmake".into(),
        "lib/pkgconfig/corelane.pc".into(),
    ] {
        assert!(prefix.join(&file).is_file(), "{file} was not installed");
    }
    let lib = prefix.join("lib");
    let link = |name: &str| std::fs::read_link(lib.join(name)).unwrap();
    assert_eq!(
        link("libcorelane.so"),
        Path::new(&format!("libcorelane.so.{major}"))
    );
    assert_eq!(
        link(&format!("libcorelane.so.{major}")),
        Path::new(&format!("libcorelane.so.{version}"))
    );
    if let Some(readelf) = tool("readelf") {
        let out = checked(
            "readelf -d",
            Command::new(readelf)
                .arg("-d")
                .arg(lib.join("libcorelane.so")),
        );
        let dynamic = String::from_utf8_lossy(&out.stdout);
        assert!(
            dynamic.contains(&format!("Library soname: [libcorelane.so.{major}]")),
            "{dynamic}"
        );
    }
}

/// Runs a consumer on a fresh data directory; it must store all 1000 events.
fn run_consumer(exe: &Path, data: &Path, library_path: Option<&Path>) {
    let mut command = Command::new(exe);
    command.arg(data);
    if let Some(dir) = library_path {
        command.env("LD_LIBRARY_PATH", dir);
    }
    let out = checked(&exe.display().to_string(), &mut command);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("written 1000, failed 0"), "{stdout}");
    assert!(data.join("shard-0000").is_dir(), "no file log in {data:?}");
}

#[test]
fn cmake_and_pkg_config_consumers_build_against_the_installed_package() {
    let tools = ["cmake", "pkg-config", "gcc", "g++"].map(tool);
    let [Some(cmake), Some(pkg_config), Some(cc), Some(_)] = tools else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    install(&prefix);
    assert_installed(&prefix);

    // CMake: the shared target runs without LD_LIBRARY_PATH (CMake's build RPATH points
    // at PREFIX/lib); the static one needs no library at run time.
    let build = dir.path().join("cmake-build");
    checked(
        "cmake configure",
        Command::new(&cmake)
            .arg("-S")
            .arg(manifest_dir().join("examples/cmake-consumer"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
    );
    checked(
        "cmake --build",
        Command::new(&cmake).arg("--build").arg(&build),
    );
    run_consumer(
        &build.join("consumer"),
        &dir.path().join("data-cmake"),
        None,
    );
    run_consumer(
        &build.join("consumer_static"),
        &dir.path().join("data-cmake-static"),
        None,
    );

    // pkg-config: the flags it prints are all a C compiler needs.
    let pc_path = prefix.join("lib/pkgconfig");
    let pkg = |args: &[&str]| {
        let out = checked(
            "pkg-config",
            Command::new(&pkg_config)
                .args(args)
                .arg("corelane")
                .env("PKG_CONFIG_PATH", &pc_path),
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(pkg(&["--modversion"]), env!("CARGO_PKG_VERSION"));
    let flags = pkg(&["--cflags", "--libs"]);
    let exe = dir.path().join("pkg-config-consumer");
    checked(
        "cc with pkg-config flags",
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            .arg(manifest_dir().join("examples/pkg-config-consumer/consumer.c"))
            .args(flags.split_whitespace())
            .arg("-o")
            .arg(&exe),
    );
    run_consumer(
        &exe,
        &dir.path().join("data-pkg-config"),
        Some(&prefix.join("lib")),
    );
}
