#!/usr/bin/env bash
# CI setup for the Cortex-M checks (issue 3): qemu-system-arm and the Cortex-M Rust toolchain.
# Idempotent: a second run installs and downloads nothing. Prints the toolchain's environment
# (`export` lines; also in target/cortex-m-toolchain/env.sh, or $TFLM_CM_TOOLCHAIN_DIR/env.sh).
#
#   bash .ci/cortex-m-setup.sh            # from the repository root, as root (CI is)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v qemu-system-arm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    echo "cortex-m-setup: installing qemu-system-arm" >&2
    apt-get update >&2
    apt-get install -y --no-install-recommends qemu-system-arm >&2
fi
qemu-system-arm --version | head -n1 >&2

# Also fetches the pinned Debian rustc-web toolchain when rustup lacks the thumb targets.
"$REPO/tools/cortex-m-toolchain.sh"
