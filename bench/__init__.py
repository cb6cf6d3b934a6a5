"""Benchmarks: `python -m bench.run --model models/default [--quick] [--only NAME]`."""
