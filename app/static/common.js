// Shared by the dashboard (/) and the playground (/playground): DOM helpers, the API key,
// requests, the event-stream reader and the line charts. Plain browser JavaScript, no
// libraries, no build step; loaded before the page's own script.
//
// Every request goes through apiFetch(), which adds "Authorization: Bearer <key>" once the
// user has given a key (asked for when the API answers 401; kept in sessionStorage, or in
// localStorage if "remember" is ticked; never put in a URL). Event streams are read with
// fetch() and a small SSE parser rather than EventSource, which cannot send headers.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORAGE = "backprop.apiKey";
const RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) {
    return value.toExponential(2);
  }
  return Number(value.toPrecision(digits)).toString();
}

// ---- API key and requests -------------------------------------------------------------

class AuthError extends Error {}

// The page's key form (#key-form with #api-key, #key-remember, #key-message, and the
// #key-forget button) and what the page does when a key is given, forgotten or needed.
const auth = { key: null, needKey: false, onKey: () => {}, onForget: () => {}, onAsk: () => {} };

function storage(kind) {
  try { return window[kind]; } catch (e) { return null; }  // blocked storage: memory only
}

function loadKey() {
  for (const kind of ["sessionStorage", "localStorage"]) {
    const store = storage(kind);
    const key = store && store.getItem(KEY_STORAGE);
    if (key) return key;
  }
  return null;
}

function saveKey(key, remember) {
  for (const kind of ["sessionStorage", "localStorage"]) {
    const store = storage(kind);
    if (!store) continue;
    store.removeItem(KEY_STORAGE);
    if (key && (kind === "localStorage") === remember) store.setItem(KEY_STORAGE, key);
  }
  auth.key = key;
  auth.needKey = false;
  $("key-forget").hidden = !key;
}

function askForKey(message) {
  auth.needKey = true;
  auth.onAsk();
  $("key-message").textContent = message;
  const form = $("key-form");
  if (form.hidden) {
    form.hidden = false;
    $("api-key").value = "";
    $("api-key").focus();
  }
}

function onKeySubmit(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!/^[\x21-\x7e]+$/.test(key)) {  // a header value: printable ASCII, no spaces
    $("key-message").textContent = "An API key is printable ASCII without spaces.";
    return;
  }
  saveKey(key, $("key-remember").checked);
  $("key-form").hidden = true;
  $("api-key").value = "";
  auth.onKey();
}

// Reads a stored key and wires the key form; call once the page's DOM is loaded.
function setupAuth({ onKey, onForget, onAsk } = {}) {
  if (onKey) auth.onKey = onKey;
  if (onForget) auth.onForget = onForget;
  if (onAsk) auth.onAsk = onAsk;
  auth.key = loadKey();
  $("key-forget").hidden = !auth.key;
  $("key-form").addEventListener("submit", onKeySubmit);
  $("key-forget").addEventListener("click", () => { saveKey(null, false); auth.onForget(); });
}

async function apiFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (auth.key) headers.set("Authorization", `Bearer ${auth.key}`);
  const response = await fetch(url, { ...options, headers });
  if (response.status === 401) {
    askForKey(auth.key ? "The server refused this API key; enter another one."
      : "This server needs an API key.");
    throw new AuthError(`401 ${url}: API key required`);
  }
  return response;
}

// An Error whose message is the API's detail (the API names the field and the problem).
async function failure(response, url) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch (e) { /* keep the status text */ }
  const err = new Error(`${response.status} ${url}: ${detail}`);
  err.status = response.status;
  err.detail = detail;
  return err;
}

async function getJSON(url) {
  const response = await apiFetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw await failure(response, url);
  return response.json();
}

async function postJSON(url, body) {
  const response = await apiFetch(url, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response, url);
  return response.json();
}

// ---- Server-Sent Events over fetch ------------------------------------------------------

