#!/usr/bin/env bash
# System packages the project needs: Python's venv module (make creates .venv) and Debian's headless
# Chromium for the dashboard's browser test.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  echo "warning: $PYTHON is $("$PYTHON" --version 2>&1); the pinned requirements are tested on Python 3.11" >&2
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  if can_apt; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "error: $PYTHON cannot create virtual environments; install python3-venv" >&2
    exit 1
  fi
fi
SHELL_BIN=/usr/lib/chromium/chromium-headless-shell
if [ -x "$SHELL_BIN" ]; then
  exit 0
fi
if ! can_apt; then
  echo "chromium-headless-shell is missing and cannot be installed here (need root and apt-get);" \
       "the browser test will skip. Install it with: sudo apt-get install chromium-headless-shell" >&2
  exit 0
fi
echo "installing chromium-headless-shell (Debian package) for the dashboard's browser test"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null
