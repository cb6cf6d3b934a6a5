"""A real redis-server for tests: free loopback port, kill / pause / restart on the same port.

Reuse the fixtures from another test folder's conftest.py with:

    from tests.redis_server import redis_server, redis_url  # noqa: F401

`redis_url` (session): LLMTRIAGE_TEST_REDIS_URL when set (CI: .ci/redis.sh), else a
redis-server started here; skips when neither exists. `redis_server` (per test): always a
private process the test may kill, pause or restart, so chaos never touches shared state.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

REDIS_URL_ENV = "LLMTRIAGE_TEST_REDIS_URL"
NO_REDIS_REASON = (
    f"no Redis for tests: set {REDIS_URL_ENV} (see .ci/redis.sh) "
    "or install redis-server (apt-get install redis-server)"
)


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process without persistence; `port` stays fixed across restarts."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str | None = None) -> None:
        found = binary or redis_binary()
        if found is None:
            raise RuntimeError(NO_REDIS_REASON)
        self.binary = found
        self.workdir = workdir
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        self._close_log()
        self._log = (self.workdir / "redis.log").open("ab")
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self._pong():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: as abrupt as a crash or a lost node."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._close_log()

    def stop(self) -> None:
        """Graceful shutdown (resumes a paused server first so it can exit)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self.kill()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.kill()
        self.start()

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis shared by the whole session (tests must use their own key prefixes)."""
    external = os.environ.get(REDIS_URL_ENV)
    if external:
        yield external
        return
    if redis_binary() is None:
        pytest.skip(NO_REDIS_REASON)
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server this test may kill, pause and restart."""
    if redis_binary() is None:
        pytest.skip(NO_REDIS_REASON.replace(f"set {REDIS_URL_ENV} (see .ci/redis.sh) or ", ""))
    with RedisServer(tmp_path) as server:
        yield server
