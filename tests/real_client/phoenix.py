"""clawgate's traces in a real Arize Phoenix, read back from Phoenix's API.

Starts Phoenix (`phoenix serve`, loopback ports, a temporary working
directory, its own telemetry off), two `clawgate-mock` providers (`down`
answers 503, `up` answers) and `clawgate serve` with `gateway.telemetry`
pointing at Phoenix's OTLP/HTTP endpoint; the project comes from
`OTEL_EXPORTER_OTLP_HEADERS` (`x-project-name`), as an API key would.
Then sends requests through the OpenAI SDK (plain with a client
`traceparent`, and streamed), the Anthropic SDK, Codex (Responses API),
and one along the default chain `down -> up` (a fallback), and checks the
spans Phoenix stored: names, parentage, the GenAI attributes, and the
`traceparent` each provider received. Last, Phoenix is stopped: requests
still succeed at once and the gateway counts the spans it drops.

    python3 tests/real_client/phoenix.py target/debug CODEX_BINARY CODEX_RUN_DIR
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import anthropic
import openai

# The gateways' ledgers go to a directory of the test's own (under .ci/run,
# its own already), never to the user's state directory.
if "CLAWGATE_STATE_DIR" not in os.environ:
    _state = tempfile.TemporaryDirectory(prefix="clawgate-state-")
    os.environ["CLAWGATE_STATE_DIR"] = _state.name

BIN = sys.argv[1]
CODEX = sys.argv[2]
CODEX_DIR = sys.argv[3]
PHOENIX = os.path.join(os.path.dirname(sys.executable), "phoenix")
PROJECT = "clawgate-ci-project"
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
processes = []
directories = []


def fail(message, logs=()):
    for name, text in logs:
        print(f"--- {name}\n{text}", file=sys.stderr)
    raise SystemExit(f"phoenix.py: {message}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, pattern, env=None):
    """Starts a binary and returns the first match of `pattern` in its stdout or stderr."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    processes.append(proc)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
            return match.group(1), proc, lines
    fail(f"{args[0]} exited before it was ready", [(args[0], "".join(lines))])


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def start_phoenix(workdir):
    port, grpc = free_port(), free_port()
    env = dict(os.environ, PHOENIX_WORKING_DIR=workdir, PHOENIX_HOST="127.0.0.1",
               PHOENIX_PORT=str(port), PHOENIX_GRPC_PORT=str(grpc),
               PHOENIX_TELEMETRY_ENABLED="false", DO_NOT_TRACK="1")
    log = open(os.path.join(workdir, "phoenix.log"), "w")
    proc = subprocess.Popen([PHOENIX, "serve"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    processes.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            fail("Phoenix exited", [("phoenix", open(log.name).read())])
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            return url, proc, log.name
        except OSError:
            time.sleep(0.5)
    fail("Phoenix did not start within 180 s", [("phoenix", open(log.name).read())])


def spans(phoenix, count):
    """Phoenix's spans of the project once there are at least `count`, waiting at most 60 s."""
    found = []
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            found = get_json(f"{phoenix}/v1/projects/{PROJECT}/spans?limit=1000")["data"]
        except OSError:
            found = []
        if len(found) >= count:
            return found
        time.sleep(0.5)
    fail(f"Phoenix holds {len(found)} spans, expected {count}", [("spans", json.dumps(found, indent=1))])


def recorded(path):
    return [json.loads(line) for line in open(path)]


def dropped(gateway):
    text = urllib.request.urlopen(f"{gateway}/metrics", timeout=10).read().decode()
    match = re.search(r"^clawgate_telemetry_dropped_spans_total (\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def main():
    started = time.time()
    work = tempfile.mkdtemp(prefix="clawgate-phoenix-")
    directories.append(work)
    phoenix, phoenix_proc, phoenix_log = start_phoenix(work)
    down, _, _ = start([f"{BIN}/clawgate-mock", "--fail-status", "503", "--fail-type", "server_error",
                        "--fail-message", "primary is down", "--record", f"{work}/down.jsonl"],
                       r"listening on (http://\S+)")
    up, _, _ = start([f"{BIN}/clawgate-mock", "--reply", "Hello from the traced mock.",
                      "--record", f"{work}/up.jsonl"], r"listening on (http://\S+)")
    up_port = int(up.rsplit(":", 1)[1])
    config = {
        "gateway": {"telemetry": {"endpoint": phoenix, "serviceName": "clawgate-ci"},
                    "retries": {"perTarget": 0}},
        "models": {"mode": "replace", "providers": {
            "down": {"baseUrl": down + "/v1", "models": [{"id": "d"}]},
            "up": {"baseUrl": up + "/v1", "models": [{"id": "u"}]},
        }},
        "agents": {"defaults": {"model": {"primary": "down/d", "fallbacks": ["up/u"]},
                                "models": {"up/u": {"alias": "plain"}}}},
    }
    with open(f"{work}/config.json", "w") as f:
        json.dump(config, f)
    env = dict(os.environ, OTEL_EXPORTER_OTLP_HEADERS=f"x-project-name={PROJECT}",
               CLAWGATE_STATE_DIR=work)
    gateway, gateway_proc, gateway_log = start(
        [f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text", "--config", f"{work}/config.json"],
        r"listening on (http://\S+)", env)
    logs = lambda: [("gateway", "".join(gateway_log)), ("phoenix", open(phoenix_log).read())]

    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0)
    # 1. OpenAI SDK, with the client's own trace.
    answer = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "Hello"}], max_tokens=64, temperature=0.3,
        extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"})
    assert answer.choices[0].message.content == "Hello from the traced mock.", answer
    # 2. OpenAI SDK, streamed.
    stream = client.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "Stream"}], stream=True,
        stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from the traced mock.", text
    # 3. Anthropic SDK.
    message = anthropic.Anthropic(base_url=gateway, api_key="unused", max_retries=0).messages.create(
        model="plain", max_tokens=100, messages=[{"role": "user", "content": "Hi"}])
    assert [b.text for b in message.content if b.type == "text"] == ["Hello from the traced mock."], message
    # 4. The default chain: `down` answers 503, `up` answers.
    answer = client.chat.completions.create(model="default", messages=[{"role": "user", "content": "Fall over"}])
    assert answer.choices[0].message.content == "Hello from the traced mock.", answer
    # 5. Codex, over the Responses API.
    codex_home = tempfile.mkdtemp(dir=CODEX_DIR)
    directories.append(codex_home)
    os.makedirs(f"{codex_home}/home")
    os.makedirs(f"{codex_home}/project")
    with open(f"{codex_home}/config.toml", "w") as f:
        f.write(f'model_provider = "clawgate"\n\n[model_providers.clawgate]\nname = "clawgate"\n'
                f'base_url = "{gateway}/v1"\nenv_key = "CLAWGATE_TOKEN"\nwire_api = "responses"\n')
    codex = subprocess.run(
        [CODEX, "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
         "-m", "plain", "Say hello"],
        cwd=f"{codex_home}/project", stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": f"{codex_home}/home", "CODEX_HOME": codex_home,
             "CLAWGATE_TOKEN": "unused"})
    if "Hello from the traced mock." not in codex.stdout:
        fail("Codex got no answer", [("codex", codex.stdout + codex.stderr)] + logs())

    # Request spans: 5 (Codex may send more than one request); attempt
    # spans: one each, two for the fallback.
    found = spans(phoenix, 11)
    by_id = {s["context"]["span_id"]: s for s in found}
    requests = [s for s in found if s["name"].startswith("chat ") and "clawgate.front_end" in s["attributes"]]
    attempts = [s for s in found if "clawgate.attempt.number" in s["attributes"]]
    attrs = lambda s: s["attributes"]

    def check(ok, what):
        if not ok:
            fail(what, [("spans", json.dumps(found, indent=1))] + logs())

    def children(span):
        return sorted((a for a in attempts if a["parent_id"] == span["context"]["span_id"]),
                      key=lambda a: attrs(a)["clawgate.attempt.number"])

    def request(front_end, model, streamed):
        matches = [s for s in requests if attrs(s)["clawgate.front_end"] == front_end
                   and attrs(s)["gen_ai.request.model"] == model
                   and ("clawgate.time_to_first_token_s" in attrs(s)) == streamed]
        check(len(matches) >= 1, f"no {front_end} request span for {model} (streamed: {streamed})")
        return matches[0]

    for span in requests:
        a = attrs(span)
        check(span["name"] == f"chat {a['gen_ai.request.model']}", f"request span named {span['name']}")
        check(a["gen_ai.operation.name"] == "chat", f"operation {a}")
        check(a["gen_ai.provider.name"] == "up" and a["gen_ai.response.model"] == "u", f"answered by {a}")
        check(a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0, f"usage {a}")
        check(a["gen_ai.response.finish_reasons"] == ["stop"], f"finish reasons {a}")
        check(a["gen_ai.response.id"], f"no response id {a}")
        check(a["http.response.status_code"] == 200 and "error.type" not in a, f"status {a}")
        check(span["parent_id"] is None or span["context"]["trace_id"] == CLIENT_TRACE, f"a root span with a parent {span}")
        check(len(children(span)) >= 1, f"no attempt span under {span['name']}")
    for attempt in attempts:
        a = attrs(attempt)
        parent = by_id.get(attempt["parent_id"])
        check(parent is not None and parent["context"]["trace_id"] == attempt["context"]["trace_id"],
              f"an attempt span without its request span: {attempt}")
        check(attempt["name"] == f"chat {a['gen_ai.request.model']}", f"attempt span named {attempt['name']}")
        check(a["server.address"] == "127.0.0.1", f"server.address {a}")

    # 1. The client's trace and parent; the provider got the attempt's span.
    plain = request("openai-chat", "plain", False)
    check(plain["context"]["trace_id"] == CLIENT_TRACE and plain["parent_id"] == CLIENT_SPAN,
          f"the traceparent was not followed: {plain}")
    check(attrs(plain)["gen_ai.request.max_tokens"] == 64 and attrs(plain)["gen_ai.request.temperature"] == 0.3,
          f"request settings {attrs(plain)}")
    [attempt] = children(plain)
    check(attrs(attempt)["server.port"] == up_port and attrs(attempt)["gen_ai.provider.name"] == "up",
          f"attempt {attempt}")
    sent = [r["headers"].get("traceparent", "") for r in recorded(f"{work}/up.jsonl")]
    check(f"00-{CLIENT_TRACE}-{attempt['context']['span_id']}-01" in sent,
          f"the provider did not receive the attempt's traceparent: {sent}")
    check(all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", t) for t in sent), f"traceparents {sent}")
    # 2. and 3. Streamed: time to first token; Anthropic's Messages API.
    request("openai-chat", "plain", True)
    request("anthropic-messages", "plain", False)
    # 4. The fallback: two attempts, the first failed.
    fallback = request("openai-chat", "default", False)
    first, second = children(fallback)
    check(attrs(first)["gen_ai.provider.name"] == "down" and attrs(first)["error.type"] == "provider_error"
          and attrs(first)["http.response.status_code"] == 503 and first["status_code"] == "ERROR",
          f"the failed attempt: {first}")
    check(attrs(second)["gen_ai.provider.name"] == "up" and "error.type" not in attrs(second)
          and second["status_code"] != "ERROR", f"the answering attempt: {second}")
    check(attrs(fallback)["clawgate.fallback"] is True and attrs(fallback)["clawgate.chain"] == ["down/d", "up/u"],
          f"the fallback's request span: {attrs(fallback)}")
    # 5. Codex.
    request("openai-responses", "plain", True)

    # Phoenix stops: requests are unaffected, the drops are counted.
    before = dropped(gateway)
    phoenix_proc.terminate()
    phoenix_proc.wait(timeout=30)
    for n in range(3):
        t0 = time.time()
        answer = client.chat.completions.create(model="plain", messages=[{"role": "user", "content": f"Down {n}"}])
        check(answer.choices[0].message.content == "Hello from the traced mock.", f"answer {answer}")
        check(time.time() - t0 < 3, f"a request took {time.time() - t0:.1f}s with Phoenix down")
    deadline = time.time() + 30
    while dropped(gateway) <= before and time.time() < deadline:
        time.sleep(0.5)
    check(dropped(gateway) > before, "no dropped spans counted with Phoenix down")

    gateway_proc.terminate()
    gateway_proc.wait(timeout=20)
    log = "".join(gateway_log)
    check("telemetry: " in log and "spans dropped" in log, "no warning about dropped spans")
    check(PROJECT not in log, "the export header's value reached the log")
    print(f"phoenix: {len(requests)} request spans and {len(attempts)} attempt spans checked "
          f"(OpenAI SDK, Anthropic SDK, Codex, fallback, traceparent), collector down passed "
          f"in {time.time() - started:.0f}s")


try:
    main()
finally:
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
