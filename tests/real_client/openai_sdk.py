"""The official OpenAI Python SDK against a real `clawgate serve`.

Two `clawgate-mock` providers stand behind the gateway: the primary answers
503, so every answer must come from the fallback. A third is cut mid-stream,
and a fourth speaks Anthropic Messages (`api: "anthropic-messages"`), reached
with a streamed tool call. Run with the directory of
the built binaries as the only argument:

    python3 tests/real_client/openai_sdk.py target/debug
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading

import openai

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
SECRET = "sk-real-client-secret-77"
processes = []


def start(args, stream_name, pattern):
    """Starts a binary and returns the first match of `pattern` in its output."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.append(proc)
    stream = getattr(proc, stream_name)
    lines = []
    for line in stream:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            # Keep draining so the child never blocks on a full pipe.
            threading.Thread(target=lambda: lines.extend(stream), daemon=True).start()
            return match.group(1), lines
    raise SystemExit(f"{args[0]} exited before it was ready:\n{''.join(lines)}")


def main():
    failing, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "503", "--fail-type", "server_error"],
                       "stdout", r"listening on (http://\S+)")
    healthy, _ = start([f"{BIN}/clawgate-mock", "--reply", "Fallback says hi.", "--require-key", SECRET],
                       "stdout", r"listening on (http://\S+)")
    dropping, _ = start([f"{BIN}/clawgate-mock", "--drop-after-chunks", "3"],
                        "stdout", r"listening on (http://\S+)")
    anthropic, _ = start([f"{BIN}/clawgate-mock", "--require-key", SECRET, "--cached-tokens", "5"],
                         "stdout", r"listening on (http://\S+)")
    config = {
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": failing + "/v1", "apiKey": "${MOCK_KEY}", "models": [{"id": "kimi-for-coding"}]},
            "openrouter": {"baseUrl": healthy + "/v1", "apiKey": "${MOCK_KEY}", "models": [{"id": "moonshotai/kimi-k2.6"}]},
            "flaky": {"baseUrl": dropping + "/v1", "models": [{"id": "m"}]},
            "claude-like": {"baseUrl": anthropic + "/", "apiKey": "${MOCK_KEY}", "api": "anthropic-messages",
                            "models": [{"id": "m"}]},
        }},
        "agents": {"defaults": {
            "model": {"primary": "kimi/kimi-for-coding", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]},
            "models": {"flaky/m": {"alias": "flaky"}},
        }},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, MOCK_KEY=SECRET)
        gateway = subprocess.Popen(
            [f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text", "--config", config_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        processes.append(gateway)
        logs = []
        for line in gateway.stderr:
            logs.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                url = match.group(1)
                threading.Thread(target=lambda: logs.extend(gateway.stderr), daemon=True).start()
                break
        else:
            raise SystemExit("clawgate exited before it was ready:\n" + "".join(logs))

        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        checks = 0

        raw = client.chat.completions.with_raw_response.create(
            model="kimi/kimi-for-coding", messages=[{"role": "user", "content": "hello"}])
        completion = raw.parse()
        assert completion.choices[0].message.content == "Fallback says hi.", completion
        assert completion.model == "openrouter/moonshotai/kimi-k2.6", completion.model
        assert raw.headers["x-clawgate-provider"] == "openrouter"
        assert raw.headers["x-clawgate-attempts"] == "2"
        checks += 1

        stream = client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "hello"}],
            stream=True, stream_options={"include_usage": True})
        text, usage = "", None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            if chunk.usage:
                usage = chunk.usage
        assert text == "Fallback says hi.", text
        assert usage is not None and usage.completion_tokens == 3, usage
        checks += 1

        try:
            client.chat.completions.create(model="nope/none", messages=[{"role": "user", "content": "x"}])
            raise AssertionError("an unknown model must fail")
        except openai.NotFoundError as err:
            assert err.body["code"] == "model_not_found", err.body
        checks += 1

        try:
            for _ in client.chat.completions.create(
                    model="flaky", messages=[{"role": "user", "content": "x"}], stream=True):
                pass
            raise AssertionError("a stream cut mid-way must raise, not end cleanly")
        except openai.APIError as err:
            assert "broke off" in str(err), err
        checks += 1

        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
        stream = client.chat.completions.create(
            model="claude-like/m", messages=[{"role": "user", "content": "weather?"}], tools=tools,
            stream=True, stream_options={"include_usage": True})
        calls, finish, usage = {}, None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for call in choice.delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                    entry["id"] = call.id or entry["id"]
                    entry["name"] = (call.function and call.function.name) or entry["name"]
                    entry["arguments"] += (call.function and call.function.arguments) or ""
        assert finish == "tool_calls", finish
        assert len(calls) == 1 and calls[0]["name"] == "get_weather", calls
        assert json.loads(calls[0]["arguments"]) == {"city": "mock"}, calls
        assert usage is not None and usage.prompt_tokens_details.cached_tokens == 5, usage
        checks += 1

        models = client.models.list()
        assert "openrouter/moonshotai/kimi-k2.6" in [m.id for m in models.data]
        checks += 1

        gateway.terminate()
        gateway.wait(timeout=20)
        all_logs = "".join(logs)
        assert SECRET not in all_logs, "the key leaked into the logs"
        assert "attempt failed: kimi/kimi-for-coding (http://" in all_logs, all_logs
        checks += 1
    print(f"openai-python {openai.__version__}: {checks} passed, 0 failed")


try:
    main()
finally:
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
