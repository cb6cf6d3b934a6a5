from __future__ import annotations

import pytest

from llmtriage_train.data.splits import stable_split


def test_same_prompt_always_lands_on_the_same_side() -> None:
    prompts = [f"question {i}" for i in range(200)]
    first = stable_split(prompts)
    # order and neighbours must not matter: each prompt is hashed on its own
    shuffled = list(reversed(prompts))
    assert dict(zip(shuffled, stable_split(shuffled), strict=True)) == dict(
        zip(prompts, first, strict=True)
    )
    assert stable_split(["question 7"]) == [first[7]]


def test_fraction_is_roughly_respected() -> None:
    sides = stable_split([f"p{i}" for i in range(5000)], test_fraction=0.2)
    share = sides.count("test") / len(sides)
    assert 0.18 < share < 0.22
    assert set(sides) == {"train", "test"}


def test_salt_changes_the_assignment() -> None:
    prompts = [f"p{i}" for i in range(500)]
    assert stable_split(prompts, salt="a") != stable_split(prompts, salt="b")


def test_extreme_fractions_and_validation() -> None:
    prompts = ["a", "b", "c"]
    assert stable_split(prompts, test_fraction=0.0) == ["train"] * 3
    assert stable_split(prompts, test_fraction=1.0) == ["test"] * 3
    with pytest.raises(ValueError, match="test_fraction"):
        stable_split(prompts, test_fraction=1.5)
