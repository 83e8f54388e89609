#!/usr/bin/env bash
# The benchmarks in one command: bash bench/run.sh [--full] [--no-werobot] [--no-postgresql] [--json FILE] ...
#
# Installs what only the benchmark needs, away from gigdesk's own dependencies: Debian's wrk
# (the load generator), and a venv in bench/.venv with gigdesk (editable) plus WeRoBot and
# gunicorn (the peer, served as WeRoBot's docs deploy it) and pyinstrument (for profiling
# a missed target). Then runs bench/run.py, which prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."

# wrk is the load generator; postgresql's server binaries run a throw-away cluster for the
# PostgreSQL rows (bench/pgcluster.py; no system cluster is started or touched).
missing=""
command -v wrk >/dev/null || missing="$missing wrk"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# pip is quick when everything is already there; gigdesk's dependencies may have changed.
"$venv/bin/pip" install -q -e '.[postgresql]' "werobot==1.13.1" "gunicorn==27.0.1" "pyinstrument==5.1.3" 2>&1 | grep -v '^WARNING' >&2 || true

exec "$venv/bin/python" bench/run.py "$@"
