// The Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`) against a real
// `clawgate serve`: streamText with a tool, two steps. The gateway's
// primary (a `clawgate-mock`) answers 503, so the fallback streams a tool
// call in pieces; the SDK runs the tool and streams the final text. Run by
// tests/real_client/ai_sdk.sh, which installs the packages and copies this
// file next to them. Arguments: the gateway's URL and the fallback's record.
import { readFileSync } from "node:fs";
import { streamText, tool, jsonSchema, stepCountIs } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";

const [gateway, record] = process.argv.slice(2);
const fail = (what) => {
  console.error(`ai_sdk: ${what}`);
  process.exit(1);
};

const clawgate = createOpenAICompatible({
  name: "clawgate",
  baseURL: `${gateway}/v1`,
  apiKey: "unused",
  includeUsage: true,
});
let ran = null;
const result = streamText({
  model: clawgate.chatModel("default"),
  prompt: "What is the weather in Paris?",
  tools: {
    get_weather: tool({
      description: "The weather in a city",
      inputSchema: jsonSchema({
        type: "object",
        properties: { city: { type: "string" } },
        required: ["city"],
      }),
      execute: async ({ city }) => {
        ran = city;
        return `Sunny in ${city}, 21 C`;
      },
    }),
  },
  stopWhen: stepCountIs(2),
  maxRetries: 0,
});

const parts = [];
for await (const part of result.fullStream) {
  if (part.type === "error") fail(`stream error: ${part.error}`);
  parts.push(part.type);
}
const text = await result.text;
const steps = await result.steps;
if (ran !== "Paris") fail(`the tool ran with ${ran}`);
if (text !== "It is sunny in Paris.") fail(`final text ${JSON.stringify(text)}`);
if (steps.length !== 2) fail(`${steps.length} steps, not 2`);
if (!parts.includes("tool-input-delta")) fail(`the tool call was not streamed: ${parts}`);
if (!(parts.filter((p) => p === "text-delta").length > 1)) fail(`the text was not streamed in pieces: ${parts}`);
const usage = await result.totalUsage;
if (!(usage.inputTokens > 0 && usage.outputTokens > 0)) fail(`no usage: ${JSON.stringify(usage)}`);

const received = readFileSync(record, "utf8").trim().split("\n").map((l) => JSON.parse(l).body);
if (received.length !== 2) fail(`the fallback got ${received.length} requests, not 2`);
if (!received.every((b) => b.stream === true)) fail("not streamed upstream");
const [call, back] = received[1].messages.slice(-2);
if (call.role !== "assistant" || call.tool_calls?.[0]?.function?.name !== "get_weather")
  fail(`the call was not replayed: ${JSON.stringify(call)}`);
if (back.role !== "tool" || back.tool_call_id !== call.tool_calls[0].id || !JSON.stringify(back.content).includes("Sunny in Paris"))
  fail(`the tool result did not come back: ${JSON.stringify(back)}`);
console.log(`ai ${process.env.AI_VERSION}: streamed tool round trip through the fallback passed`);
