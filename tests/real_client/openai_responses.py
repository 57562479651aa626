"""The official OpenAI Python SDK's Responses API against a real `clawgate serve`.

The primary `clawgate-mock` answers 503, so every answer must come from the
fallback, which records what it received. A third mock calls a tool, and a
fourth breaks its stream after the start. Checks `responses.create` (plain,
with reasoning, with a JSON schema), `responses.stream` and its final
response, a function-call round trip, the SDK's exception classes for an
unknown model and `previous_response_id`, and `response.failed` for a stream
broken after its start. Run with the directory of the built binaries:

    python3 tests/real_client/openai_responses.py target/debug
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import openai

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
TOKEN = "responses-gateway-token-19"
processes = []


def start(args, stream_name="stdout", pattern=r"listening on (http://\S+)", **kwargs):
    """Starts a binary and returns the first match of `pattern` in its output."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
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


def check(ok, what, logs=()):
    if not ok:
        raise SystemExit(f"openai_responses.py: {what}\n--- gateway log\n{''.join(logs)}")


def main():
    tmp = tempfile.mkdtemp()
    record = os.path.join(tmp, "fallback.jsonl")
    failing, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "503", "--fail-type", "server_error"])
    healthy, _ = start([f"{BIN}/clawgate-mock", "--reply", "Fallback says hi.", "--record", record])
    tools, _ = start([f"{BIN}/clawgate-mock", "--reply", "It is sunny in Paris.",
                      "--tool-call", 'get_weather={"city":"Paris"}'])
    broken, _ = start([f"{BIN}/clawgate-mock", "--error-after-chunks", "3",
                       "--fail-message", "engine hiccup"])
    config = {
        "gateway": {"auth": {"token": TOKEN}},
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": failing + "/v1", "models": [{"id": "kimi-for-coding"}]},
            "openrouter": {"baseUrl": healthy + "/v1", "models": [{"id": "moonshotai/kimi-k2.6"}]},
            "tools": {"baseUrl": tools + "/v1", "models": [{"id": "t"}]},
            "broken": {"baseUrl": broken + "/v1", "models": [{"id": "b"}]},
        }},
        "agents": {"defaults": {
            "model": {"primary": "kimi/kimi-for-coding", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]},
            "models": {"tools/t": {"alias": "weather"}, "broken/b": {"alias": "broken"}},
        }},
    }
    config_path = os.path.join(tmp, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    url, logs = start([f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text",
                       "--config", config_path], stream_name="stderr")
    client = openai.OpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0)

    # responses.create, not streamed, through the fallback.
    raw = client.responses.with_raw_response.create(
        model="default", instructions="Be brief.", input="Say hi", max_output_tokens=200,
        reasoning={"effort": "low"}, store=True)
    check(raw.headers["x-clawgate-provider"] == "openrouter", "the fallback did not answer", logs)
    response = raw.parse()
    check(response.output_text == "Fallback says hi.", f"output_text: {response.output_text!r}", logs)
    check(response.status == "completed", f"status {response.status}", logs)
    check(response.output[0].type == "reasoning", f"no reasoning item: {response.output}", logs)
    check(response.usage.input_tokens > 0 and response.usage.output_tokens == 3,
          f"usage: {response.usage}", logs)
    sent = json.loads(open(record).read().splitlines()[-1])["body"]
    check(sent["messages"][0] == {"role": "system", "content": "Be brief."}, f"instructions: {sent}", logs)
    # OpenRouter's rules turn `reasoning_effort` into its own `reasoning`.
    check(sent["max_tokens"] == 200 and sent["reasoning"] == {"effort": "low"}, f"limits: {sent}", logs)
    check("store" not in sent, "store reached the provider", logs)

    # text.format json_schema becomes the chat API's response_format.
    client.responses.create(model="default", input="Give a number", text={"format": {
        "type": "json_schema", "name": "number", "strict": True,
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
                   "additionalProperties": False}}})
    sent = json.loads(open(record).read().splitlines()[-1])["body"]
    check(sent["response_format"]["type"] == "json_schema"
          and sent["response_format"]["json_schema"]["name"] == "number", f"format: {sent}", logs)

    # responses.stream: the SDK's accumulator must accept every event.
    deltas = []
    with client.responses.stream(model="default", input="Say hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    check("".join(deltas) == "Fallback says hi.", f"deltas {deltas}", logs)
    check(final.output_text == "Fallback says hi.", f"final {final.output_text!r}", logs)
    check(final.usage is not None and final.usage.total_tokens > 0, f"final usage {final.usage}", logs)

    # A function-call round trip, streamed.
    tool = {"type": "function", "name": "get_weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}
    history = [{"role": "user", "content": "Weather in Paris?"}]
    with client.responses.stream(model="weather", input=history, tools=[tool]) as stream:
        first = stream.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    check(len(calls) == 1 and calls[0].name == "get_weather", f"no call: {first.output}", logs)
    check(json.loads(calls[0].arguments) == {"city": "Paris"}, f"arguments {calls[0].arguments}", logs)
    history += [item.model_dump(exclude_none=True) for item in first.output]
    history.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"})
    second = client.responses.create(model="weather", input=history, tools=[tool])
    check(second.output_text == "It is sunny in Paris.", f"after the tool: {second.output_text!r}", logs)

    # Errors: the SDK's exception classes.
    try:
        client.responses.create(model="gpt-unknown", input="hi")
        check(False, "an unknown model answered", logs)
    except openai.NotFoundError as err:
        check("gpt-unknown" in str(err), f"404 message: {err}", logs)
    try:
        client.responses.create(model="default", input="hi", previous_response_id=first.id)
        check(False, "previous_response_id was accepted", logs)
    except openai.BadRequestError as err:
        check("send the whole conversation in `input`" in str(err), f"400 message: {err}", logs)
    try:
        openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).responses.create(
            model="default", input="hi")
        check(False, "a wrong token was accepted", logs)
    except openai.AuthenticationError:
        pass

    # A stream broken after its start ends with response.failed.
    types = []
    with client.responses.stream(model="broken", input="hi") as stream:
        try:
            for event in stream:
                types.append(event.type)
        except openai.APIError:
            pass
    check(types and types[0] == "response.created", f"stream start: {types}", logs)
    check(types[-1] == "response.failed", f"stream end: {types}", logs)

    check(TOKEN not in "".join(logs), "the gateway token leaked into the log", logs)
    # An access line is written when its response body is dropped, which
    # for the last (broken) stream may come a moment after the client saw
    # its end: wait for it, within a bound.
    deadline = time.monotonic() + 10
    while sum("POST /v1/responses" in line for line in logs) < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(sum("POST /v1/responses" in line for line in logs) >= 9, "access lines missing", logs)
    print(f"openai {openai.__version__}: Responses create, stream, tool round trip, errors passed")


try:
    main()
finally:
    for proc in processes:
        proc.kill()
