#!/usr/bin/env bash
# Makes Cortex-M builds (thumbv6m-none-eabi, thumbv7m-none-eabi, thumbv7em-none-eabihf) possible,
# in one command, without installing a compiler system-wide.
#
#   tools/cortex-m-toolchain.sh [--with-qemu] [--quiet] [--check] [--fallback]
#
# 1. If the active Rust toolchain already has the three targets (on an ordinary machine:
#    `rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf`), it is used
#    as it is: no extra cargo arguments.
# 2. Otherwise it downloads Debian bookworm's rustc-web 1.96 with the matching library source
#    (pinned versions below) with `apt-get download`, extracts them with `dpkg -x` into
#    $TFLM_CM_TOOLCHAIN_DIR (default: <repo>/target/cortex-m-toolchain) and builds `core` from
#    source with `-Zbuild-std=core` (RUSTC_BOOTSTRAP=1 lets the stable cargo accept it).
#    Cached: a second run only checks and prints.
#
# Output: `export` lines on stdout (so `eval "$(tools/cortex-m-toolchain.sh)"` works), and the
# same lines in $TFLM_CM_TOOLCHAIN_DIR/env.sh to `source`. Both set TFLM_CM_CARGO_ARGS, the extra
# cargo arguments (`-Zbuild-std=core` or empty), and TFLM_CM_TOOLCHAIN (`rustup` or `debian`).
# Progress and errors go to stderr. Use the environment only for Cortex-M builds (a subshell):
# it points RUSTC at another compiler, which would make host builds rebuild everything.
#
# Options:
#   --with-qemu  also `apt-get install -y qemu-system-arm` if qemu-system-arm is missing (root)
#   --quiet      no progress messages
#   --check      do not download anything; exit 0 if a toolchain is ready, 1 otherwise
#   --fallback   use the Debian toolchain even if rustup has the targets (testing)
# Environment:
#   TFLM_CM_TOOLCHAIN_DIR  cache directory of the Debian fallback
#   TFLM_CM_TOOLCHAIN      force `rustup` or `debian` (default: automatic)
#   TFLM_CM_UNPINNED=1     when the pinned versions are gone from Debian's archive: take the
#                          current versions of the same packages (then update the pins below)
set -euo pipefail

# ---- pinned Debian bookworm packages (apt-cache policy after apt-get update) ----
RUST_DEB_VERSION="1.96.0+dfsg1-1~deb12u2"
LLVM_DEB_VERSION="1:22.1.8-1~deb12u1"
RUST_SRC_DIR_NAME="rustc-1.96.0"
PINNED_PACKAGES=(
    "rustc-web=$RUST_DEB_VERSION"
    "rust-web-src=$RUST_DEB_VERSION"
    "libstd-rust-web-dev=$RUST_DEB_VERSION"
    "libstd-rust-web-1.96=$RUST_DEB_VERSION"
    "libllvm22=$LLVM_DEB_VERSION"
    "lld-22=$LLVM_DEB_VERSION"
    "liblld-22=$LLVM_DEB_VERSION"
)
# Shared libraries the extracted binaries need from the system (libllvm22's dependencies).
SYSTEM_LIB_PACKAGES="libedit2 libffi8 libxml2 libz3-4 libzstd1 zlib1g libstdc++6"
TARGETS=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf)

WITH_QEMU=0 QUIET=0 CHECK_ONLY=0 MODE="${TFLM_CM_TOOLCHAIN:-auto}"
for arg in "$@"; do
    case "$arg" in
        --with-qemu) WITH_QEMU=1 ;;
        --quiet) QUIET=1 ;;
        --check) CHECK_ONLY=1 ;;
        --fallback) MODE=debian ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "cortex-m-toolchain: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

