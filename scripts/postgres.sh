#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for tests, on loopback only (commands from ../shared/ENVIRONMENT.md).
#
#   bash scripts/postgres.sh start    initialise (first time) and start; creates the database; idempotent
#   bash scripts/postgres.sh stop     stop if running; idempotent
#   bash scripts/postgres.sh url      print the SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:54329/b12
#   bash scripts/postgres.sh status   say whether it is running (exit 0 if so, 3 if not)
#
# Settings from the environment: B12_PG_DIR (default: /tmp/b12-pgdata-<hash of the project path>; holds data/, the socket and
# server.log), B12_PG_PORT (54329), B12_PG_DATABASE (b12), PGBIN (/usr/lib/postgresql/15/bin).
# initdb refuses to run as root, so as root every server command runs as the postgres user (su postgres).
# Authentication is `trust` on 127.0.0.1: for tests only, never for real data.
set -euo pipefail

project="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
port="${B12_PG_PORT:-54329}"
database="${B12_PG_DATABASE:-b12}"
# Default outside the project: a fresh clone may sit in a folder only root can enter (mktemp -d is 0700),
# and the server runs as the postgres user. One folder per project path, so clones do not share data.
dir="${B12_PG_DIR:-${TMPDIR:-/tmp}/b12-pgdata-$(printf '%s' "$project" | cksum | cut -d' ' -f1)}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"
log="$dir/server.log"

# Run a command line as the cluster's owner: postgres when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/sh -c "$1"
    else
        sh -c "$1"
    fi
}

q() { printf '%q' "$1"; }

running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$(q "$PGBIN/pg_ctl") -D $(q "$data") status" >/dev/null 2>&1
}

url() {
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/$database"
}

start() {
    if [ ! -x "$PGBIN/initdb" ]; then
        echo "postgres.sh: no PostgreSQL server binaries in $PGBIN (install postgresql 15 or set PGBIN)" >&2
        exit 1
    fi
    # A folder git ignores by itself (as .pytest_cache does), so the cluster never shows up in `git status`.
    [ -f "$dir/.gitignore" ] || echo '*' >"$dir/.gitignore"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$(q "$PGBIN/initdb") -D $(q "$data") -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8" \
            >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
    fi
    if running; then
        echo "postgres.sh: already running on 127.0.0.1:$port ($data)" >&2
    else
        # listen on loopback only; the Unix socket lives in the private folder, not in /var/run/postgresql
        as_owner "$(q "$PGBIN/pg_ctl") -D $(q "$data") -l $(q "$log") \
            -o $(q "-c listen_addresses=127.0.0.1 -p $port -k $dir") -w -t 60 start" >/dev/null || {
            tail -n 20 "$log" >&2 || true
            exit 1
        }
        echo "postgres.sh: started on 127.0.0.1:$port ($data)" >&2
    fi
    local psql
    psql="$(q "$PGBIN/psql") -X -q -h 127.0.0.1 -p $port -U postgres -d postgres -v ON_ERROR_STOP=1"
    if [ -z "$(as_owner "$psql -tAc \"SELECT 1 FROM pg_database WHERE datname = '$database'\"")" ]; then
        as_owner "$psql -c 'CREATE DATABASE \"$database\"'"
    fi
}

stop() {
    if running; then
        as_owner "$(q "$PGBIN/pg_ctl") -D $(q "$data") -m fast -w -t 60 stop" >/dev/null
        echo "postgres.sh: stopped ($data)" >&2
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) url ;;
status)
    if running; then
        echo "running on 127.0.0.1:$port ($data)"
    else
        echo "not running ($data)"
        exit 3
    fi
    ;;
*)
    echo "usage: $0 start|stop|url|status" >&2
    exit 2
    ;;
esac
