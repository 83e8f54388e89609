#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine and runs it.
# Chromium comes from Debian (Playwright cannot download browsers here); Python packages
# go into .venv beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,eval]'
exec .venv/bin/python -m pytest "$@"
