#!/usr/bin/env bash
# Make Debian's headless-capable Chromium available (the audit report's rendering test);
# idempotent and quiet: nothing is installed when `chromium` is already on the PATH.
# Needs root (or sudo) and apt. Prints the browser's path on success.
set -euo pipefail

for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null; then
        command -v "$candidate"
        exit 0
    fi
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO=(sudo -n); else
        echo "install-chromium: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: apt-get not found; install Chromium with your package manager" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq >/dev/null
"${SUDO[@]}" apt-get install -y -qq chromium >/dev/null

if ! command -v chromium >/dev/null; then
    echo "install-chromium: apt-get finished but no chromium on the PATH" >&2
    exit 1
fi
command -v chromium
