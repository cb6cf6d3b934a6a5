#!/usr/bin/env bash
# Start a throwaway redis-server for the test suite (tests marked `redis`).
#
# Usage (from .ci/run or a shell):
#   source .ci/redis.sh          # starts it and exports the variable below
#   export LLMTRIAGE_TEST_REDIS_URL=redis://127.0.0.1:6391/0   # what it exports
#   .venv/bin/python -m pytest -q -m redis
#
# Installs redis-server with apt-get when missing, starts it daemonized on 127.0.0.1:6391
# (override with LLMTRIAGE_REDIS_PORT) without persistence, and waits for PONG.
# Idempotent: a server already answering on the port is reused.
# Stop it with: redis-cli -p 6391 shutdown nosave
#
# Safe to source: the work runs in a subshell, so the caller's shell options are untouched.

LLMTRIAGE_REDIS_PORT="${LLMTRIAGE_REDIS_PORT:-6391}"

if ! (
    set -euo pipefail
    port="$LLMTRIAGE_REDIS_PORT"
    pong() { [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; }

    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
    fi

    if ! pong; then
        dir="$(mktemp -d -t llmtriage-redis.XXXXXX)"
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize yes --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
        for _ in $(seq 1 100); do
            if pong; then break; fi
            sleep 0.1
        done
        if ! pong; then
            echo "redis-server did not answer on 127.0.0.1:$port" >&2
            cat "$dir/redis.log" >&2 || true
            exit 1
        fi
    fi
); then
    echo "could not start redis-server for the tests" >&2
    return 1 2>/dev/null || exit 1
fi

export LLMTRIAGE_TEST_REDIS_URL="redis://127.0.0.1:${LLMTRIAGE_REDIS_PORT}/0"
echo "redis-server ready: LLMTRIAGE_TEST_REDIS_URL=$LLMTRIAGE_TEST_REDIS_URL"
