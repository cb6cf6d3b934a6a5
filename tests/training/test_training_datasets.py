"""`make data`: copying from a mirror or downloading, always checked by sha256."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmtriage_train.data.datasets import (
    DEFAULT_DEST,
    DEFAULT_MANIFEST,
    REPO_ROOT,
    DataError,
    data_root,
    main,
    materialise,
    read_manifest,
    verify,
)

FILES = {
    "routellm/mmlu/mmlu_anatomy.csv": b"prompt,a,b\nq,True,False\n",
    "routellm/LICENSE": b"license text\n",
    "llmrouter/train.json": b'[{"question": "q", "scores": {"a": 1.0}}]\n',
}


def _make_mirror(tmp_path: Path) -> tuple[Path, Path]:
    """A mirror folder with FILES and a manifest whose urls point at file:// copies."""
    mirror = tmp_path / "mirror"
    upstream = tmp_path / "upstream"
    entries = []
    for rel, data in FILES.items():
        for base in (mirror, upstream):
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_bytes(data)
        entries.append(
            {
                "path": rel,
                "url": (upstream / rel).as_uri(),
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "license": "MIT",
            }
        )
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "files": entries}))
    return mirror, manifest


def _all_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_copies_from_mirror_then_skips_present_files(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    dest = tmp_path / "raw"
    statuses: list[tuple[str, str]] = []
    paths = materialise(
        dest, mirror=mirror, manifest=manifest, log=lambda s, p: statuses.append((s, p))
    )
    assert paths == [dest / rel for rel in FILES]
    assert all((dest / rel).read_bytes() == data for rel, data in FILES.items())
    assert {s for s, _ in statuses} == {"copied"}
    # a second run must not need the mirror at all
    (mirror / "routellm" / "LICENSE").unlink()
    statuses.clear()
    materialise(dest, mirror=mirror, manifest=manifest, log=lambda s, p: statuses.append((s, p)))
    assert {s for s, _ in statuses} == {"present"}
    assert verify(dest, manifest=manifest) == paths


def test_corrupt_mirror_file_raises_and_leaves_nothing(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    (mirror / "routellm" / "LICENSE").write_bytes(b"tampered\n")
    dest = tmp_path / "raw"
    with pytest.raises(DataError) as info:
        materialise(dest, mirror=mirror, manifest=manifest)
    assert "routellm/LICENSE" in str(info.value) and "checksum mismatch" in str(info.value)
    # files before it in the manifest are fine; no LICENSE and no temp file is left
    assert _all_files(dest) == {"routellm/mmlu/mmlu_anatomy.csv"}


def test_larger_file_than_pinned_is_rejected(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    (mirror / "routellm" / "LICENSE").write_bytes(FILES["routellm/LICENSE"] * 1000)
    with pytest.raises(DataError, match="routellm/LICENSE: checksum mismatch"):
        materialise(tmp_path / "raw", mirror=mirror, manifest=manifest)


def test_corrupt_existing_file_is_replaced_or_removed(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    dest = tmp_path / "raw"
    materialise(dest, mirror=mirror, manifest=manifest)
    target = dest / "llmrouter" / "train.json"
    target.write_bytes(b"half a fi")
    materialise(dest, mirror=mirror, manifest=manifest)
    assert target.read_bytes() == FILES["llmrouter/train.json"]
    # if it cannot be fetched again, the corrupt copy must still not stay behind
    target.write_bytes(b"half a fi")
    (mirror / "llmrouter" / "train.json").unlink()
    with pytest.raises(DataError):
        materialise(dest, mirror=mirror, manifest=manifest)
    assert not target.exists()


def test_missing_mirror_file_names_file_and_fix(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    (mirror / "llmrouter" / "train.json").unlink()
    with pytest.raises(DataError) as info:
        materialise(tmp_path / "raw", mirror=mirror, manifest=manifest)
    message = str(info.value)
    assert message.startswith("llmrouter/train.json: not found in mirror")
    assert "LLMTRIAGE_DATA_MIRROR" in message
    assert not (tmp_path / "raw" / "llmrouter" / "train.json").exists()


def test_download_without_mirror(tmp_path: Path) -> None:
    _, manifest = _make_mirror(tmp_path)
    dest = tmp_path / "raw"
    statuses: list[str] = []
    materialise(dest, mirror=None, manifest=manifest, log=lambda s, p: statuses.append(s))
    assert statuses == ["downloaded"] * len(FILES)
    assert _all_files(dest) == set(FILES)


def test_failed_download_names_file(tmp_path: Path) -> None:
    _, manifest = _make_mirror(tmp_path)
    (tmp_path / "upstream" / "routellm" / "LICENSE").unlink()
    with pytest.raises(DataError) as info:
        materialise(tmp_path / "raw", mirror=None, manifest=manifest)
    assert str(info.value).startswith("routellm/LICENSE: download from file://")
    assert "LLMTRIAGE_DATA_MIRROR" in str(info.value)
    assert "routellm/LICENSE" not in _all_files(tmp_path / "raw")


def test_verify_reports_missing_and_corrupt(tmp_path: Path) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    dest = tmp_path / "raw"
    materialise(dest, mirror=mirror, manifest=manifest)
    (dest / "routellm" / "LICENSE").write_bytes(b"x")
    (dest / "llmrouter" / "train.json").unlink()
    with pytest.raises(DataError, match=r"2 of 3 data files .*make data"):
        verify(dest, manifest=manifest)


def test_manifest_rejects_paths_that_escape_dest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    entry = {
        "path": "../evil",
        "url": "https://x",
        "sha256": "0" * 64,
        "bytes": 1,
        "license": "MIT",
    }
    manifest.write_text(json.dumps({"files": [entry]}))
    with pytest.raises(DataError, match="unsafe path"):
        read_manifest(manifest)


def test_cli_success_and_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror, manifest = _make_mirror(tmp_path)
    dest = tmp_path / "raw"
    monkeypatch.setenv("LLMTRIAGE_DATA_MIRROR", str(mirror))
    assert main(["materialise", "--dest", str(dest), "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "copied     routellm/LICENSE" in out and out.rstrip().splitlines()[-1].startswith(
        "ok: 3 files"
    )
    assert main(["verify", "--dest", str(dest), "--manifest", str(manifest)]) == 0
    capsys.readouterr()

    (dest / "routellm" / "LICENSE").unlink()
    (mirror / "routellm" / "LICENSE").write_bytes(b"tampered")
    assert main(["materialise", "--dest", str(dest), "--manifest", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: routellm/LICENSE: checksum mismatch")


def test_module_entry_point_exits_2(tmp_path: Path) -> None:
    _, manifest = _make_mirror(tmp_path)
    env = {**os.environ, "LLMTRIAGE_DATA_MIRROR": str(tmp_path / "nowhere")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmtriage_train.data.datasets",
            "materialise",
            "--dest",
            str(tmp_path / "raw"),
            "--manifest",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: routellm/mmlu/mmlu_anatomy.csv: not found in mirror")
    assert proc.stderr.count("\n") == 1


def test_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMTRIAGE_DATA_DIR", raising=False)
    assert data_root() == DEFAULT_DEST == REPO_ROOT / "data" / "raw"
    assert (REPO_ROOT / "pyproject.toml").is_file()
    monkeypatch.setenv("LLMTRIAGE_DATA_DIR", str(tmp_path))
    assert data_root() == tmp_path


def test_committed_manifest_pins_every_file() -> None:
    entries = read_manifest(DEFAULT_MANIFEST)
    paths = [e.path for e in entries]
    assert len(paths) == len(set(paths)) == 81
    assert sum(p.startswith("routerdc/") for p in paths) == 11
    assert sum(re.fullmatch(r"routellm/mmlu/mmlu_\w+\.csv", p) is not None for p in paths) == 57
    assert not any("router_benchmarks" in p for p in paths)
    pins = {
        "routellm/": ("lm-sys/RouteLLM/0b64fdafe049e596a3f5657c219329f24af24198/", "Apache-2.0"),
        "llmrouter/": ("ulab-uiuc/LLMRouter/4e7a796942ce26e9d5f2b93191c7c2585c99c2e3/", "MIT"),
        # no licence file upstream: the manifest says so rather than naming one
        "routerdc/": (
            "shuhao02/RouterDC/0e63989c5bf4363330b8a4616386e3f7f116d9f8/datasets/split2_model7/",
            "none upstream (RouterDC, Chen et al. 2024; see README)",
        ),
    }
    for e in entries:
        prefix, license_ = next(v for k, v in pins.items() if e.path.startswith(k))
        assert e.url.startswith("https://raw.githubusercontent.com/" + prefix), e.url
        assert e.license == license_
        assert re.fullmatch(r"[0-9a-f]{64}", e.sha256) and e.bytes > 0
    urls = {e.path: e.url for e in entries}
    assert urls["routellm/mmlu/mmlu_anatomy.csv"].endswith(
        "/routellm/evals/mmlu/responses/mmlu_anatomy.csv"
    )
    assert urls["llmrouter/models.json"].endswith(
        "/data/example_data/llm_candidates/default_llm.json"
    )
    assert urls["routellm/LICENSE"].endswith("0b64fdafe049e596a3f5657c219329f24af24198/LICENSE")
