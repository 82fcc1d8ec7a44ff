#!/usr/bin/env bash
# System packages the project needs, installed from Debian's packages when missing (as root with apt-get):
#   python3-venv            make creates .venv with Python's venv module
#   libgomp1                LightGBM's OpenMP runtime (the wheel links libgomp.so.1)
#   chromium-headless-shell the dashboard's browser test
# Quick and silent when everything is there. Without root/apt it says what to install and carries on
# (the browser test then skips on a laptop; under .ci/run a skip fails the run).
set -euo pipefail
PYTHON="${PYTHON:-python3}"
CHROMIUM_SHELL="${CHROMIUM_SHELL:-/usr/lib/chromium/chromium-headless-shell}"
APT_UPDATED=""

can_apt() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }

apt_install() {
  # apt_install PACKAGE...: one `apt-get update` per run, then a quiet install
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  echo "installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_or_tell() {
  # install_or_tell PACKAGE WHY: install it when we can, else one line saying how
  if can_apt; then
    apt_install "$1"
  else
    echo "warning: $1 is missing ($2); install it with: sudo apt-get install $1" >&2
    return 1
  fi
}

has_python_venv() { "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; }
has_libgomp() { ldconfig -p 2>/dev/null | grep 'libgomp\.so\.1 ' >/dev/null; }  # not grep -q: under pipefail an early exit would fail ldconfig with SIGPIPE
has_browser() { [ -x "$CHROMIUM_SHELL" ]; }

ensure_python_venv() {
  if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    echo "warning: $PYTHON is $("$PYTHON" --version 2>&1); the pinned requirements are tested on Python 3.11" >&2
  fi
  has_python_venv && return 0
  install_or_tell python3-venv "$PYTHON cannot create virtual environments" || exit 1
}

ensure_libgomp() {
  has_libgomp && return 0
  install_or_tell libgomp1 "LightGBM needs libgomp.so.1" || exit 1
}

ensure_browser() {
  has_browser && return 0
  install_or_tell chromium-headless-shell "the dashboard's browser test needs it" || return 0
}

main() {
  ensure_python_venv
  ensure_libgomp
  ensure_browser
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
