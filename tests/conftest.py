from __future__ import annotations

from pathlib import Path

import pytest

from tests.artifacts import make_tiny_artifact


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pickle-free artifact with the hashing embedder: loads in milliseconds."""
    return make_tiny_artifact(tmp_path_factory.mktemp("artifact") / "tiny")
