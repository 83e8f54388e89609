#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine and runs it.
# Chromium comes from Debian (Playwright cannot download browsers here); Python packages
# go into .venv beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium for the browser tests, a CJK font so they render Chinese as a rider's phone does
# (without one the layout tests measure boxes), wrk for the benchmark's smoke test.
# (dpkg-query's status, not `dpkg -s`: a removed package whose config files remain still
# passes `dpkg -s`.)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for package in chromium fonts-noto-cjk wrk; do
  installed "$package" || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "installing Debian packages for the tests:$missing"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,eval]'
exec .venv/bin/python -m pytest "$@"
