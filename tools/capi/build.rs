//! Gives the shared library an ELF SONAME, so that programs linked against an installed
//! `libcorelane.so` record `libcorelane.so.<major>` and keep working across compatible
//! upgrades (tools/capi/install.sh installs the versioned file and its links).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcorelane.so.{major}");
    }
}
