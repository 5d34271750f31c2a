#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/e2e/test_web_browser.py); Playwright's own browser downloads are
# not used. Idempotent: does nothing when the browser is already there.
#
#   bash scripts/install-chromium.sh
#
# B12_CHROMIUM names the browser the tests launch (default /usr/bin/chromium). apt-get needs root: as another
# user it runs through sudo when sudo is available. Installing takes ~30 s and ~480 MB.
set -euo pipefail

chromium="${B12_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    echo "install-chromium: $chromium is already installed ($("$chromium" --version 2>/dev/null || echo 'version unknown')); nothing to do"
    exit 0
fi
if [ "$chromium" != /usr/bin/chromium ]; then
    echo "install-chromium: B12_CHROMIUM=$chromium does not exist; install it there, or unset B12_CHROMIUM to use Debian's chromium" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: $chromium is missing and apt-get is not available: install Chromium yourself and set B12_CHROMIUM" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-chromium: $chromium is missing; as root run: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "install-chromium: $chromium is missing; installing Debian's chromium with apt-get (~30 s)"
"${sudo[@]}" apt-get update -qq
# The chromium package prints a harmless "[: unexpected operator" line and dbus errors while installing.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
echo "install-chromium: installed $("$chromium" --version 2>/dev/null || echo "$chromium")"
