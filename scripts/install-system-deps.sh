#!/usr/bin/env bash
# System packages the tests need: Debian's headless Chromium for the dashboard's browser test.
set -euo pipefail
SHELL_BIN=/usr/lib/chromium/chromium-headless-shell
if [ -x "$SHELL_BIN" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium-headless-shell is missing and cannot be installed here (need root and apt-get);" \
       "the browser test will skip. Install it with: sudo apt-get install chromium-headless-shell" >&2
  exit 0
fi
echo "installing chromium-headless-shell (Debian package) for the dashboard's browser test"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null
