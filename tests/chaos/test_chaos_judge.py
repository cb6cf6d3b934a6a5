"""The long run's judge: a resumed stream that reads as one answer is complete; a cut
answer that arrives as a 200 with [DONE] is counted as presented as a success."""

from __future__ import annotations

import json

from tests.chaos.loadgen import judge


def stream(*parts: tuple[str, str], trailer: str = "") -> bytes:
    lines = [
        f"data: {json.dumps({'model': m, 'choices': [{'delta': {'content': t}}]})}"
        for m, t in parts
    ]
    return (
        "\n\n".join([*lines, *([trailer] if trailer else []), "data: [DONE]"]) + "\n\n"
    ).encode()


HEADERS = {"x-llmtriage-model": "model-primary"}


def test_a_whole_stream_is_complete() -> None:
    body = stream(("model-primary", "answer"), ("model-primary", " from primary"))
    assert judge(200, HEADERS, body, True) == ("complete", "model-primary", "", False)


def test_a_resumed_stream_is_complete_and_counted() -> None:
    body = stream(
        ("model-primary", "answer from"),
        ("model-healthy", " healthy"),
        trailer=": x-llmtriage-model=model-healthy",
    )
    assert judge(200, HEADERS, body, True) == ("complete", "model-healthy", "", True)


def test_a_cut_answer_ending_in_done_is_bad() -> None:
    verdict, _, detail, _ = judge(200, HEADERS, stream(("model-primary", "answer from")), True)
    assert verdict == "bad" and detail.startswith("incomplete")


def test_an_error_event_is_bad() -> None:
    body = b'data: {"error": {"message": "cut"}}\n\n'
    assert judge(200, HEADERS, body, True)[0] == "bad"


def test_an_upstream_without_proxy_headers_is_judged_by_its_chunks() -> None:
    """The baseline run talks to the healthy fake directly: no x-llmtriage headers."""
    body = stream(("model-healthy", "answer from healthy"))
    assert judge(200, {}, body, True) == ("complete", "model-healthy", "", False)
    whole = json.dumps(
        {"model": "model-healthy", "choices": [{"message": {"content": "answer from healthy"}}]}
    ).encode()
    assert judge(200, {}, whole, False) == ("complete", "model-healthy", "", False)
