"""Request shapes Claude Code sends to ANTHROPIC_BASE_URL, written from the public
Messages API documentation: a system prompt in several text blocks with `cache_control`,
two dozen tool definitions (its built-in tools and MCP tools), `metadata.user_id`,
`stream: true`, thinking, `anthropic-beta` flags, its main model's name for the
conversation and its small/fast model's for background requests."""

from __future__ import annotations

from typing import Any

MAIN_MODEL = "claude-sonnet-4-5-20250929"
SMALL_FAST_MODEL = "claude-3-5-haiku-20241022"
BETA = "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
METADATA = {"user_id": "user_0f3a_account_9b2c_session_5d1e"}

_GUIDANCE = (
    "You are an interactive CLI tool that helps users with software engineering tasks. "
    "Use the instructions below and the tools available to you to assist the user. "
    "Be concise, direct and to the point. Prefer editing existing files to creating new "
    "ones. Follow the project's conventions; check that a library is used before using it. "
)
SYSTEM: list[dict[str, Any]] = [
    {
        "type": "text",
        "text": "You are Claude Code, Anthropic's official CLI for Claude.",
        "cache_control": {"type": "ephemeral"},
    },
    {"type": "text", "text": _GUIDANCE * 40, "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "<env>Working directory: /home/dev/app\nPlatform: linux</env>"},
]


def _tool(name: str, about: str, **properties: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {key: {"type": kind} for key, kind in properties.items()},
        "required": list(properties)[:1],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    return {"name": name, "description": about, "input_schema": schema}


TOOLS: list[dict[str, Any]] = [
    _tool("Task", "Launch an agent", description="string", prompt="string", subagent_type="string"),
    _tool("Bash", "Run a bash command", command="string", timeout="number", description="string"),
    _tool("Glob", "Find files by glob pattern", pattern="string", path="string"),
    _tool("Grep", "Search file contents", pattern="string", path="string", glob="string"),
    _tool("LS", "List a directory", path="string"),
    _tool("ExitPlanMode", "Leave plan mode with a plan", plan="string"),
    _tool("Read", "Read a file", file_path="string", offset="number", limit="number"),
    _tool("Edit", "Replace a string", file_path="string", old_string="string", new_string="string"),
    _tool("MultiEdit", "Several edits to one file", file_path="string", edits="array"),
    _tool("Write", "Write a file", file_path="string", content="string"),
    _tool("NotebookEdit", "Edit a notebook cell", notebook_path="string", new_source="string"),
    _tool("WebFetch", "Fetch a URL and read it", url="string", prompt="string"),
    _tool("TodoWrite", "Update the session's todo list", todos="array"),
    _tool("WebSearch", "Search the web", query="string"),
    _tool("BashOutput", "Read a background shell's output", bash_id="string"),
    _tool("KillShell", "Kill a background shell", shell_id="string"),
    _tool("SlashCommand", "Run a slash command", command="string"),
    _tool("mcp__github__create_issue", "Create a GitHub issue", title="string", body="string"),
    _tool("mcp__github__list_pull_requests", "List pull requests", repo="string", state="string"),
    _tool("mcp__github__get_file_contents", "Read a file from GitHub", path="string", ref="string"),
    _tool("mcp__postgres__query", "Run a read-only SQL query", sql="string"),
    _tool("mcp__sentry__get_issue", "Fetch a Sentry issue", issue_id="string"),
    _tool("mcp__linear__search_issues", "Search Linear issues", query="string"),
]  # fmt: skip


def main_request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A turn of the conversation, as Claude Code streams it to its main model."""
    return {
        "model": MAIN_MODEL,
        "max_tokens": 32000,
        "system": SYSTEM,
        "tools": TOOLS,
        "messages": messages,
        "metadata": METADATA,
        "thinking": {"type": "enabled", "budget_tokens": 8000},
        "stream": True,
    }


def title_request(first_prompt: str) -> dict[str, Any]:
    """A background request to the small/fast model (a title for the session)."""
    return {
        "model": SMALL_FAST_MODEL,
        "max_tokens": 512,
        "system": [{"type": "text", "text": "Summarize this coding conversation in under 50 "
                    "characters. Capture the main task. Reply with the title only."}],
        "messages": [{"role": "user", "content": first_prompt}],
        "metadata": METADATA,
        "stream": True,
    }  # fmt: skip


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def tool_call(tool_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": [
            {"type": "text", "text": f"Let me use {name}."},
            {"type": "tool_use", "id": tool_id, "name": name, "input": arguments},
        ],
    }


def tool_result(tool_id: str, output: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": output}],
    }
