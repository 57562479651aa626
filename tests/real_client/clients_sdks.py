"""Three clients, each with its own key, through the official OpenAI and
Anthropic Python SDKs against a real `clawgate serve`: each gets what its
config says (models, a rate limit, a budget), each refusal is the SDK's own
exception, and each key reads its own usage. Run with the directory of the
built binaries as the only argument:

    python3 tests/real_client/clients_sdks.py target/debug
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import anthropic
import openai

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug"
KEYS = {
    "alice": "alice-real-client-key-0123456789",
    "bob": "bob-real-client-key-0123456789ab",
    "ci": "ci-real-client-key-0123456789abc",
}
processes = []


def start(args, pattern, **kwargs):
    """Starts a binary; returns the first match of `pattern` in its output and its lines."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    processes.append(proc)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        match = re.search(pattern, line)
        if match:
            threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
            return match.group(1), lines
    raise SystemExit(f"{args[0]} exited before it was ready:\n{''.join(lines)}")


def expect(error, call):
    try:
        call()
    except error as err:
        return err
    raise AssertionError(f"expected {error.__name__}")


def main():
    mock, _ = start([f"{BIN}/clawgate-mock", "--reply", "Hi from the mock."], r"listening on (http://\S+)")
    priced = [{"id": "m", "cost": {"input": 1000, "output": 2000}}]
    config = {
        "models": {"mode": "replace", "providers": {
            "cheap": {"baseUrl": mock + "/v1", "apiKey": "k", "models": priced},
            "dear": {"baseUrl": mock + "/v1", "apiKey": "k", "models": priced},
        }},
        "agents": {"defaults": {"model": {"primary": "cheap/m", "fallbacks": ["dear/m"]}}},
        "gateway": {"clients": {
            # alice: every model, two requests a minute, an admin key.
            "alice": {"key": "${ALICE_KEY}", "admin": True, "limits": {"requestsPerMinute": 2}},
            # bob: cheap/m only, under a budget one answer spends.
            "bob": {"key": "sha256:" + hashlib.sha256(KEYS["bob"].encode()).hexdigest(),
                    "models": ["cheap/m"], "budgets": {"daily": 0.000001}},
            # ci: dear/m only.
            "ci": {"key": "${CI_KEY}", "models": ["dear/m"]},
        }},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ, ALICE_KEY=KEYS["alice"], CI_KEY=KEYS["ci"], CLAWGATE_STATE_DIR=tmp)
        url, logs = start([f"{BIN}/clawgate", "serve", "--port", "0", "--log-format", "text",
                           "--config", config_path], r"listening on (http://\S+)", env=env)
        oai = {name: openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
               for name, key in KEYS.items()}
        claude = {name: anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)
                  for name, key in KEYS.items()}
        checks = 0

        def chat(name, model):
            return oai[name].chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])

        def message(name, model):
            return claude[name].messages.create(model=model, max_tokens=50,
                                                messages=[{"role": "user", "content": "hi"}])

        # A key of no client: 401 in both SDKs.
        stranger = openai.OpenAI(base_url=url + "/v1", api_key="nobody-0123456789abcdef", max_retries=0)
        expect(openai.AuthenticationError, lambda: stranger.models.list())
        expect(anthropic.AuthenticationError,
               lambda: anthropic.Anthropic(base_url=url, api_key="nobody-0123456789abcdef",
                                           max_retries=0).messages.create(
                   model="cheap/m", max_tokens=5, messages=[{"role": "user", "content": "x"}]))
        checks += 1

        # ci: dear/m answers through both APIs and the Responses API; cheap/m is a 403.
        assert chat("ci", "dear/m").model == "dear/m"
        blocks = message("ci", "dear/m").content
        assert [b.text for b in blocks if b.type == "text"] == ["Hi from the mock."], blocks
        response = oai["ci"].responses.create(model="dear/m", input="hi")
        assert response.output_text == "Hi from the mock.", response
        err = expect(openai.PermissionDeniedError, lambda: chat("ci", "cheap/m"))
        assert "it may use dear/m" in str(err), err
        expect(anthropic.PermissionDeniedError, lambda: message("ci", "cheap/m"))
        assert [m.id for m in oai["ci"].models.list().data] == ["dear/m"]
        checks += 1

        # alice: two requests a minute, then 429 with Retry-After.
        chat("alice", "cheap/m")
        message("alice", "dear/m")
        err = expect(openai.RateLimitError, lambda: chat("alice", "cheap/m"))
        assert int(err.response.headers["retry-after"]) >= 1, err.response.headers
        assert err.body["code"] == "client_rate_limited", err.body
        expect(anthropic.RateLimitError, lambda: message("alice", "cheap/m"))
        checks += 1

        # bob: one answer spends his budget; then 402 naming it.
        chat("bob", "cheap/m")
        for _ in range(100):
            try:
                chat("bob", "cheap/m")
            except openai.APIStatusError as err:
                assert err.status_code == 402, err
                assert err.body["budget"]["client"] == "bob", err.body
                break
        else:
            raise AssertionError("bob's budget never refused")
        checks += 1

        # Each key reads its own usage; alice's admin key everyone's.
        def usage(name, query=""):
            request = urllib.request.Request(f"{url}/v1/usage?by=client{query}",
                                             headers={"Authorization": f"Bearer {KEYS[name]}"})
            with urllib.request.urlopen(request) as answer:
                return json.load(answer)

        # A request's row is written off the request path, once its answer
        # has gone (within the writer's commit gap): the last ones are read
        # back within a bounded wait.
        deadline = time.monotonic() + 5
        while True:
            own = usage("ci")
            everyone = {line["key"] for line in usage("alice")["lines"]}
            if {"alice", "bob", "ci"} <= everyone or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert own["client"] == "ci" and own["total"]["requests"] >= 3, own
        assert {"alice", "bob", "ci"} <= everyone, everyone
        checks += 1

        text = "".join(logs)
        assert not any(key in text for key in KEYS.values()), "a key leaked into the logs"
        checks += 1
    print(f"clients (openai-python {openai.__version__}, anthropic-python {anthropic.__version__}): "
          f"{checks} passed, 0 failed")


try:
    main()
finally:
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
