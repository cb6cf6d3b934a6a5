"""POST /v1/admin/reload over real HTTP: requests keep succeeding while the model is
swapped, the scores (and the routing classifier) become the new artifact's, and a bad
artifact is a 422 while the old model keeps serving."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_manifest, read_weights, save_artifact
from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.helpers import assert_openai_error
from tests.server.loopback import Loopback

PROMPT = "Prove that every bounded monotone sequence of real numbers converges."
ADMIN = "admin-key-for-reload-tests"


def _variant(base: Path, out: Path, *, version: str, shift: float) -> Path:
    """A copy of `base` whose scores differ (head intercepts moved) under a new version."""
    manifest = read_manifest(base)
    weights = read_weights(base, manifest)
    moved = weights.intercept + np.array([shift, -shift], dtype=np.float32)
    changed = type(weights)(**{**weights.__dict__, "intercept": moved})
    save_artifact(out, manifest.model_copy(update={"model_version": version}), changed)
    return out


@pytest.fixture
def artifacts(tiny_artifact: Path, tmp_path: Path) -> tuple[Path, Path]:
    first = shutil.copytree(tiny_artifact, tmp_path / "first")
    return first, _variant(first, tmp_path / "second", version="tiny-reloaded-2", shift=1.5)


def _score(url: str, client: httpx.Client) -> tuple[int, str | None, float | None]:
    r = client.post(f"{url}/v1/score", json={"prompt": PROMPT})
    if r.status_code != 200:
        return r.status_code, None, None
    body = r.json()
    return 200, body["model_version"], body["score"]


def test_requests_keep_succeeding_during_a_swap_and_then_score_with_the_new_model(
    artifacts: tuple[Path, Path],
) -> None:
    first, second = artifacts
    settings = ServeSettings(model=first)
    old, new = Scorer.load(first), Scorer.load(second)
    assert old.score(PROMPT) != pytest.approx(new.score(PROMPT), abs=1e-3)
    results: list[tuple[int, str | None, float | None]] = []
    stop = threading.Event()
    with Loopback(create_service(settings, env={}), settings) as server:

        def loop() -> None:
            with httpx.Client(timeout=10) as client:
                while not stop.is_set():
                    results.append(_score(server.url, client))

        worker = threading.Thread(target=loop)
        worker.start()
        try:
            while len(results) < 20:  # traffic is flowing before the swap
                threading.Event().wait(0.01)
            before = len(results)
            r = httpx.post(f"{server.url}/v1/admin/reload", json={"model": str(second)}, timeout=30)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["model_version"] == "tiny-reloaded-2"
            assert body["previous_model_version"] == old.model_version and body["routing"]
            swapped = len(results)
            while len(results) < swapped + 20:  # and keeps flowing after it
                threading.Event().wait(0.01)
        finally:
            stop.set()
            worker.join(timeout=10)
        route = httpx.post(
            f"{server.url}/v1/route",
            json={"model": "auto", "messages": [{"role": "user", "content": PROMPT}]},
        ).json()
        ready = httpx.get(f"{server.url}/readyz").json()
    assert {status for status, _, _ in results} == {200}  # not one request failed
    versions = [v for _, v, _ in results]
    assert set(versions[:before]) == {old.model_version}
    assert set(versions) == {old.model_version, "tiny-reloaded-2"}
    # once a request saw the new model, none after it saw the old one
    first_new = versions.index("tiny-reloaded-2")
    assert set(versions[first_new:]) == {"tiny-reloaded-2"}
    assert results[-1][2] == pytest.approx(new.score(PROMPT), abs=1e-6)
    assert results[0][2] == pytest.approx(old.score(PROMPT), abs=1e-6)
    # the routing service scores with the new artifact too
    assert route["model_version"] == "tiny-reloaded-2"
    assert route["score"] == pytest.approx(new.score(PROMPT), abs=1e-6)
    assert ready["model_version"] == "tiny-reloaded-2"


def test_a_bad_artifact_is_a_422_and_the_old_model_keeps_serving(
    artifacts: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = artifacts
    tampered = shutil.copytree(second, tmp_path / "tampered")
    (tampered / "weights.npz").write_bytes(b"not the weights the manifest names")
    settings = ServeSettings(model=first)
    version = Scorer.load(first).model_version
    with Loopback(create_service(settings, env={}), settings) as server:
        for bad in (tmp_path / "missing", tampered):
            r = httpx.post(f"{server.url}/v1/admin/reload", json={"model": str(bad)})
            error = assert_openai_error(r, 422, "model_not_usable")
            assert str(bad) in error["message"]
        assert_openai_error(httpx.post(f"{server.url}/v1/admin/reload", json={"model": 3}), 422)
        with httpx.Client() as client:
            assert _score(server.url, client)[:2] == (200, version)
        # no body: the configured artifact again (e.g. after it was replaced on disk)
        r = httpx.post(f"{server.url}/v1/admin/reload")
        assert r.status_code == 200 and r.json()["model_version"] == version


def test_reload_needs_an_admin_key_when_keys_are_configured(artifacts: tuple[Path, Path]) -> None:
    first, second = artifacts
    digest = hashlib.sha256(ADMIN.encode()).hexdigest()
    settings = ServeSettings(model=first, admin_key_hashes=[digest])
    with Loopback(create_service(settings, env={}), settings) as server:
        url = f"{server.url}/v1/admin/reload"
        assert httpx.post(url, json={"model": str(second)}).status_code == 401
        wrong = {"authorization": "Bearer nope"}
        assert httpx.post(url, json={"model": str(second)}, headers=wrong).status_code == 401
        ok = httpx.post(
            url, json={"model": str(second)}, headers={"authorization": f"Bearer {ADMIN}"}
        )
        assert ok.status_code == 200 and ok.json()["model_version"] == "tiny-reloaded-2"
