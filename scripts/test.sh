#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine and runs it.
# Chromium comes from Debian (Playwright cannot download browsers here); Python packages
# go into .venv beside the checkout. A throw-away PostgreSQL cluster is started for the run
# (the storage tests run on SQLite and on PostgreSQL) and removed when the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium for the browser tests, a CJK font so they render Chinese as a rider's phone does
# (without one the layout tests measure boxes), wrk for the benchmark's smoke test,
# postgresql for the second storage backend (only its server binaries are used: no cluster
# of the system's is started or touched).
# (dpkg-query's status, not `dpkg -s`: a removed package whose config files remain still
# passes `dpkg -s`.)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for package in chromium fonts-noto-cjk wrk postgresql; do
  installed "$package" || missing="$missing $package"
done
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
  echo "installing Debian packages for the tests:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# --- a throw-away PostgreSQL cluster ------------------------------------------------------
# initdb in a fresh temporary folder, listening on a unix socket in that folder only (no TCP),
# trust authentication (nothing else can reach the socket: the folder is private). initdb and
# the server refuse to run as root, so as root they run as Debian's `postgres` user.
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "scripts/test.sh: PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin/initdb)" >&2
  exit 1
fi
pg_dir="$(mktemp -d -t gigdesk-pg.XXXXXX)"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$pg_dir"
  as_pg=(runuser -u postgres --)
fi
stop_cluster() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_cluster EXIT
if ! "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U gigdesk --auth=trust -E UTF8 --locale=C.UTF-8 \
       >"$pg_dir/initdb.log" 2>&1; then
  echo "scripts/test.sh: initdb failed:" >&2; cat "$pg_dir/initdb.log" >&2; exit 1
fi
# fsync off: a crash of a test cluster loses nothing anyone needs, and it is much faster.
if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
       -o "-c listen_addresses='' -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
       start >/dev/null; then
  echo "scripts/test.sh: the PostgreSQL test cluster did not start:" >&2; cat "$pg_dir/server.log" >&2; exit 1
fi
"$pg_bin/createdb" -h "$pg_dir" -U gigdesk gigdesk
export GIGDESK_TEST_DATABASE_URL="postgresql://gigdesk@/gigdesk?host=$pg_dir"
# The PostgreSQL variants of the tests fail, not skip, when this is set and the server is gone.
export GIGDESK_TEST_REQUIRE_POSTGRESQL=1

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,eval]'
# Not exec: the trap above stops the cluster when pytest ends.
.venv/bin/python -m pytest "$@"
