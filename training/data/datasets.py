"""Fetch the pinned upstream data files listed in data/manifest.json (`make data`).

Each manifest entry names a local relative `path`, the upstream raw `url`, its
`sha256` and size. Files are copied from a mirror folder (env LLMTRIAGE_DATA_MIRROR,
laid out like the manifest paths) when one is given, else downloaded. Every file is
checked against its sha256 before it appears under its final name: it is written to a
temporary name beside the target and renamed only when the checksum matches, so an
interrupted or corrupt fetch never leaves a bad file where loaders would read it.

    python -m llmtriage_train.data.datasets materialise [--dest DIR] [--manifest FILE]
    python -m llmtriage_train.data.datasets verify [--dest DIR] [--manifest FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = REPO_ROOT / "data" / "manifest.json"
DEFAULT_DEST = REPO_ROOT / "data" / "raw"
MIRROR_ENV = "LLMTRIAGE_DATA_MIRROR"
DATA_DIR_ENV = "LLMTRIAGE_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class DataError(Exception):
    """A data file that cannot be fetched or trusted; the message says what to do."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    url: str
    sha256: str
    bytes: int
    license: str


def data_root() -> Path:
    """The folder holding the materialised files: $LLMTRIAGE_DATA_DIR, else <repo>/data/raw."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else DEFAULT_DEST


def mirror_from_env() -> Path | None:
    """The mirror folder named by $LLMTRIAGE_DATA_MIRROR, or None when unset/empty."""
    env = os.environ.get(MIRROR_ENV)
    return Path(env) if env else None


def read_manifest(manifest: Path) -> list[ManifestEntry]:
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read manifest {manifest}: {exc}") from exc
    entries: list[ManifestEntry] = []
    for i, raw in enumerate(doc.get("files", []) if isinstance(doc, dict) else []):
        try:
            entry = ManifestEntry(
                path=str(raw["path"]),
                url=str(raw["url"]),
                sha256=str(raw["sha256"]).lower(),
                bytes=int(raw["bytes"]),
                license=str(raw["license"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"manifest {manifest}: entry {i} is malformed ({exc})") from exc
        # Paths come from a file we commit, but never let one escape the destination.
        parts = Path(entry.path).parts
        if Path(entry.path).is_absolute() or ".." in parts or not parts:
            raise DataError(f"manifest {manifest}: unsafe path {entry.path!r} in entry {i}")
        entries.append(entry)
    if not entries:
        raise DataError(f"manifest {manifest} lists no files (expected a 'files' list)")
    return entries


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _copy_stream(src: IO[bytes], dst: IO[bytes], limit: int) -> str:
    """Copy src to dst and return the sha256; stop early past `limit` bytes (wrong file)."""
    h = hashlib.sha256()
    total = 0
    for chunk in iter(lambda: src.read(_CHUNK), b""):
        total += len(chunk)
        if total > limit:
            break
        h.update(chunk)
        dst.write(chunk)
    return h.hexdigest()


def _open_source(entry: ManifestEntry, mirror: Path | None, timeout: float) -> IO[bytes]:
    if mirror is not None:
        src = mirror / entry.path
        if not src.is_file():
            raise DataError(
                f"{entry.path}: not found in mirror {mirror} ({MIRROR_ENV}); fix the mirror "
                f"or unset {MIRROR_ENV} to download it from {entry.url}"
            )
        return src.open("rb")
    try:
        return urllib.request.urlopen(entry.url, timeout=timeout)  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(
            f"{entry.path}: download from {entry.url} failed ({exc}); check the network "
            f"or set {MIRROR_ENV} to a folder holding a copy of the data"
        ) from exc


def _fetch(entry: ManifestEntry, target: Path, mirror: Path | None, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with _open_source(entry, mirror, timeout) as src:
                    digest = _copy_stream(src, out, entry.bytes)
            except (OSError, TimeoutError) as exc:  # a read that dies half-way
                raise DataError(
                    f"{entry.path}: reading from {mirror or entry.url} failed ({exc}); "
                    "run `make data` again"
                ) from exc
        if digest != entry.sha256:
            where = f"mirror {mirror}" if mirror is not None else entry.url
            raise DataError(
                f"{entry.path}: checksum mismatch (got sha256 {digest[:12]}…, manifest says "
                f"{entry.sha256[:12]}…) from {where}; replace that copy with the pinned "
                "upstream file, or fix data/manifest.json if the pin changed on purpose"
            )
        tmp.chmod(0o644)  # mkstemp makes 0600; data files are ordinary readable files
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def materialise(
    dest: Path = DEFAULT_DEST,
    *,
    mirror: Path | None,
    manifest: Path = DEFAULT_MANIFEST,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    log: Callable[[str, str], None] | None = None,
) -> list[Path]:
    """Copy (from `mirror`) or download every manifest file into `dest`, checked by sha256.

    Files already present with the right checksum are left alone. Returns the local paths
    in manifest order. `log(status, path)` is told "present", "copied" or "downloaded".
    Raises DataError naming the file on a missing mirror file, failed download or
    checksum mismatch; the bad copy is removed.
    """
    paths: list[Path] = []
    for entry in read_manifest(manifest):
        target = dest / entry.path
        if target.is_file():
            if sha256_file(target) == entry.sha256:
                paths.append(target)
                if log:
                    log("present", entry.path)
                continue
            target.unlink()  # stale or corrupt: never leave it for loaders to read
        _fetch(entry, target, mirror, timeout)
        paths.append(target)
        if log:
            log("copied" if mirror is not None else "downloaded", entry.path)
    return paths


def verify(dest: Path = DEFAULT_DEST, *, manifest: Path = DEFAULT_MANIFEST) -> list[Path]:
    """Check every manifest file under `dest`; raise DataError listing what is wrong."""
    problems: list[str] = []
    paths: list[Path] = []
    for entry in read_manifest(manifest):
        target = dest / entry.path
        if not target.is_file():
            problems.append(f"{entry.path} missing")
        elif sha256_file(target) != entry.sha256:
            problems.append(f"{entry.path} checksum mismatch")
        paths.append(target)
    if problems:
        shown = "; ".join(problems[:3]) + ("; …" if len(problems) > 3 else "")
        raise DataError(
            f"{len(problems)} of {len(paths)} data files under {dest} are bad ({shown}); "
            "run `make data`"
        )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmtriage_train.data.datasets")
    parser.add_argument("command", choices=["materialise", "verify"])
    parser.add_argument("--dest", type=Path, default=None, help="default: data/raw")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    args = parser.parse_args(argv)
    dest: Path = args.dest if args.dest is not None else data_root()
    try:
        if args.command == "verify":
            paths = verify(dest, manifest=args.manifest)
            print(f"ok: {len(paths)} files under {dest} match {args.manifest.name}")
            return 0
        mirror = mirror_from_env()
        counts: dict[str, int] = {}

        def log(status: str, path: str) -> None:
            counts[status] = counts.get(status, 0) + 1
            if status != "present":  # only report work done; the summary covers the rest
                print(f"{status:<10} {path}", flush=True)

        paths = materialise(dest, mirror=mirror, manifest=args.manifest, log=log)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        source = f"mirror {mirror}" if mirror is not None else "upstream URLs"
        print(f"ok: {len(paths)} files in {dest} ({summary}; source: {source})")
        return 0
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
