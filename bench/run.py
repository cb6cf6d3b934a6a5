"""Benchmark runner: `python -m bench.run --model models/default [--quick] [--only NAME ...]`.

Sections are registered by name in `SECTIONS`; each belongs to a group whose
results go to bench/results/<group>.json. New benchmarks (proxy overhead, the
Redis cache) add a `Section` here and a module beside this one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import (
    asgi,
    cache,
    console_load,
    decision_log,
    http,
    ingress_overhead,
    inprocess,
    machine,
    proxy_overhead,
    report,
)
from bench.core import Context, Section, SectionResult

SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("static", "scoring", inprocess.static_section),
        Section("transformer", "scoring", inprocess.transformer_section),
        Section("threadpool", "scoring", inprocess.threadpool_section),
        Section("asgi", "scoring", asgi.asgi_section),
        Section("http", "scoring", http.http_section),
        Section("cache", "cache", cache.cache_section),
        Section("proxy", "proxy", proxy_overhead.proxy_overhead_section),
        Section("ingress", "proxy", ingress_overhead.ingress_overhead_section),
        Section("decision_log", "decision_log", decision_log.decision_log_section),
        Section("console", "console", console_load.console_load_section),
    )
}

INTRO = Path(__file__).with_name("METHOD.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--quick", action="store_true", help="fewer samples, 3 s load runs")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SECTIONS), help="run just these sections"
    )
    parser.add_argument("--no-save", action="store_true", help="print only; keep results and docs")
    args = parser.parse_args(argv)
    if not (args.model / "manifest.json").is_file():
        print(f"error: no artifact at {args.model}: run `make train` first", file=sys.stderr)
        return 2
    ctx = Context(model=args.model, quick=args.quick, python=sys.executable)
    version = json.loads((args.model / "manifest.json").read_text())["model_version"]
    host = machine.describe()
    print(f"machine: {host}\n")
    by_group: dict[str, dict[str, SectionResult]] = {}
    for name in args.only or list(SECTIONS):
        section = SECTIONS[name]
        result = section.run(ctx)
        print(report.table(result) + "\n", flush=True)
        by_group.setdefault(section.group, {})[name] = result
    if not args.no_save:
        for group, results in by_group.items():
            print(f"saved {report.save(group, host, f'{args.model} ({version})', results)}")
        print(f"wrote {report.write_doc(INTRO.read_text())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
