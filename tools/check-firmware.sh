#!/usr/bin/env bash
# Builds the firmwares that use `include_quantized_model!` for Cortex-M4F, with the Cortex-M
# toolchain of tools/cortex-m-toolchain.sh (rustup's targets or the pinned Debian fallback):
#   1. examples/qemu-macro-firmware  (run under QEMU by tests/qemu_macro.rs)
#   2. examples/embassy-firmware     (nRF52840, Embassy + defmt: built, not run; a board and
#                                     probe-rs run it)
# Both share one target directory, so the proc macro's host side (the `tflm` converter and
# tract-onnx, compiled by the firmware's compiler) is built once; their Cargo.toml files set the
# same `[profile.release.build-override]` for that. Their Cargo.lock files pin the crates.io
# versions (not --locked: a dependency added to tflm or tflm-runtime is added to them as cargo
# resolves it; commit the updated lock files). Run by .ci/run.
#
#   tools/check-firmware.sh
# Environment: TFLM_FIRMWARE_TARGET_DIR (default ${CARGO_TARGET_DIR:-<repo>/target}/firmware,
# also the default of tests/qemu_macro.rs, which reuses these builds).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() {
    echo "check-firmware: FAILED: $*" >&2
    exit 1
}

env_lines="$("$REPO/tools/cortex-m-toolchain.sh" --quiet)" \
    || fail "no Cortex-M toolchain (see the error above; bash .ci/cortex-m-setup.sh sets one up)"
eval "$env_lines"
# shellcheck disable=SC2206
EXTRA=($TFLM_CM_CARGO_ARGS)
OUT="${TFLM_FIRMWARE_TARGET_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/firmware}"
export CARGO_TARGET_DIR="$OUT"
# Host-build settings that must not leak into the firmware builds.
unset CARGO_BUILD_TARGET RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS RUSTC_WRAPPER
echo "check-firmware: toolchain: $TFLM_CM_TOOLCHAIN ($(${RUSTC:-rustc} -V)); target dir $OUT"

for fw in qemu-macro-firmware embassy-firmware; do
    dir="$REPO/examples/$fw"
    start=$(date +%s)
    echo "check-firmware: cargo build --release --target thumbv7em-none-eabihf ${EXTRA[*]} ($fw)"
    # From the crate's directory, so that its .cargo/config.toml applies (DEFMT_LOG, ...).
    if ! (cd "$dir" && cargo build --release --target thumbv7em-none-eabihf "${EXTRA[@]}"); then
        fail "examples/$fw does not build for thumbv7em-none-eabihf (the errors are above). \
It uses include_quantized_model! and tflm-runtime from this checkout: a change to the macro's \
generated API, the runtime or the models may need the firmware updated too."
    fi
    elf="$OUT/thumbv7em-none-eabihf/release/tflm-$fw"
    [ -f "$elf" ] || fail "no ELF at $elf"
    echo "check-firmware: $fw ok in $(( $(date +%s) - start )) s: $elf"
done
echo "check-firmware: ok"
