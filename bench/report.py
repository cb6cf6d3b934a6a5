"""Print result tables, save bench/results/<group>.json, regenerate docs/bench.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core import SectionResult

RESULTS_DIR = Path("bench/results")
DOC = Path("docs/bench.md")


def table(result: SectionResult) -> str:
    if result.skipped:
        return f"{result.title}: skipped ({result.skipped})"
    cells = [[str(row.get(c, "")) for c in result.columns] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(result.columns)]
    lines = [
        result.title,
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines + [f"  note: {n}" for n in result.notes])


def markdown_table(result: SectionResult) -> str:
    if result.skipped:
        return f"_Skipped: {result.skipped}_\n"
    head = "| " + " | ".join(result.columns) + " |"
    rule = "|" + "|".join("---" for _ in result.columns) + "|"
    rows = [
        "| " + " | ".join(str(r.get(c, "")) for c in result.columns) + " |" for r in result.rows
    ]
    notes = "".join(f"- {n}\n" for n in result.notes)
    return "\n".join([head, rule, *rows]) + "\n\n" + notes


def save(
    group: str, machine: dict[str, Any], model: str, results: dict[str, SectionResult]
) -> Path:
    """Merge these sections into bench/results/<group>.json (other sections are kept)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{group}.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"sections": {}}
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for name, result in results.items():
        data["sections"][name] = {
            "title": result.title,
            "columns": result.columns,
            "rows": result.rows,
            "notes": result.notes,
            "skipped": result.skipped,
            "model": model,
            "machine": machine,
            "measured_at": stamp,
        }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def write_doc(intro: str) -> Path:
    """docs/bench.md: the method (intro) and every saved section's latest table."""
    parts = [intro.strip() + "\n"]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        sections = json.loads(path.read_text()).get("sections")
        if sections is None:  # written by another tool (e.g. chaos.json from `make chaos`)
            continue
        parts.append(f"\n## Results: {path.stem}\n")
        for name, s in sections.items():
            m = s["machine"]
            parts.append(
                f"\n### {s['title']} (`--only {name}`)\n\n"
                f"Measured {s['measured_at']} on {m['nproc']} × {m['cpu_model']}, "
                f"Python {m['python']}, "
                f"1-min load average {m['loadavg_1m_at_start']} at start, "
                f"niceness {m.get('nice')}; "
                f"model `{s['model']}`.\n\n"
            )
            parts.append(
                markdown_table(
                    SectionResult(s["title"], s["columns"], s["rows"], s["notes"], s["skipped"])
                )
            )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("".join(parts))
    return DOC
