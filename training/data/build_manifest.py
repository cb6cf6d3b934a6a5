"""Regenerate data/manifest.json from a mirror folder and its SHA256SUMS.

Only needed when a pin changes: the committed manifest is the source of truth for
`make data`. The mirror must hold the files under the local layout below and a
`SHA256SUMS` file (`<sha256>  ./<path>` per line); each checksum is re-computed from the
file, so a stale SHA256SUMS is caught here rather than at `make data` time.

    LLMTRIAGE_DATA_MIRROR=/path/to/mirror python -m llmtriage_train.data.build_manifest
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmtriage_train.data.datasets import DEFAULT_MANIFEST, mirror_from_env, sha256_file

ROUTELLM = ("lm-sys/RouteLLM", "0b64fdafe049e596a3f5657c219329f24af24198", "Apache-2.0")
LLMROUTER = ("ulab-uiuc/LLMRouter", "4e7a796942ce26e9d5f2b93191c7c2585c99c2e3", "MIT")

# local path (mirror layout) -> upstream path, per source; MMLU subjects are added below.
ROUTELLM_FILES = {
    "routellm/mmlu/contaminated_prompts.jsonl": "routellm/evals/mmlu/contaminated_prompts.jsonl",
    "routellm/gsm8k/gsm8k_responses.csv": "routellm/evals/gsm8k/gsm8k_responses.csv",
    "routellm/gsm8k/contaminated_prompts.jsonl": "routellm/evals/gsm8k/contaminated_prompts.jsonl",
    "routellm/mt_bench/question.jsonl": "routellm/evals/mt_bench/question.jsonl",
    "routellm/mt_bench/judgements.jsonl": "routellm/evals/mt_bench/judgements.jsonl",
    "routellm/mt_bench/contaminated_prompts.jsonl": (
        "routellm/evals/mt_bench/contaminated_prompts.jsonl"
    ),
    "routellm/LICENSE": "LICENSE",
}
LLMROUTER_FILES = {
    "llmrouter/train.json": "data/dcrouter_preprocessed/train.json",
    "llmrouter/test.json": "data/dcrouter_preprocessed/test.json",
    "llmrouter/models.json": "data/example_data/llm_candidates/default_llm.json",
    "llmrouter/query_train.jsonl": "data/example_data/query_data/default_query_train.jsonl",
    "llmrouter/query_test.jsonl": "data/example_data/query_data/default_query_test.jsonl",
    "llmrouter/LICENSE": "LICENSE",
}
MMLU_SUBJECTS_EXPECTED = 57


def _sums(mirror: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (mirror / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.strip().removeprefix("./")] = digest.lower()
    return sums


def build(mirror: Path) -> dict[str, Any]:
    subjects = sorted(p.name for p in (mirror / "routellm" / "mmlu").glob("mmlu_*.csv"))
    if len(subjects) != MMLU_SUBJECTS_EXPECTED:
        raise SystemExit(f"expected {MMLU_SUBJECTS_EXPECTED} MMLU files, found {len(subjects)}")
    routellm = {f"routellm/mmlu/{s}": f"routellm/evals/mmlu/responses/{s}" for s in subjects}
    routellm.update(ROUTELLM_FILES)
    sums = _sums(mirror)
    files: list[dict[str, object]] = []
    for (repo, commit, license_), mapping in ((ROUTELLM, routellm), (LLMROUTER, LLMROUTER_FILES)):
        for local, upstream in mapping.items():
            actual = sha256_file(mirror / local)
            if sums.get(local) != actual:
                raise SystemExit(f"{local}: SHA256SUMS says {sums.get(local)}, file is {actual}")
            files.append(
                {
                    "path": local,
                    "url": f"https://raw.githubusercontent.com/{repo}/{commit}/{upstream}",
                    "sha256": actual,
                    "bytes": (mirror / local).stat().st_size,
                    "license": license_,
                }
            )
    return {"version": 1, "files": files}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmtriage_train.data.build_manifest")
    parser.add_argument("--mirror", type=Path, default=None, help="default: $LLMTRIAGE_DATA_MIRROR")
    parser.add_argument("--out", type=Path, default=DEFAULT_MANIFEST)
    args = parser.parse_args(argv)
    mirror = args.mirror or mirror_from_env()
    if mirror is None:
        raise SystemExit("error: pass --mirror or set LLMTRIAGE_DATA_MIRROR")
    doc = build(mirror)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(doc['files'])} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
