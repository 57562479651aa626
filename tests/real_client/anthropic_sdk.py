"""The official Anthropic Python SDK against a real `clawgate serve`.

`clawgate-mock` providers stand behind the gateway: the primary answers 503,
so answers come from the fallback, which calls the `get_weather` tool when
it is offered and answers in text once the tool's result is in. Run with the
directory of the built binaries as the only argument:

    python3 tests/real_client/anthropic_sdk.py target/debug
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading

import anthropic

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
SECRET = "sk-real-client-secret-77"
TOKEN = "gateway-token-for-the-sdk"
TOOL_ARGS = '{"city": "Paris"}'
processes = []
# The thread draining each process's output, to join before reading it whole.
drains = {}


def start(args, pattern, **kwargs):
    """Starts a binary and returns the first match of `pattern` in its output
    (stdout, or stderr for the gateway's log) and the lines read so far."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    processes.append(proc)
    stream = proc.stderr if args[1:2] == ["serve"] else proc.stdout
    lines = []
    for line in stream:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            # Keep draining so the child never blocks on a full pipe.
            drain = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
            drain.start()
            drains[proc] = drain
            return match.group(1), lines
    raise SystemExit(f"{args[0]} exited before it was ready:\n{''.join(lines)}")


def main():
    failing, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "503", "--fail-type", "server_error"],
                       r"listening on (http://\S+)")
    healthy, _ = start([f"{BIN}/clawgate-mock", "--reply", "Sunny in Paris.", "--require-key", SECRET,
                        "--tool-call", f"get_weather={TOOL_ARGS}"],
                       r"listening on (http://\S+)")
    limited, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "429", "--fail-type", "rate_limit_reached_error",
                        "--retry-after", "9"],
                       r"listening on (http://\S+)")
    # An Anthropic provider: its own events reach the SDK.
    native, _ = start([f"{BIN}/clawgate-mock", "--stop-sequence", "END", "--cache-write-tokens", "321",
                       "--cached-tokens", "12", "--redacted-thinking", "opaque-bytes"],
                      r"listening on (http://\S+)")
    overflowing, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "400", "--fail-type", "invalid_request_error",
                            "--fail-message", "Invalid request: Your request exceeded model token limit: 262144 "
                            "(requested: 300000)"],
                           r"listening on (http://\S+)")
    config = {
        "gateway": {"auth": {"token": TOKEN}},
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": failing + "/v1", "apiKey": "${MOCK_KEY}", "models": [{"id": "kimi-for-coding"}]},
            "openrouter": {"baseUrl": healthy + "/v1", "apiKey": "${MOCK_KEY}", "models": [{"id": "moonshotai/kimi-k2.6"}]},
            # A known window: after its overflow the chain skips every target no larger.
            "long": {"baseUrl": overflowing + "/v1", "models": [{"id": "m", "contextWindow": 262144}]},
            "kc": {"baseUrl": native + "/", "api": "anthropic-messages", "models": [{"id": "k2a", "reasoning": True}]},
        }},
        "agents": {"defaults": {
            "model": {"primary": "kimi/kimi-for-coding", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]},
            "models": {"long/m": {"alias": "long"}, "kc/k2a": {"alias": "native"}},
        }},
    }
    # A second gateway whose only provider is rate-limited.
    busy_config = {
        "models": {"mode": "replace", "providers": {"busy": {"baseUrl": limited + "/v1", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "busy/m"}}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        busy_path = os.path.join(tmp, "busy.json")
        with open(busy_path, "w") as f:
            json.dump(busy_config, f)
        busy_url, _ = start([f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text", "--config", busy_path],
                            r"listening on (http://\S+)")
        url, logs = start(
            [f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text", "--config", config_path],
            r"listening on (http://\S+)", env=dict(os.environ, MOCK_KEY=SECRET))
        gateway = processes[-1]

        # The SDK's `api_key` travels as `x-api-key`; its `auth_token` as Bearer.
        client = anthropic.Anthropic(base_url=url, api_key=TOKEN, max_retries=0)
        bearer = anthropic.Anthropic(base_url=url, auth_token=TOKEN, max_retries=0)
        checks = 0

        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "hello"}])
        message = raw.parse()
        assert [b.type for b in message.content] == ["thinking", "text"], message
        assert message.content[1].text == "Sunny in Paris.", message
        assert message.model == "openrouter/moonshotai/kimi-k2.6", message.model
        assert message.stop_reason == "end_turn", message
        assert message.usage.output_tokens == 3, message.usage
        assert raw.headers["x-clawgate-attempts"] == "2"
        checks += 1

        with bearer.messages.stream(model="default", max_tokens=256,
                                    messages=[{"role": "user", "content": "hello"}]) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text == "Sunny in Paris.", text
        assert final.content[0].type == "thinking" and final.content[0].thinking, final
        assert final.usage.output_tokens == 3, final.usage
        checks += 1

        # A tool round trip, streamed: the SDK assembles the input from the
        # `input_json_delta` pieces.
        tools = [{"name": "get_weather", "description": "The weather in a city",
                  "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
        question = {"role": "user", "content": "Weather in Paris?"}
        with client.messages.stream(model="default", max_tokens=256, tools=tools,
                                    messages=[question]) as stream:
            call_message = stream.get_final_message()
        assert call_message.stop_reason == "tool_use", call_message
        call = [b for b in call_message.content if b.type == "tool_use"][0]
        assert call.name == "get_weather" and call.input == {"city": "Paris"}, call
        assert re.fullmatch(r"[A-Za-z0-9_-]+", call.id), call.id
        answer = client.messages.create(model="default", max_tokens=256, tools=tools, messages=[
            question,
            {"role": "assistant", "content": call_message.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ])
        assert answer.content[-1].text == "Sunny in Paris.", answer
        assert answer.stop_reason == "end_turn", answer
        checks += 1

        try:
            client.messages.create(model="nope/none", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            raise AssertionError("an unknown model must fail")
        except anthropic.NotFoundError as err:
            assert err.body["error"]["type"] == "not_found_error", err.body
        checks += 1

        try:
            anthropic.Anthropic(base_url=busy_url, api_key="any", max_retries=0).messages.create(
                model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            raise AssertionError("a rate-limited chain must fail")
        except anthropic.RateLimitError as err:
            # Every provider rate-limited: 429, Anthropic's rate_limit_error.
            assert err.status_code == 429, err.status_code
            assert err.body["error"]["type"] == "rate_limit_error", err.body
            assert err.response.headers["retry-after"] == "9"
        checks += 1

        try:
            anthropic.Anthropic(base_url=url, api_key="wrong", max_retries=0).messages.create(
                model="default", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            raise AssertionError("a wrong key must fail")
        except anthropic.AuthenticationError as err:
            assert err.body["error"]["type"] == "authentication_error", err.body
        checks += 1

        try:
            client.messages.create(model="long", max_tokens=5, messages=[{"role": "user", "content": "x"}])
            raise AssertionError("a context overflow must fail")
        except anthropic.BadRequestError as err:
            # Worded so that Claude Code compacts and retries.
            assert err.body["error"]["message"] == "prompt is too long: 300000 tokens > 262144", err.body
        checks += 1

        try:
            client.messages.create(model="default", max_tokens=5, messages=[{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}}]}])
            raise AssertionError("a PDF must be refused")
        except anthropic.BadRequestError as err:
            assert "document block" in err.body["error"]["message"], err.body
        checks += 1

        # Over the Anthropic transport the answer is the provider's own: the
        # signature, the redacted block, the stop sequence that matched and
        # the cache writes reach the SDK; the model is the ref. Streamed, its
        # events as they came;
        # Not streamed, the message those events spell.
        ask = dict(model="native", max_tokens=256, stop_sequences=["END"],
                   thinking={"type": "enabled", "budget_tokens": 128},
                   messages=[{"role": "user", "content": "hello"}])
        with client.messages.stream(**ask) as stream:
            streamed = stream.get_final_message()
        for final in [streamed, client.messages.create(**ask)]:
            assert [b.type for b in final.content] == ["redacted_thinking", "thinking", "text"], final
            assert final.content[0].data == "opaque-bytes", final
            assert final.content[1].signature == "mock-signature", final
            assert final.stop_reason == "stop_sequence" and final.stop_sequence == "END", final
            assert final.usage.cache_creation_input_tokens == 321, final.usage
            assert final.usage.cache_read_input_tokens == 12, final.usage
            assert final.model == "kc/k2a", final.model
        checks += 1

        count = client.messages.count_tokens(model="claude-sonnet-4-5", tools=tools,
                                             messages=[{"role": "user", "content": "hello " * 100}])
        assert 100 < count.input_tokens < 1000, count
        checks += 1

        gateway.terminate()
        gateway.wait(timeout=20)
        # The log is whole only once its pipe is read to the end.
        drains[gateway].join(timeout=20)
        assert not drains[gateway].is_alive(), "the gateway's log did not end"
        all_logs = "".join(logs)
        assert SECRET not in all_logs and TOKEN not in all_logs, "a secret leaked into the logs"
        assert "served by the default chain" in all_logs, all_logs
        checks += 1
    print(f"anthropic-python {anthropic.__version__}: {checks} passed, 0 failed")


try:
    main()
finally:
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
