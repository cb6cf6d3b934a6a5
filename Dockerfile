# syntax=docker/dockerfile:1
# llmtriage serving image: the scoring service and routing proxy (`llmtriage serve`).
#
#   make train                                   # optional: writes models/default, baked in below
#   docker build -t llmtriage:0.1.0 .
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY llmtriage:0.1.0
#
# The artifact is read from /models/default (LLMTRIAGE_MODEL). It is copied from the build
# context when models/default exists there; otherwise mount one at that path:
#   docker run --rm -p 8080:8080 -v "$PWD/models/default:/models/default:ro" llmtriage:0.1.0
# Only the `serve` extra is installed: no torch, scikit-learn or other training dependency.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: a virtual environment with llmtriage and its `serve` extra -----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Everything pyproject.toml names: the readme, both package folders (the training package
# is a few pure-Python modules; its torch/scikit-learn dependencies stay out).
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY training ./training
RUN /opt/venv/bin/pip install --no-cache-dir -c constraints.txt ".[serve]"
# models/README.md always, models/default when it was built (.dockerignore keeps the rest out).
COPY models /staging/models

# --- runtime: the venv, the artifact, a non-root user -----------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 llmtriage \
    && useradd --system --uid 10001 --gid llmtriage --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin llmtriage
COPY --from=builder /opt/venv /opt/venv
# Root-owned and read-only to the service user.
COPY --from=builder /staging/models /models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    LLMTRIAGE_MODEL=/models/default \
    LLMTRIAGE_HOST=0.0.0.0 \
    LLMTRIAGE_PORT=8080
USER 10001:10001
EXPOSE 8080
# Ready = artifact loaded and self-tested; a 503 (or no answer) fails the check.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LLMTRIAGE_PORT', '8080') + '/readyz', timeout=2)"]
ENTRYPOINT ["llmtriage"]
CMD ["serve"]
