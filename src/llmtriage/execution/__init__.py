"""Execution: run a routing Decision through the providers, once.

    Executor(chains, cascader).complete(decision, request) -> Completion   (executor.py)
    Executor.stream(decision, request) -> RoutedStream                      (streaming.py)

deployments.py resolves each configured deployment to a provider at start-up; chains.py
runs a decision's fallback chain (llmtriage.fallback) whole or as a stream; cascade.py
runs the cheap tier first and escalates when the confidence check doubts its answer.
"""

from __future__ import annotations

from llmtriage.execution.cascade import Cascader, TierCalls, load_confidence
from llmtriage.execution.chains import Chains, build_chain
from llmtriage.execution.deployments import ResolvedDeployment, resolve_deployments
from llmtriage.execution.executor import Executor
from llmtriage.execution.served import CascadeInfo, Completion, Served
from llmtriage.execution.streaming import RoutedStream, StreamNotResumed

__all__ = [
    "CascadeInfo",
    "Cascader",
    "Chains",
    "Completion",
    "Executor",
    "ResolvedDeployment",
    "RoutedStream",
    "Served",
    "StreamNotResumed",
    "TierCalls",
    "build_chain",
    "load_confidence",
    "resolve_deployments",
]
