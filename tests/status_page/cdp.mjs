// Loads clawgate's status page in a real headless Chromium over the
// DevTools protocol (no library: Node's WebSocket), prints what the page
// shows as JSON, and saves a screenshot.
//
//   node cdp.mjs CHROMIUM URL AUTHORIZATION SCREENSHOT.png
//
// The browser starts with a fresh profile and without anything that talks
// to the network by itself; it sends the Authorization header the way a
// user's browser does after the Basic prompt.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chromium, url, authorization, screenshot] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "clawgate-chromium-"));
const browser = spawn(
  chromium,
  [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
    "--remote-debugging-port=0",
    "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
let browserLog = "";
browser.stderr.on("data", (d) => (browserLog += d));

// Chromium's helper processes may still write into the profile for a
// moment after the browser process has exited: the removal is retried, and
// a profile left behind in the temporary directory is reported, not fatal
// (what the page showed is already out).
function removeProfile() {
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  } catch (error) {
    console.error(`cdp.mjs: could not remove ${profile}: ${error.message}`);
  }
}

const fail = (message) => {
  console.error(`cdp.mjs: ${message}\n--- chromium\n${browserLog}`);
  browser.kill("SIGKILL");
  removeProfile();
  process.exit(1);
};
const deadline = setTimeout(() => fail("timed out after 60 s"), 60_000);

// Chromium writes its port into the profile once it listens.
async function devtoolsPort() {
  const file = join(profile, "DevToolsActivePort");
  for (let i = 0; i < 300; i++) {
    if (existsSync(file)) {
      const [port] = readFileSync(file, "utf8").split("\n");
      if (port) return port;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail("Chromium did not open its DevTools port");
}

const port = await devtoolsPort();
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const page = targets.find((t) => t.type === "page");
if (!page) fail("no page target");
const socket = new WebSocket(page.webSocketDebuggerUrl);
await new Promise((resolve, reject) => {
  socket.onopen = resolve;
  socket.onerror = reject;
});
let nextId = 1;
const pending = new Map();
const waiters = [];
socket.onmessage = (message) => {
  const data = JSON.parse(message.data);
  if (data.id && pending.has(data.id)) {
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    data.error ? reject(new Error(JSON.stringify(data.error))) : resolve(data.result);
  } else if (data.method) {
    for (const w of waiters.filter((w) => w.method === data.method)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(data.params);
    }
  }
};
const send = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params }));
  });
const event = (method) => new Promise((resolve) => waiters.push({ method, resolve }));

await send("Page.enable");
await send("Network.enable");
if (authorization) {
  await send("Network.setExtraHTTPHeaders", { headers: { Authorization: authorization } });
}
await send("Emulation.setDeviceMetricsOverride", {
  width: 1200,
  height: 1000,
  deviceScaleFactor: 1,
  mobile: false,
});
const response = event("Network.responseReceived");
const loaded = event("Page.loadEventFired");
await send("Page.navigate", { url });
const { response: head } = await response;
await loaded;

const { result } = await send("Runtime.evaluate", {
  returnByValue: true,
  expression: `(() => {
    const value = (id) => document.getElementById(id)?.dataset.value ?? null;
    return {
      title: document.title,
      spendToday: value("spend-today"),
      requestsToday: value("requests-today"),
      requestsLastHour: value("requests-per-minute"),
      fallbacksLastHour: value("fallbacks-per-minute"),
      p50: value("p50"),
      p99: value("p99"),
      chain: [...document.querySelectorAll("#chain tr[data-target]")].map((r) => ({
        target: r.dataset.target,
        state: r.querySelector(".badge").textContent,
      })),
      budgets: [...document.querySelectorAll("#budgets td[data-usd]")].map((c) => Number(c.dataset.usd)),
      quotas: [...document.querySelectorAll("#quotas tr[data-provider]")].map((r) => ({
        provider: r.dataset.provider,
        window: r.dataset.window,
        state: r.dataset.state,
        used: r.querySelector("td[data-used]")?.dataset.used ?? null,
        limit: r.querySelector("td[data-used]")?.dataset.limit ?? null,
        resets: r.cells[5]?.textContent ?? null,
      })),
      sessions: [...document.querySelectorAll("#sessions tr[data-session]")].map((r) => ({
        session: r.dataset.session,
        turns: Number(r.dataset.turns),
        usd: Number(r.querySelector("td[data-usd]").dataset.usd),
      })),
      bars: [...document.querySelectorAll("#spend-chart rect.spend")].map((b) => ({
        day: b.dataset.day,
        usd: Number(b.dataset.usd),
        height: Number(b.getAttribute("height")),
      })),
      scripts: document.scripts.length,
      refresh: document.querySelector('meta[http-equiv="refresh"]')?.content ?? null,
      width: document.documentElement.scrollWidth,
      height: document.documentElement.scrollHeight,
    };
  })()`,
});
const shown = result.value;
shown.status = head.status;
shown.csp = head.headers["content-security-policy"] ?? head.headers["Content-Security-Policy"] ?? null;

// The whole page, not just the viewport.
await send("Emulation.setDeviceMetricsOverride", {
  width: 1200,
  height: Math.min(shown.height, 4000),
  deviceScaleFactor: 1,
  mobile: false,
});
const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
writeFileSync(screenshot, Buffer.from(shot.data, "base64"));

console.log(JSON.stringify(shown));
clearTimeout(deadline);
socket.close();
browser.kill("SIGTERM");
await new Promise((r) => browser.once("exit", r));
removeProfile();
