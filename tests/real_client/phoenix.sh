#!/usr/bin/env bash
# clawgate's OpenTelemetry traces in a real Arize Phoenix (PyPI
# `arize-phoenix`), checked through Phoenix's own API: see phoenix.py.
# Installs Phoenix (PHOENIX_VERSION, default 20.26.1) and the OpenAI and
# Anthropic SDKs into the CI venv (${CLAWGATE_CI_VENV:-/tmp/clawgate-ci-venv})
# and the Codex CLI as codex.sh does; exits non-zero on failure.
#
#   bash tests/real_client/phoenix.sh target/debug
set -euo pipefail
bin=$(cd "${1:-target/debug}" && pwd)
venv=${CLAWGATE_CI_VENV:-/tmp/clawgate-ci-venv}
cache=${CLAWGATE_CODEX_DIR:-${CLAWGATE_CI_CACHE:-$HOME/.cache/clawgate-ci}/codex}
. "$(dirname "$0")/lib.sh"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Phoenix is pinned (PHOENIX_VERSION) like Codex: its span API is read.
"$venv/bin/pip" install -q --disable-pip-version-check \
  "arize-phoenix==${PHOENIX_VERSION:-20.26.1}" openai anthropic
codex=$(install_codex "$cache" "${CODEX_VERSION:-0.169.0}")
# Codex refuses a CODEX_HOME under /tmp for its helper binaries.
mkdir -p "$cache/runs"
"$venv/bin/python" "$(dirname "$0")/phoenix.py" "$bin" "$codex" "$cache/runs"
