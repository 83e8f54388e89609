#!/usr/bin/env bash
# The benchmarks in one command: bash bench/run.sh [--full] [--no-werobot] [--json FILE] ...
#
# Installs what only the benchmark needs, away from gigdesk's own dependencies: Debian's wrk
# (the load generator), and a venv in bench/.venv with gigdesk (editable) plus WeRoBot and
# gunicorn (the peer, served as WeRoBot's docs deploy it) and pyinstrument (for profiling
# a missed target). Then runs bench/run.py, which prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# pip is quick when everything is already there; gigdesk's dependencies may have changed.
"$venv/bin/pip" install -q -e . "werobot==1.13.1" "gunicorn==27.0.1" "pyinstrument==5.1.3" 2>&1 | grep -v '^WARNING' >&2 || true

exec "$venv/bin/python" bench/run.py "$@"
