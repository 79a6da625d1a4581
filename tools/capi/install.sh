#!/usr/bin/env bash
# Builds the C ABI (release) and installs it as a package under PREFIX:
#
#   PREFIX/lib/libcorelane.a
#   PREFIX/lib/libcorelane.so.X.Y.Z   (SONAME libcorelane.so.X)
#   PREFIX/lib/libcorelane.so.X -> libcorelane.so.X.Y.Z
#   PREFIX/lib/libcorelane.so   -> libcorelane.so.X
#   PREFIX/include/corelane.h, corelane.hpp
#   PREFIX/lib/cmake/corelane/corelaneConfig.cmake, corelaneConfigVersion.cmake
#   PREFIX/lib/pkgconfig/corelane.pc
#
# Usage: tools/capi/install.sh [--profile NAME] [--no-build] PREFIX
#   --profile NAME  cargo profile to build and install (default: release)
#   --no-build      install what an earlier `cargo build -p corelane-capi` left in the
#                   target directory ($CARGO_TARGET_DIR, default: target/ of the workspace)
# Linux only (the shared library's name and SONAME are ELF conventions).
set -euo pipefail

usage() { sed -n '/^# Usage:/,/^# Linux/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

profile=release
build=true
prefix=
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) [ $# -ge 2 ] || usage; profile=$2; shift 2 ;;
        --no-build) build=false; shift ;;
        -h|--help) usage ;;
        -*) echo "install.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$prefix" ] || usage; prefix=$1; shift ;;
    esac
done
[ -n "$prefix" ] || usage

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
case "$profile" in dev|test) out=$target/debug ;; *) out=$target/$profile ;; esac

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml")
[[ "$version" =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || {
    echo "install.sh: cannot read the version from $root/Cargo.toml (got '$version')" >&2
    exit 1
}
major=${BASH_REMATCH[1]}
minor=${BASH_REMATCH[2]}

if $build; then
    (cd "$root" && cargo build --locked --profile "$profile" -p corelane-capi --lib)
fi
for lib in libcorelane.a libcorelane.so; do
    [ -f "$out/$lib" ] || {
        echo "install.sh: $out/$lib is missing (build it, or drop --no-build)" >&2
        exit 1
    }
done

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
lib=$prefix/lib
install -d "$lib" "$prefix/include" "$lib/cmake/corelane" "$lib/pkgconfig"
install -m 0644 "$out/libcorelane.a" "$lib/libcorelane.a"
install -m 0755 "$out/libcorelane.so" "$lib/libcorelane.so.$version"
ln -sfn "libcorelane.so.$version" "$lib/libcorelane.so.$major"
ln -sfn "libcorelane.so.$major" "$lib/libcorelane.so"
install -m 0644 "$here/include/corelane.h" "$here/include/corelane.hpp" "$prefix/include/"

fill() {
    sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" \
        -e "s|@SIZEOF_VOID_P@|$(($(getconf LONG_BIT) / 8))|g" -e "s|@PREFIX@|$prefix|g" \
        "$here/package/$1.in" > "$2"
    chmod 0644 "$2"
}
fill corelaneConfig.cmake "$lib/cmake/corelane/corelaneConfig.cmake"
fill corelaneConfigVersion.cmake "$lib/cmake/corelane/corelaneConfigVersion.cmake"
fill corelane.pc "$lib/pkgconfig/corelane.pc"

echo "installed corelane $version ($profile) into $prefix"
echo "  CMake:      find_package(corelane CONFIG REQUIRED) with -DCMAKE_PREFIX_PATH=$prefix"
echo "  pkg-config: PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --cflags --libs corelane"
