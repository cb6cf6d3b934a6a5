"""PostgreSQL for tests: the shared CI server (LLMTRIAGE_TEST_POSTGRES_URL, .ci/postgres.sh)
with a fresh schema per test, or a private server a test may kill.

PostgreSQL refuses to run as root; as root the private cluster belongs to the `postgres`
user that the distribution's package creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.redis_server import free_port

POSTGRES_URL_ENV = "LLMTRIAGE_TEST_POSTGRES_URL"
NO_POSTGRES_REASON = (
    f"no PostgreSQL for tests: set {POSTGRES_URL_ENV} (see .ci/postgres.sh, which .ci/run sources)"
)


def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def with_schema(url: str, schema: str) -> str:
    """`url` with every table it touches in `schema` (libpq's options parameter)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """The shared server's URL, confined to a schema made for this test and dropped after."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(NO_POSTGRES_REASON)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield with_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


class PostgresServer:
    """A private cluster on a free loopback port; `kill()` is SIGKILL of the postmaster."""

    def __init__(self, workdir: Path) -> None:
        found = postgres_bin()
        if found is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bin = found
        self.workdir = workdir
        self.port = free_port()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://llmtriage@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        if self._as_owner:
            shutil.chown(self.workdir, "postgres")
        subprocess.run(
            [*self._as_owner, str(self.bin / "initdb"), "-D", str(self.workdir / "data"),
             "-U", "llmtriage", "--auth=trust", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        with (self.workdir / "postgres.log").open("ab") as log:  # the child keeps its copy
            self._proc = subprocess.Popen(
                [*self._as_owner, str(self.bin / "postgres"), "-D", str(self.workdir / "data"),
                 "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.workdir),
                 "-c", "fsync=off"],
                stdout=log, stderr=log,
            )  # fmt: skip
        ready = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        for _ in range(300):
            if subprocess.run(ready, check=False).returncode == 0:
                return
            if self._proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"], check=False)
        raise RuntimeError((self.workdir / "postgres.log").read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (runuser forwards nothing, so by pid file)."""
        pid_file = self.workdir / "data" / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            subprocess.run(["pkill", "-KILL", "-P", str(pid)], check=False)
            os.kill(pid, 9)
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
            self._proc = None


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own (it may be killed): skips without the binaries. Its
    folder is outside pytest's (root-only) tmp tree: the `postgres` user must reach it."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    workdir = Path(tempfile.mkdtemp(prefix="llmtriage-pg-"))
    workdir.chmod(0o755)
    server = PostgresServer(workdir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
