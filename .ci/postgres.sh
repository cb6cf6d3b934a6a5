#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite (decision-log store tests).
#
# Usage (from .ci/run or a shell):
#   source .ci/postgres.sh       # starts it and exports the variable below
#   export LLMTRIAGE_TEST_POSTGRES_URL=postgresql://llmtriage@127.0.0.1:54391/llmtriage
#   .venv/bin/python -m pytest -q tests/learning
#
# Installs the distribution's `postgresql` package with apt-get only when initdb/postgres
# are missing, `initdb`s a cluster into a temporary folder, starts it on 127.0.0.1:54391
# (override with LLMTRIAGE_POSTGRES_PORT) without fsync (tests only), and waits for it.
# PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user
# the package creates. Trust authentication on loopback: the server lives for one CI run.
# Idempotent: a server already accepting connections on the port is reused.
# Stop it with: pg_ctl -D "$LLMTRIAGE_POSTGRES_DIR/data" stop -m immediate
#
# Safe to source: the work runs in a subshell, so the caller's shell options are untouched.

LLMTRIAGE_POSTGRES_PORT="${LLMTRIAGE_POSTGRES_PORT:-54391}"

_llmtriage_pg_bin() {
    # initdb and pg_ctl live in the versioned folder on Debian; PATH may have links too.
    local found
    found="$(command -v initdb 2>/dev/null || true)"
    if [ -n "$found" ]; then dirname "$(readlink -f "$found")"; return; fi
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; fi
}

if ! (
    set -euo pipefail
    port="$LLMTRIAGE_POSTGRES_PORT"
    bin="$(_llmtriage_pg_bin)"
    if [ -z "$bin" ]; then
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
        bin="$(_llmtriage_pg_bin)"
    fi
    as_owner=()
    if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u postgres --); fi
    ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1; }

    if ! ready; then
        dir="$(mktemp -d -t llmtriage-postgres.XXXXXX)"
        chmod 755 "$dir"
        if [ "${#as_owner[@]}" -gt 0 ]; then chown postgres "$dir"; fi
        "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U llmtriage --auth=trust \
            --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2; exit 1; }
        "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
            -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off" \
            start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
        "${as_owner[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U llmtriage llmtriage
        echo "$dir" >"${TMPDIR:-/tmp}/llmtriage-postgres-$port.dir"
    fi
); then
    echo "could not start PostgreSQL for the tests" >&2
    return 1 2>/dev/null || exit 1
fi

export LLMTRIAGE_TEST_POSTGRES_URL="postgresql://llmtriage@127.0.0.1:${LLMTRIAGE_POSTGRES_PORT}/llmtriage"
LLMTRIAGE_POSTGRES_DIR="$(cat "${TMPDIR:-/tmp}/llmtriage-postgres-${LLMTRIAGE_POSTGRES_PORT}.dir" 2>/dev/null || true)"
export LLMTRIAGE_POSTGRES_DIR
echo "postgres ready: LLMTRIAGE_TEST_POSTGRES_URL=$LLMTRIAGE_TEST_POSTGRES_URL"
