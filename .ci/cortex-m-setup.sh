#!/usr/bin/env bash
# CI setup for the Cortex-M checks (issue 3): qemu-system-arm and the Cortex-M Rust toolchain.
# Works on a fresh Debian machine as root (CI is): `apt-get update` first, then installs what is
# missing. Idempotent: a second run installs and downloads nothing. Prints the toolchain's
# environment (`export` lines; also in target/cortex-m-toolchain/env.sh, or
# $TFLM_CM_TOOLCHAIN_DIR/env.sh).
#
#   bash .ci/cortex-m-setup.sh            # from anywhere, as root
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

# Shared libraries that the Debian fallback's rustc/libLLVM load from the system (the same list
# as tools/cortex-m-toolchain.sh's SYSTEM_LIB_PACKAGES).
SYSTEM_LIBS=(libedit2 libffi8 libxml2 libz3-4 libzstd1 zlib1g libstdc++6)

missing=()
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
if ! "$REPO/tools/cortex-m-toolchain.sh" --check --quiet >/dev/null 2>&1; then
    for p in "${SYSTEM_LIBS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    need_update=1   # the toolchain script's `apt-get download` needs current package lists
else
    need_update=0
fi
if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "cortex-m-setup: run as root (apt-get update; apt-get install ${missing[*]:-})" >&2
        exit 1
    fi
    echo "cortex-m-setup: apt-get update" >&2
    apt-get update >&2
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "cortex-m-setup: installing ${missing[*]}" >&2
    apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
qemu-system-arm --version | head -n1 >&2

# Uses rustup's thumb targets when installed; otherwise fetches (once) the pinned Debian
# rustc-web toolchain into target/cortex-m-toolchain.
"$REPO/tools/cortex-m-toolchain.sh"
