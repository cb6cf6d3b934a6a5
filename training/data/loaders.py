"""Turn the pinned upstream benchmark files into `Outcomes`.

`root` is laid out like the data mirror / `data/raw` (see data/manifest.json):
`routellm/{mmlu,gsm8k,mt_bench}/...` and `llmrouter/...`.

RouteLLM benchmarks (MMLU, GSM8K, MT-Bench) compare one weak and one strong model. Their
rows get a fixed held-out split from `stable_split`, and by default drop the prompts
RouteLLM lists as contaminated (too close to its router training data), matched on
whitespace-stripped text. LLMRouter ships its own train/test files; by default train rows
whose question also appears in test are dropped so the test set stays held out.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from llmtriage_train.data.datasets import DataError, data_root
from llmtriage_train.data.outcomes import Outcomes
from llmtriage_train.data.splits import stable_split

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
ROUTELLM_MODELS = [WEAK, STRONG]


class GSM8KResponse(TypedDict):
    prompt: str
    model: str
    response: str
    correct: bool
    split: str


class MTBenchAnswer(TypedDict):
    question_id: int
    model: str
    turn: int
    score: float  # raw judge score, 1–10
    answer: str | None  # the judged assistant answer, when found in the judge prompt
    category: str
    split: str


# --- file helpers --------------------------------------------------------------------


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"{path} not found; run `make data` (or point the loader at the data)")
    return path


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with _need(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)  # GSM8K responses exceed the 128 KiB default
    with _need(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _bool(value: str, path: Path, rownum: int, column: str) -> bool:
    if value in ("True", "False"):
        return value == "True"
    raise DataError(f"{path}: row {rownum}, column {column!r}: expected True/False, got {value!r}")


def contaminated_prompts(path: Path) -> set[str]:
    """The whitespace-stripped `eval_prompt`s of a RouteLLM contaminated_prompts.jsonl."""
    return {str(r["eval_prompt"]).strip() for r in _jsonl(path)}


def _keep(prompts: Sequence[str], contaminated: set[str], drop: bool) -> list[int]:
    return [i for i, p in enumerate(prompts) if not (drop and p.strip() in contaminated)]


def _routellm_outcomes(
    prompts: list[str], quality: list[list[float]], task: list[str | None], source: str
) -> Outcomes:
    return Outcomes(
        prompts=prompts,
        models=list(ROUTELLM_MODELS),
        quality=np.asarray(quality, dtype=np.float64).reshape(len(prompts), 2),
        source=[source] * len(prompts),
        split=list(stable_split(prompts)),
        task=task,
    )


# --- RouteLLM: MMLU ------------------------------------------------------------------


def load_mmlu(root: Path, *, drop_contaminated: bool = True) -> Outcomes:
    """57 subject CSVs (`prompt` + one True/False column per model); task = subject."""
    folder = root / "routellm" / "mmlu"
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise DataError(f"no mmlu_*.csv files under {folder}; run `make data`")
    contaminated = contaminated_prompts(folder / "contaminated_prompts.jsonl")
    prompts: list[str] = []
    quality: list[list[float]] = []
    task: list[str | None] = []
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        rows = _csv_rows(path)
        for i in _keep([r["prompt"] for r in rows], contaminated, drop_contaminated):
            r = rows[i]
            prompts.append(r["prompt"])
            quality.append([float(_bool(r[m], path, i + 1, m)) for m in ROUTELLM_MODELS])
            task.append(subject)
    return _routellm_outcomes(prompts, quality, task, "mmlu")


# --- RouteLLM: GSM8K -----------------------------------------------------------------


def _gsm8k_rows(root: Path, drop_contaminated: bool) -> tuple[Path, list[dict[str, str]]]:
    folder = root / "routellm" / "gsm8k"
    path = folder / "gsm8k_responses.csv"
    rows = _csv_rows(path)
    contaminated = contaminated_prompts(folder / "contaminated_prompts.jsonl")
    return path, [
        rows[i] for i in _keep([r["prompt"] for r in rows], contaminated, drop_contaminated)
    ]


def load_gsm8k(root: Path, *, drop_contaminated: bool = True) -> Outcomes:
    """GSM8K problems; quality = each model's correctness (the CSV's True/False columns)."""
    path, rows = _gsm8k_rows(root, drop_contaminated)
    prompts = [r["prompt"] for r in rows]
    quality = [
        [float(_bool(r[m], path, i + 1, m)) for m in ROUTELLM_MODELS] for i, r in enumerate(rows)
    ]
    return _routellm_outcomes(prompts, quality, [None] * len(rows), "gsm8k")


def load_gsm8k_responses(root: Path, *, drop_contaminated: bool = True) -> list[GSM8KResponse]:
    """One record per (problem, model): the full response and whether it was correct.

    `split` is the problem's stable split, so a verifier trained on these can respect the
    same held-out problems as the router.
    """
    path, rows = _gsm8k_rows(root, drop_contaminated)
    splits = stable_split([r["prompt"] for r in rows])
    out: list[GSM8KResponse] = []
    for i, r in enumerate(rows):
        for m in ROUTELLM_MODELS:
            out.append(
                GSM8KResponse(
                    prompt=r["prompt"],
                    model=m,
                    response=r[f"{m}_response"],
                    correct=_bool(r[m], path, i + 1, m),
                    split=splits[i],
                )
            )
    return out


# --- RouteLLM: MT-Bench --------------------------------------------------------------

_SINGLE_START = "[The Start of Assistant's Answer]"
_SINGLE_END = "[The End of Assistant's Answer]"
_CONV_START = "<|The Start of Assistant A's Conversation with User|>"
_CONV_END = "<|The End of Assistant A's Conversation with User|>"
_ASSISTANT = "### Assistant A:"


def extract_mt_bench_answer(user_prompt: str) -> str | None:
    """The answer the judge graded, cut out of its prompt.

    Turn-1 judge prompts wrap it in "[The Start/End of Assistant's Answer]"; multi-turn
    ones embed the whole conversation (after any reference answer) and grade the last
    "### Assistant A:" block.
    """
    if _CONV_START in user_prompt:
        conv = user_prompt.split(_CONV_START, 1)[1].split(_CONV_END, 1)[0]
        if _ASSISTANT not in conv:
            return None
        last = conv.rsplit(_ASSISTANT, 1)[1]
        return last.split("\n### User:", 1)[0].strip()
    if _SINGLE_START in user_prompt:
        return user_prompt.split(_SINGLE_START, 1)[1].split(_SINGLE_END, 1)[0].strip()
    return None


def _mt_bench_questions(root: Path, drop_contaminated: bool) -> list[dict[str, Any]]:
    folder = root / "routellm" / "mt_bench"
    questions = list(_jsonl(folder / "question.jsonl"))
    contaminated = contaminated_prompts(folder / "contaminated_prompts.jsonl")
    keep = _keep([q["turns"][0] for q in questions], contaminated, drop_contaminated)
    return [questions[i] for i in keep]


def load_mt_bench_answers(root: Path, *, drop_contaminated: bool = True) -> list[MTBenchAnswer]:
    """Every judgement of a kept question: raw score (−1 = judge failed, skipped) and answer."""
    questions = {q["question_id"]: q for q in _mt_bench_questions(root, drop_contaminated)}
    splits = dict(
        zip(questions, stable_split([q["turns"][0] for q in questions.values()]), strict=True)
    )
    out: list[MTBenchAnswer] = []
    for j in _jsonl(root / "routellm" / "mt_bench" / "judgements.jsonl"):
        qid = j["question_id"]
        if qid not in questions or float(j["score"]) < 1:  # FastChat writes -1 on parse failure
            continue
        out.append(
            MTBenchAnswer(
                question_id=qid,
                model=j["model"],
                turn=int(j["turn"]),
                score=float(j["score"]),
                answer=extract_mt_bench_answer(str(j.get("user_prompt", ""))),
                category=questions[qid]["category"],
                split=splits[qid],
            )
        )
    return out


def load_mt_bench(root: Path, *, drop_contaminated: bool = True) -> Outcomes:
    """Prompt = first turn; quality = mean over both turns of (judge score − 1) / 9.

    A question with no valid judgement for one of the two models is left out.
    """
    questions = _mt_bench_questions(root, drop_contaminated)
    scores: dict[tuple[int, str], list[float]] = {}
    for a in load_mt_bench_answers(root, drop_contaminated=drop_contaminated):
        scores.setdefault((a["question_id"], a["model"]), []).append((a["score"] - 1.0) / 9.0)
    prompts: list[str] = []
    quality: list[list[float]] = []
    task: list[str | None] = []
    for q in questions:
        per_model = [scores.get((q["question_id"], m)) for m in ROUTELLM_MODELS]
        if not all(per_model):
            continue
        prompts.append(q["turns"][0])
        quality.append([float(np.mean(s)) for s in per_model if s])
        task.append(q["category"])
    return _routellm_outcomes(prompts, quality, task, "mt_bench")


# --- LLMRouter -----------------------------------------------------------------------


def _json(path: Path) -> Any:
    with _need(path).open(encoding="utf-8") as fh:
        return json.load(fh)


def _task_names(path: Path) -> dict[str, str]:
    """Question text -> task_name. The query files are NOT row-parallel to train/test.json
    (they hold extra rows, in another order), so rows are matched by text. A few texts
    appear under two tasks (e.g. mmlu and openbook_qa); the first one listed wins."""
    names: dict[str, str] = {}
    for r in _jsonl(path):
        names.setdefault(str(r["query"]), str(r["task_name"]))
    return names


def load_llmrouter(root: Path, *, drop_train_test_overlap: bool = True) -> Outcomes:
    """train.json (split "train") + test.json (split "test"); quality = the `scores` dict."""
    folder = root / "llmrouter"
    parts: list[tuple[str, list[dict[str, Any]]]] = [
        (split, _json(folder / f"{split}.json")) for split in ("train", "test")
    ]
    test_questions = {r["question"] for r in parts[1][1]}
    models = sorted(parts[0][1][0]["scores"]) if parts[0][1] else []
    prompts: list[str] = []
    quality: list[list[float]] = []
    split: list[str | None] = []
    task: list[str | None] = []
    for name, rows in parts:
        tasks = _task_names(folder / f"query_{name}.jsonl")
        for i, r in enumerate(rows):
            if name == "train" and drop_train_test_overlap and r["question"] in test_questions:
                continue  # upstream test repeats some train questions (gpqa, humaneval, mbpp)
            if sorted(r["scores"]) != models:
                raise DataError(
                    f"{folder / name}.json: row {i + 1} scores {sorted(r['scores'])}, "
                    f"expected the models {models}"
                )
            prompts.append(r["question"])
            quality.append([float(r["scores"][m]) for m in models])
            split.append(name)
            task.append(tasks.get(r["question"]))
    return Outcomes(
        prompts=prompts,
        models=models,
        quality=np.asarray(quality, dtype=np.float64).reshape(len(prompts), len(models)),
        source=["llmrouter"] * len(prompts),
        split=split,
        task=task,
    )


def llmrouter_models(root: Path) -> dict[str, dict[str, Any]]:
    """The candidate models (size, input_price, output_price per million tokens, ...)."""
    info = _json(root / "llmrouter" / "models.json")
    if not isinstance(info, dict):
        raise DataError(f"{root / 'llmrouter' / 'models.json'}: expected an object of models")
    return {str(k): dict(v) for k, v in info.items()}


def cheapest_and_strongest(
    outcomes: Outcomes, models_info: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str]:
    """(cheapest, strongest) of `outcomes.models`.

    Cheapest by input + output price, ties to the lower mean quality (the weaker model is
    the more telling cheap end). Strongest by mean quality on the train split (all rows if
    there is none), ties to the lower price. Quality never looks at test rows.
    """
    missing = [m for m in outcomes.models if m not in models_info]
    if missing:
        raise ValueError(f"no price for models {missing}")
    train = np.array([s == "train" for s in outcomes.split])
    rows = outcomes.subset(train) if train.any() else outcomes
    mean = {m: float(rows.column(m).mean()) for m in outcomes.models}
    price = {
        m: float(models_info[m]["input_price"]) + float(models_info[m]["output_price"])
        for m in outcomes.models
    }
    cheapest = min(outcomes.models, key=lambda m: (price[m], mean[m], m))
    strongest = min(outcomes.models, key=lambda m: (-mean[m], price[m], m))
    return cheapest, strongest


# --- registry ------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[Path], Outcomes]] = {
    "mmlu": load_mmlu,
    "gsm8k": load_gsm8k,
    "mt_bench": load_mt_bench,
    "llmrouter": load_llmrouter,
}


def load_benchmark(name: str, root: Path | None = None) -> Outcomes:
    """Load a benchmark by name from `root` (default: the materialised data_root())."""
    try:
        loader = BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None
    return loader(root if root is not None else data_root())
