"""LangChain's ChatOpenAI against a real `clawgate serve` in front of a
Kimi-like `clawgate-mock`.

ChatOpenAI drops `reasoning_content` when it replays an assistant tool-call
turn, which Kimi refuses while thinking; clawgate must send Kimi the
reasoning the model actually produced for that turn (kept from its answer),
not `""`. The mock records what it receives. The first turn is streamed
once and whole once; with `gateway.reasoningCache: false` the placeholder
`""` is what arrives. Run with the directory of the built binaries:

    python3 tests/real_client/langchain_reasoning.py target/debug
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading

import langchain_openai
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
REASONING = "The user asks about a.txt; I should read it before I answer."
processes = []


def start(args, stream_name, pattern, env=None):
    """Starts a binary and returns the first match of `pattern` in its output."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    processes.append(proc)
    stream = getattr(proc, stream_name)
    lines = []
    for line in stream:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
            return match.group(1), lines
    raise SystemExit(f"{args[0]} exited before it was ready:\n{''.join(lines)}")


@tool
def read(path: str) -> str:
    """Reads a file."""
    return "hello"


def replayed_reasoning(tmp, cache, stream_first):
    """Runs a LangChain tool round trip; returns what the provider got as
    the replayed turn's reasoning_content."""
    record = os.path.join(tmp, f"record-{cache}-{stream_first}.jsonl")
    mock, _ = start([f"{BIN}/clawgate-mock", "--reasoning", REASONING, "--record", record,
                     "--tool-call", 'read={"path": "a.txt"}'],
                    "stdout", r"listening on (http://\S+)")
    config = {
        "gateway": {"reasoningCache": cache},
        "models": {"mode": "replace", "providers": {"moonshot": {
            "baseUrl": mock + "/v1", "apiKey": "sk-mock", "models": [{"id": "kimi-k2.6"}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    }
    config_path = os.path.join(tmp, f"config-{cache}-{stream_first}.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    url, _ = start([f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text",
                    "--config", config_path], "stderr", r"listening on (http://\S+)")

    llm = ChatOpenAI(base_url=url + "/v1", api_key="unused", model="moonshot/kimi-k2.6",
                     reasoning_effort="high", max_retries=0).bind_tools([read])
    question = HumanMessage("What is in a.txt?")
    if stream_first:
        first = None
        for chunk in llm.stream([question]):
            first = chunk if first is None else first + chunk
    else:
        first = llm.invoke([question])
    assert first.tool_calls and first.tool_calls[0]["name"] == "read", first
    # LangChain keeps no reasoning_content on the message it replays.
    assert "reasoning_content" not in json.dumps(first.additional_kwargs), first.additional_kwargs
    call = first.tool_calls[0]
    answer = llm.invoke([question, first, ToolMessage("hello", tool_call_id=call["id"])])
    assert answer.content == "Hello from clawgate-mock.", answer

    with open(record) as f:
        sent = [json.loads(line)["body"] for line in f]
    assert len(sent) == 2, sent
    replay = sent[1]["messages"][1]
    assert replay["role"] == "assistant" and replay["tool_calls"][0]["id"] == call["id"], replay
    return replay.get("reasoning_content")


def main():
    checks = 0
    with tempfile.TemporaryDirectory() as tmp:
        for stream_first in (True, False):
            got = replayed_reasoning(tmp, True, stream_first)
            assert got == REASONING, f"streamed first turn {stream_first}: {got!r}"
            checks += 1
        got = replayed_reasoning(tmp, False, True)
        assert got == "", f"with the cache off: {got!r}"
        checks += 1
    print(f"langchain-openai {langchain_openai.__version__ if hasattr(langchain_openai, '__version__') else ''}"
          f": {checks} passed, 0 failed")


try:
    main()
finally:
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
