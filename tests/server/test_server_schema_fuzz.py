"""Schema fuzzing (Schemathesis) of every operation of the full service over real HTTP.

Bounded (a few examples an operation, no shrinking) so that it runs in `make test-fast`.
Asserts: no 5xx other than the documented upstream 502/503/504 (with no API keys set, a
chat completion answers 503 naming the missing key), every status declared for its
operation, every body of the declared content type and schema (errors included).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from llmtriage.server.app import create_service
from llmtriage.server.settings import ServeSettings
from tests.server.loopback import Loopback

# 529: Anthropic's overloaded_error, what /v1/messages answers for an exhausted chain (503)
UPSTREAM_5XX = {502, 503, 504, 529}
EXAMPLES = 12  # per operation


CLIENT = "fuzz-client-key"
# Open (no key configured), and with client keys and a tight rate limit: requests with
# and without the key then reach the 401, 403 and 429 answers too.
SETUPS = {
    "open": {},
    "keys": {
        "client_key_hashes": [hashlib.sha256(CLIENT.encode()).hexdigest()],
        "rate_limit_rps": 0.5,
        "rate_limit_burst": 5,
    },
}


@pytest.fixture(scope="module", params=sorted(SETUPS))
def server(request: pytest.FixtureRequest, tiny_artifact: Path) -> Iterator[Loopback]:
    config = ServeSettings(model=tiny_artifact, **SETUPS[request.param])
    with Loopback(create_service(config, env={}), config) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(server: Loopback) -> Any:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if status >= 500 and status not in UPSTREAM_5XX:
        raise AssertionError(f"{case.method} {case.path} answered {status}: {response.text}")
    return None


CHECKS = [
    no_undocumented_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_every_operation_keeps_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9  # every documented operation of the service
    for operation in operations:

        @given(case=operation.as_strategy(), auto=st.booleans(), key=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def fuzz(case: Any, auto: bool, key: bool) -> None:
            if auto and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = "auto"  # past the model lookup, into routing
            headers = {"authorization": f"Bearer {CLIENT}"} if key else {}
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
