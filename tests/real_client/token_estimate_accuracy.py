"""How close `count_tokens`' estimate comes to real tokenizers.

Not a CI step: a measurement whose table is in docs/claude-code.md. The rule
is clawgate's (`src/translate/token_estimate.rs`): one token per 4 ASCII
bytes, rounded up, one per other character. The references are offline
tokenizers from PyPI: `bpe-openai` (OpenAI's o200k and cl100k tables) and the
legacy Claude tokenizer bundled with `anthropic==0.34.2` (needs
`httpx<0.28`). Optionally pass a recorded Claude Code request body (JSON) to
measure its system prompt and tool definitions too:

    python3 tests/real_client/token_estimate_accuracy.py [request.json]
"""

import glob
import json
import math
import os
import sys

import anthropic
import bpe_openai

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def estimate(text):
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def main():
    corpora = {}
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            request = json.load(f)
        corpora["Claude Code system prompt"] = "\n\n".join(
            b["text"] for b in request["system"] if not b["text"].startswith("x-anthropic-billing-header:"))
        corpora["Claude Code tool definitions (JSON)"] = json.dumps(request["tools"])
    sources = sorted(glob.glob(os.path.join(ROOT, "src", "**", "*.rs"), recursive=True))
    corpora["Rust source (src/**/*.rs)"] = "".join(open(p).read() for p in sources)
    corpora["English prose (docs/*.md)"] = "".join(
        open(p).read() for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))))
    corpora["Chinese prose"] = (
        "网关在本地运行，把请求按顺序发给多个模型提供方。当第一个提供方失败时，它会自动尝试下一个，"
        "并把错误信息整理成客户端能理解的格式。用户只需要在一个地方保存密钥，就可以在编辑器和命令行里同时使用这些模型。") * 20
    o200k = bpe_openai.get_encoding("o200k_base")
    cl100k = bpe_openai.get_encoding("cl100k_base")
    claude = anthropic.Anthropic(api_key="unused")
    print("| text | bytes | estimate | o200k | cl100k | Claude (legacy) | estimate / o200k | estimate / Claude |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, text in corpora.items():
        e, a, b, c = estimate(text), len(o200k.encode(text)), len(cl100k.encode(text)), claude.count_tokens(text)
        print(f"| {name} | {len(text.encode()):,} | {e:,} | {a:,} | {b:,} | {c:,} | {e / a:.2f} | {e / c:.2f} |")


main()