say() { [ "$QUIET" = 1 ] || echo "cortex-m-toolchain: $*" >&2; }
die() { echo "cortex-m-toolchain: error: $*" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${TFLM_CM_TOOLCHAIN_DIR:-$REPO/target/cortex-m-toolchain}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
ROOT="$DIR/root"
STAMP="$DIR/.complete"
STAMP_CONTENT="${PINNED_PACKAGES[*]}"
if [ "${TFLM_CM_UNPINNED:-0}" = 1 ]; then
    PINNED_PACKAGES=("${PINNED_PACKAGES[@]%%=*}")
    STAMP_CONTENT="unpinned ${PINNED_PACKAGES[*]}"
fi

# ---- qemu (only when asked) ----
if [ "$WITH_QEMU" = 1 ] && ! command -v qemu-system-arm >/dev/null 2>&1; then
    if [ "$CHECK_ONLY" = 1 ]; then
        die "qemu-system-arm is not installed"
    fi
    [ "$(id -u)" = 0 ] || die "qemu-system-arm is missing; install it with: sudo apt-get install qemu-system-arm"
    say "installing qemu-system-arm with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends qemu-system-arm >&2; then
        apt-get update >&2 || true
        apt-get install -y --no-install-recommends qemu-system-arm >&2 \
            || die "apt-get install qemu-system-arm failed"
    fi
fi

emit_env() {  # writes env.sh and prints it
    local tmp="$DIR/env.sh.tmp.$$"
    {
        echo "# Cortex-M build environment written by tools/cortex-m-toolchain.sh ($1)"
        shift
        for line in "$@"; do echo "$line"; done
    } > "$tmp"
    mv -f "$tmp" "$DIR/env.sh"
    grep -v '^#' "$DIR/env.sh"
}

# ---- path 1: the active toolchain already has the targets ----
have_targets_natively() {
    command -v rustc >/dev/null 2>&1 || return 1
    local installed
    if command -v rustup >/dev/null 2>&1; then
        installed="$(rustup target list --installed 2>/dev/null || true)"
    else
        local sysroot
        sysroot="$(rustc --print sysroot 2>/dev/null)" || return 1
        installed="$(ls "$sysroot/lib/rustlib" 2>/dev/null || true)"
    fi
    local t
    for t in "${TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || return 1
    done
}

if [ "$MODE" != debian ] && have_targets_natively; then
    say "using the installed Rust targets ($(rustc -V))"
    emit_env rustup \
        "export TFLM_CM_TOOLCHAIN=rustup" \
        "export TFLM_CM_CARGO_ARGS=''"
    exit 0
fi
if [ "$MODE" = rustup ]; then
    die "TFLM_CM_TOOLCHAIN=rustup but the active toolchain lacks some of ${TARGETS[*]}; run: rustup target add ${TARGETS[*]}"
fi

# ---- path 2: Debian's rustc-web, extracted under $DIR ----
R="$ROOT"
ENV_LINES=(
    "export TFLM_CM_TOOLCHAIN=debian"
    "export PATH=\"$R/usr/bin:$R/usr/lib/llvm-22/bin:\$PATH\""
    "export LD_LIBRARY_PATH=\"$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/llvm-22/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    "export RUSTC=\"$R/usr/bin/rustc\""
    "export RUSTC_BOOTSTRAP=1"
    "export TFLM_CM_CARGO_ARGS='-Zbuild-std=core'"
)

# The downloaded .deb of a `name=version` (or plain `name`) spec. Debian file names encode the
# epoch's ':' as '%3a'.
deb_of() {
    local name="${1%%=*}" ver="${1#*=}" f
    if [ "$name" = "$1" ]; then
        for f in "$DEBS/${name}_"*.deb; do
            [ -f "$f" ] && { echo "$f"; return 0; }
        done
    else
        for f in "$DEBS/${name}_${ver/:/%3a}_"*.deb; do
            [ -f "$f" ] && { echo "$f"; return 0; }
        done
    fi
    return 1
}

toolchain_works() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_CONTENT" ] || return 1
    [ -f "$R/usr/lib/rustlib/src/rust/library/core/Cargo.toml" ] || return 1
    LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/llvm-22/lib" \
        "$R/usr/bin/rustc" -V >/dev/null 2>&1
}

