"""LangChain's ChatOpenAI (`langchain-openai`) against a real `clawgate serve`.

One tool round trip with thinking on, through a Moonshot provider (a
`clawgate-mock` in Moonshot's own answer shape): the model asks for a tool,
LangChain runs it and replays the history. LangChain keeps no
`reasoning_content` on the assistant's tool-call message it replays; Kimi
refuses such a history while thinking (400), so the gateway must add it.
Asserts the answer and what the provider received. Run with the directory
of the built binaries as the only argument:

    python3 tests/real_client/langchain_chat.py target/debug
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import version

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
processes = []


def start(args, env=None):
    """Starts a binary and returns the URL it announces."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    processes.append(proc)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
            return match.group(1)
    raise SystemExit(f"{args[0]} exited before it was ready:\n{''.join(lines)}")


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21 C"


def main():
    work = tempfile.mkdtemp()
    record = os.path.join(work, "moonshot.jsonl")
    moonshot = start([f"{BIN}/clawgate-mock", "--style", "moonshot", "--record", record,
                      "--reply", "It is sunny in Paris.",
                      "--tool-call", 'get_weather={"city": "Paris"}'])
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"models": {"providers": {"moonshot": {"baseUrl": moonshot + "/v1"}}},
                   "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}}}, f)
    env = dict(os.environ, MOONSHOT_API_KEY="sk-langchain-ci", OPENROUTER_API_KEY="sk-or-langchain-ci")
    gateway = start([f"{BIN}/clawgate", "serve", "--port", "0", "--config", config], env=env)

    llm = ChatOpenAI(base_url=gateway + "/v1", api_key="unused", model="moonshot/kimi-k2.6",
                     reasoning_effort="high", max_retries=0, timeout=30)
    model = llm.bind_tools([get_weather])
    history = [HumanMessage("What is the weather in Paris?")]
    first = model.invoke(history)
    assert first.tool_calls and first.tool_calls[0]["name"] == "get_weather", first
    assert first.tool_calls[0]["args"] == {"city": "Paris"}, first.tool_calls
    history.append(first)
    for call in first.tool_calls:
        history.append(ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"]))
    final = model.invoke(history)
    assert final.content == "It is sunny in Paris.", final
    assert final.response_metadata.get("model_name") == "moonshot/kimi-k2.6", final.response_metadata

    received = [json.loads(line)["body"] for line in open(record)]
    assert len(received) == 2, f"the provider got {len(received)} requests, not 2"
    for body in received:
        assert body["model"] == "kimi-k2.6", body["model"]
        assert body.get("thinking") == {"type": "enabled"}, body.get("thinking")
        assert "reasoning_effort" not in body, "reasoning_effort reached Moonshot"
    replayed = [m for m in received[1]["messages"] if m["role"] == "assistant"]
    assert len(replayed) == 1 and replayed[0]["tool_calls"][0]["id"] == first.tool_calls[0]["id"], replayed
    # LangChain replays no reasoning_content; Kimi needs one while thinking.
    # The gateway gives back the reasoning the model produced for this call
    # (its reasoning cache; langchain_reasoning.py checks the exact text and
    # the empty fallback with the cache off).
    restored = replayed[0].get("reasoning_content")
    assert isinstance(restored, str) and restored, replayed[0]
    tool_result = received[1]["messages"][-1]
    assert tool_result == {"role": "tool", "tool_call_id": first.tool_calls[0]["id"],
                           "content": "Sunny in Paris, 21 C"}, tool_result
    print(f"langchain-openai {version('langchain-openai')}: tool round trip with thinking, "
          "replayed without reasoning_content, passed")


if __name__ == "__main__":
    try:
        main()
    finally:
        for proc in processes:
            proc.kill()