// A parser for the text/event-stream format: feed() it decoded text in chunks of any size;
// it calls onEvent(type, data, id) at every blank line that ends an event with data.
// Handles "id:", "event:", "data:" (several join with newlines), "retry:" and ":" comments,
// and CRLF, CR or LF line ends (also a CRLF split across two chunks).
function sseParser(onEvent, onRetry = () => {}) {
  let buffer = "", skipLF = false, type = "", data = [], id = null, lastId = null;
  function line(text) {
    if (text === "") {
      if (id !== null) lastId = id;
      if (data.length) onEvent(type || "message", data.join("\n"), lastId);
      type = ""; data = [];
      return;
    }
    if (text[0] === ":") return;  // comment (keep-alive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) id = value;
    else if (field === "retry" && /^\d+$/.test(value)) onRetry(Number(value));
  }
  return {
    feed(text) {
      if (skipLF && text[0] === "\n") text = text.slice(1);
      buffer += text;
      skipLF = buffer.endsWith("\r");
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      lines.forEach(line);
    },
    get lastEventId() { return lastId; },
  };
}

// Follows an event stream with fetch() (so it carries the API key like every request):
// reconnects after a drop with Last-Event-ID, stops on 204 No Content, on the "end" event,
// on an error status (reported through onError) or when close() is called.
function streamEvents(url, onEvent, onError = () => {}) {
  const controller = new AbortController();
  let closed = false, retry = RETRY_MS, lastId = null, failures = 0;
  const close = () => { closed = true; controller.abort(); };

  async function connect() {
    const headers = { Accept: "text/event-stream" };
    if (lastId !== null) headers["Last-Event-ID"] = lastId;
    const response = await apiFetch(url, { headers, cache: "no-store",
                                           signal: controller.signal });
    if (response.status === 204) { closed = true; return; }
    if (!response.ok) { closed = true; onError((await failure(response, url)).message); return; }
    failures = 0;
    const parser = sseParser((type, data, id) => {
      lastId = id;
      if (closed) return;
      onEvent(type, data, id);
      if (type === "end") close();
    }, (ms) => { retry = ms; });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
  }

  (async () => {
    while (!closed) {
      try {
        await connect();
      } catch (err) {
        if (err instanceof AuthError) { closed = true; break; }
        // a network error or a dropped connection: reconnect below (unless closed)
      }
      if (closed) break;
      failures += 1;
      const wait = Math.min(retry * 2 ** Math.max(failures - 1, 0), MAX_RETRY_MS);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();
  return { close, get lastEventId() { return lastId; } };
}

// ---- line charts (hand-drawn SVG) ---------------------------------------------------------

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice) ticks.push(t);
  return ticks;
}

// Draws `series` ([{name, points: [[epoch, value], ...], color?, dashed?}]) into the SVG
// `node` (viewBox 480 x 260) with an epoch axis up to `xMax`. A series' `name` is also its
// CSS class (train, validation) unless it has a colour of its own. `data-points` on the
// node counts the first series' points (tests and scripts wait on it).
function lineChart(node, series, { yMin = null, yMax = null, percent = false, xMax = 0,
  empty = "no epochs yet" } = {}) {
  const W = 480, H = 260, L = 52, R = 12, T = 10, B = 34;
  node.replaceChildren();
  const points = series.flatMap((s) => s.points);
  node.dataset.points = String(series.length ? series[0].points.length : 0);
  const xTop = Math.max(xMax, ...points.map((p) => p[0]), 1);
  const ys = points.map((p) => p[1]);
  const lo = yMin !== null ? yMin : Math.min(0, ...ys);
  const top = ys.length ? Math.max(...ys, lo + 1e-9) * 1.05 : lo + 1;
  const hi = yMax !== null ? yMax : top;
  const x = (v) => L + ((v - 1) / Math.max(xTop - 1, 1)) * (W - L - R);
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  for (const t of niceTicks(lo, hi, 5)) {
    node.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(t), y2: y(t) }),
      svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" },
        percent ? `${Math.round(t * 100)}%` : fmt(t, 3)));
  }
  for (const t of niceTicks(1, xTop, 6).filter((t) => Number.isInteger(t))) {
    node.append(svg("text", { x: x(t), y: H - B + 16, "text-anchor": "middle" }, String(t)));
  }
  node.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "epoch"));
  if (!points.length) {
    node.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, empty));
    return;
  }
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    const attrs = { class: s.color ? "series" : s.name, points: d, "data-series": s.name };
    if (s.color) attrs.style = `stroke: ${s.color}`;
    if (s.dashed) attrs["stroke-dasharray"] = "5 3";
    node.append(svg("polyline", attrs));
  }
}