# One installer at a time (parallel test threads may all call this script).
exec 9>"$DIR/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

if ! toolchain_works; then
    if [ "$CHECK_ONLY" = 1 ]; then
        say "no Cortex-M toolchain ready (rustup lacks the targets; the Debian fallback is not in $DIR)"
        exit 1
    fi
    command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 || die \
        "the active Rust toolchain lacks the targets ${TARGETS[*]} and this is no Debian system
  (no apt-get/dpkg) for the fallback. Install the targets with:
      rustup target add ${TARGETS[*]}"

    DEBS="$DIR/debs"
    if [ "${TFLM_CM_UNPINNED:-0}" = 1 ]; then
        DEBS="$DIR/debs-unpinned"
        rm -rf "$DEBS"
    fi
    mkdir -p "$DEBS"
    missing=()
    for spec in "${PINNED_PACKAGES[@]}"; do
        deb_of "$spec" >/dev/null || missing+=("$spec")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "downloading ${#missing[@]} Debian packages (about 120 MB) into $DEBS"
        download() { (cd "$DEBS" && apt-get download "${missing[@]}") >&2; }
        if ! download; then
            if [ "$(id -u)" = 0 ]; then
                say "apt-get download failed; running apt-get update and retrying"
                apt-get update >&2 || true
                download || die "apt-get download ${missing[*]} failed.
  Either install the Rust targets (rustup target add ${TARGETS[*]}), or, if Debian has replaced
  these pinned versions, rerun with TFLM_CM_UNPINNED=1 (and update the pins in $0)."
            else
                die "apt-get download ${missing[*]} failed (run 'apt-get update' as root first?).
  Or install the Rust targets: rustup target add ${TARGETS[*]}"
            fi
        fi
    fi

    say "extracting into $R"
    rm -rf "$R.tmp"
    mkdir -p "$R.tmp"
    for spec in "${PINNED_PACKAGES[@]}"; do
        deb="$(deb_of "$spec")" || die "no .deb for $spec in $DEBS"
        dpkg -x "$deb" "$R.tmp"
    done
    # rust-web-src's sysroot link is relative (../../../src/...): point it at the extracted
    # source, absolutely, after the final move.
    rm -rf "$R"
    mv "$R.tmp" "$R"
    src_dir="$R/usr/src/$RUST_SRC_DIR_NAME"
    if [ "${TFLM_CM_UNPINNED:-0}" = 1 ]; then
        src_dir="$(ls -d "$R"/usr/src/rustc-* | head -n1)"
    fi
    ln -sfn "$src_dir" "$R/usr/lib/rustlib/src/rust"
    [ -f "$R/usr/lib/rustlib/src/rust/library/core/Cargo.toml" ] \
        || die "the extracted rust-web-src has no library/core at $src_dir"
    echo "$STAMP_CONTENT" > "$STAMP"
    if ! toolchain_works; then
        rm -f "$STAMP"
        missing_libs="$(LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/llvm-22/lib" \
            ldd "$R/usr/bin/rustc" "$R/usr/lib/x86_64-linux-gnu"/libLLVM*.so* 2>/dev/null \
            | grep 'not found' | sort -u || true)"
        die "the extracted rustc does not run.${missing_libs:+ Missing libraries:
$missing_libs
  Install them with: apt-get install $SYSTEM_LIB_PACKAGES}"
    fi
    say "ready: $(LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/usr/lib/llvm-22/lib" "$R/usr/bin/rustc" -V)"
    # The .debs are kept so that a deleted root/ is restored without network.
fi

# rust-lld: rustc calls `rust-lld` for the thumb targets; Debian's lld-22 provides it under
# /usr/lib/llvm-22/bin (as ld.lld) and rustc-web's wrapper finds it on PATH.
if [ ! -e "$R/usr/lib/llvm-22/bin/rust-lld" ] && [ -e "$R/usr/lib/llvm-22/bin/lld" ]; then
    ln -sfn lld "$R/usr/lib/llvm-22/bin/rust-lld"
fi

emit_env debian "${ENV_LINES[@]}"
