// Backprop dashboard: the job list (polled) and the selected job's live curves (Server-Sent
// Events from /v1/jobs/{id}/events). Plain browser JavaScript, no libraries, no build step.
//
// Every request goes through apiFetch(), which adds "Authorization: Bearer <key>" once the
// user has given a key (asked for when the API answers 401; kept in sessionStorage, or in
// localStorage if "remember" is ticked; never put in a URL). The event stream is read with
// fetch() and a small SSE parser rather than EventSource, which cannot send headers; files
// (weights, plots) are fetched the same way and handed over as blob: URLs.
"use strict";

const LIST_REFRESH_MS = 2000;
const FINISHED = new Set(["succeeded", "failed", "cancelled", "pruned"]);
const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORAGE = "backprop.apiKey";
const RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;

const state = {
  selected: null, source: null, metrics: [], job: null, listTimer: null, compared: new Set(),
  apiKey: null, needKey: false, boundaryBlob: null,
};

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

// ---- API key and requests -------------------------------------------------------------

class AuthError extends Error {}

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
  state.apiKey = key;
  state.needKey = false;
  $("key-forget").hidden = !key;
}

function askForKey(message) {
  state.needKey = true;
  $("jobs-error").hidden = true;
  $("key-message").textContent = message;
  const form = $("key-form");
  if (form.hidden) {
    form.hidden = false;
    $("api-key").value = "";
    $("api-key").focus();
  }
}

async function apiFetch(url, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.apiKey) headers.set("Authorization", `Bearer ${state.apiKey}`);
  const response = await fetch(url, { ...options, headers });
  if (response.status === 401) {
    askForKey(state.apiKey ? "The server refused this API key; enter another one."
      : "This server needs an API key.");
    throw new AuthError(`401 ${url}: API key required`);
  }
  return response;
}

async function failure(response, url) {
  let detail = response.statusText;
  try { detail = JSON.stringify((await response.json()).detail); } catch (e) { /* keep */ }
  return new Error(`${response.status} ${url}: ${detail}`);
}

async function getJSON(url) {
  const response = await apiFetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw await failure(response, url);
  return response.json();
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
  restart();
}

function onKeyForget() {
  saveKey(null, false);
  if (state.source) state.source.close();
  state.selected = null;
  $("job-panel").hidden = true;
  $("jobs").querySelector("tbody").replaceChildren();
  refreshList();
}

function restart() {
  // After a (new) key: reload the list and re-follow the selected job from where it was.
  refreshList().then(() => {
    state.selected = null;
    selectFromHash();
  });
}

function fmt(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) {
    return value.toExponential(2);
  }
  return Number(value.toPrecision(digits)).toString();
}

function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function statusBadge(status) {
  return el("span", { class: `status ${status}` }, status);
}

function progressCell(job) {
  const { epoch, epochs } = job.progress || { epoch: 0, epochs: 0 };
  const td = el("td");
  const bar = el("div", { class: "progress" });
  const fill = el("div");
  fill.style.width = `${epochs ? (100 * epoch) / epochs : 0}%`;
  bar.appendChild(fill);
  td.append(bar, `${epoch}/${epochs}`);
  return td;
}

// ---- job list ----------------------------------------------------------------------

async function refreshList() {
  if (state.needKey) return;  // no point polling until the user has given a key
  try {
    const data = await getJSON("/v1/jobs?limit=100");
    const jobs = Array.isArray(data) ? data : data.items || [];
    renderList(jobs);
    $("jobs-error").hidden = true;
  } catch (err) {
    if (err instanceof AuthError) return;
    $("jobs-error").textContent = `Could not load jobs: ${err.message}`;
    $("jobs-error").hidden = false;
  }
}

function renderList(jobs) {
  const body = $("jobs").querySelector("tbody");
  body.replaceChildren();
  for (const job of jobs) {
    const row = el("tr", { "data-job-id": job.id, "data-status": job.status });
    if (job.id === state.selected) row.classList.add("selected");
    const tick = el("input", { type: "checkbox", "aria-label": `compare job ${job.id}` });
    tick.checked = state.compared.has(job.id);
    tick.addEventListener("click", (event) => event.stopPropagation());
    tick.addEventListener("change", () => {
      if (tick.checked) state.compared.add(job.id); else state.compared.delete(job.id);
      updateCompare();
    });
    row.appendChild(el("td")).appendChild(tick);
    row.appendChild(el("td")).appendChild(el("code", {}, job.id.slice(0, 8)));
    row.appendChild(el("td")).appendChild(statusBadge(job.status));
    row.appendChild(progressCell(job));
    row.appendChild(el("td", {}, (job.network && job.network.sizes || []).join("-")));
    row.appendChild(el("td", { title: job.created_at || "" }, shortTime(job.created_at)));
    row.addEventListener("click", () => { location.hash = `job=${job.id}`; });
    body.appendChild(row);
  }
  const listed = new Set(jobs.map((job) => job.id));
  for (const id of state.compared) if (!listed.has(id)) state.compared.delete(id);
  updateCompare();
  $("jobs-count").textContent = `(${jobs.length})`;
  $("jobs-empty").hidden = jobs.length > 0;
}

function updateCompare() {
  const ids = [...state.compared];
  const link = $("compare");
  link.hidden = ids.length === 0;
  $("compare-hint").hidden = ids.length > 0;
  link.href = `/v1/plots/loss.svg?jobs=${ids.join(",")}`;
  link.dataset.download = "loss-compare.svg";
}

function updateRow(job) {
  // The stream is fresher than the polled list: keep the selected job's row in step.
  const row = document.querySelector(`#jobs tbody tr[data-job-id="${job.id}"]`);
  if (!row) return;
  row.dataset.status = job.status;
  row.children[2].replaceChildren(statusBadge(job.status));
  row.replaceChild(progressCell(job), row.children[3]);
}

// ---- selected job ------------------------------------------------------------------

function selectFromHash() {
  const match = /job=([\w-]+)/.exec(location.hash);
  if (match && match[1] !== state.selected) selectJob(match[1]);
}

async function selectJob(id) {
  if (state.source) state.source.close();
  state.selected = id;
  state.metrics = [];
  state.job = null;
  for (const row of document.querySelectorAll("#jobs tbody tr")) {
    row.classList.toggle("selected", row.dataset.jobId === id);
  }
  $("job-panel").hidden = false;
  $("job-id").textContent = id;
  $("job-error").hidden = true;
  $("boundary-figure").hidden = true;
  drawCharts();
  try {
    const job = await getJSON(`/v1/jobs/${id}`);
    if (state.selected !== id) return;
    showJob(job);
    renderLinks(job, null);
    if (job.dataset_id) {
      getJSON(`/v1/datasets/${job.dataset_id}`)
        .then((dataset) => { if (state.selected === id) renderLinks(job, dataset); })
        .catch(() => {});
    }
  } catch (err) {
    if (err instanceof AuthError) {  // selected again once the key is given
      state.selected = null;
      $("job-panel").hidden = true;
      return;
    }
    $("job-error").textContent = err.message;
    $("job-error").hidden = false;
    return;
  }
  follow(id);
}

function follow(id) {
  state.source = streamEvents(`/v1/jobs/${id}/events`, (type, data) => {
    if (state.selected !== id) return;
    if (type === "status") {
      showJob(JSON.parse(data));
    } else if (type === "metrics") {
      const item = JSON.parse(data);
      state.metrics.push(item);
      if (state.job) {
        state.job.progress = { epoch: item.epoch, epochs: item.epochs };
        showProgress(state.job);
        updateRow(state.job);
      }
      drawCharts();
      showLatest(item);
    } else if (type === "end") {
      refreshList();
      if (state.boundaryUrl) showBoundary(state.boundaryUrl);
    }
  }, (message) => {
    if (state.selected !== id) return;
    $("job-error").textContent = message;
    $("job-error").hidden = false;
  });
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

function showJob(job) {
  state.job = job;
  updateRow(job);
  const status = $("job-status");
  status.className = `status ${job.status}`;
  status.textContent = job.status;
  $("job-panel").dataset.status = job.status;
  showProgress(job);
  if (job.error) {
    $("job-error").textContent = job.error;
    $("job-error").hidden = false;
  }
  $("metrics-heading").textContent = FINISHED.has(job.status) ? "Final metrics" : "Latest metrics";
  if (job.final_metrics && job.final_metrics.stopped_early) {
    $("job-progress").textContent += " · stopped early (no improvement)";
  }
  const spec = { dataset_id: job.dataset_id, network: job.network, training: job.training };
  $("job-spec").textContent = JSON.stringify(spec, null, 2);
}

function showProgress(job) {
  const { epoch, epochs } = job.progress;
  $("job-progress-bar").style.width = `${epochs ? (100 * epoch) / epochs : 0}%`;
  const times = state.metrics.map((m) => m.seconds).filter((s) => typeof s === "number");
  let eta = "";
  if (!FINISHED.has(job.status) && times.length && epoch < epochs) {
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    eta = ` · about ${Math.ceil(mean * (epochs - epoch))} s left`;
  }
  $("job-progress").textContent = `epoch ${epoch} of ${epochs}${eta}`;
}

function showLatest(item) {
  const body = $("job-metrics").querySelector("tbody");
  body.replaceChildren();
  const rows = [["epoch", item.epoch], ["train loss", item.train_loss],
    ["train accuracy", item.train_accuracy], ["validation loss", item.validation_loss],
    ["validation accuracy", item.validation_accuracy], ["learning rate", item.learning_rate],
    ["seconds", item.seconds]];
  for (const [name, value] of rows) {
    if (value === null || value === undefined) continue;
    const tr = el("tr");
    tr.append(el("th", {}, name), el("td", { "data-metric": name }, fmt(value)));
    body.appendChild(tr);
  }
}

function renderLinks(job, dataset) {
  const base = `/v1/jobs/${job.id}`;
  const name = job.id.slice(0, 8);
  const links = [
    ["weights (JSON)", `${base}/weights`, `${name}-weights.json`],
    ["weights (.npz)", `${base}/weights?format=npz`, `${name}-weights.npz`],
    ["metrics (JSON)", `${base}/metrics`, `${name}-metrics.json`],
    ["loss plot (SVG)", `${base}/plots/loss.svg`, `${name}-loss.svg`],
    ["loss plot (PNG)", `${base}/plots/loss.png`, `${name}-loss.png`],
  ];
  // A stream never finishes downloading: linked only where the browser can open it as is.
  if (!state.apiKey) links.push(["event stream", `${base}/events`, null]);
  state.boundaryUrl = null;
  if (dataset && dataset.n_features === 2) {
    state.boundaryUrl = `${base}/plots/decision-boundary.png`;
    links.push(["decision boundary (PNG)", state.boundaryUrl, `${name}-decision-boundary.png`],
      ["decision boundary grid (JSON)", `${base}/plots/decision-boundary.json`,
        `${name}-decision-boundary.json`]);
    if (state.job && FINISHED.has(state.job.status)) showBoundary(state.boundaryUrl);
  }
  const list = $("job-links");
  list.replaceChildren();
  for (const [text, href, download] of links) {
    const attrs = download ? { href, "data-download": download } : { href };
    list.appendChild(el("li")).appendChild(el("a", attrs, text));
  }
}

// A plain link cannot carry the API key: with a key, a click on an API link fetches the
// file with the header and saves it from a blob: URL instead.
async function onLinkClick(event) {
  const link = event.target.closest && event.target.closest("a[data-download]");
  if (!link || !state.apiKey || event.button !== 0) return;
  event.preventDefault();
  try {
    const response = await apiFetch(link.getAttribute("href"));
    if (!response.ok) throw await failure(response, link.getAttribute("href"));
    const url = URL.createObjectURL(await response.blob());
    const save = el("a", { href: url, download: link.dataset.download });
    document.body.appendChild(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    if (err instanceof AuthError) return;
    $("job-error").textContent = err.message;
    $("job-error").hidden = false;
  }
}

// The decision boundary is fetched (with the key, if any) and shown from a blob: URL,
// only once it has loaded.
async function showBoundary(url) {
  if (!state.job || state.job.status !== "succeeded") return;
  const id = state.selected;
  try {
    const response = await apiFetch(url, { cache: "no-store" });
    if (!response.ok || state.selected !== id) return;
    const blobUrl = URL.createObjectURL(await response.blob());
    if (state.boundaryBlob) URL.revokeObjectURL(state.boundaryBlob);
    state.boundaryBlob = blobUrl;
    $("boundary").src = blobUrl;
    $("boundary-figure").hidden = false;
  } catch (err) {
    /* no image: the figure stays hidden */
  }
}

// ---- charts (hand-drawn SVG) --------------------------------------------------------

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice) ticks.push(t);
  return ticks;
}

function drawChart(node, series, { yMin = null, yMax = null, percent = false } = {}) {
  const W = 480, H = 260, L = 52, R = 12, T = 10, B = 34;
  node.replaceChildren();
  const points = series.flatMap((s) => s.points);
  node.dataset.points = String(series.length ? series[0].points.length : 0);
  const epochs = state.job ? state.job.progress.epochs : 0;
  const xMax = Math.max(epochs, ...points.map((p) => p[0]), 1);
  const ys = points.map((p) => p[1]);
  const lo = yMin !== null ? yMin : Math.min(0, ...ys);
  const hi = yMax !== null ? yMax : Math.max(...ys, lo + 1e-9) * 1.05;
  const x = (v) => L + ((v - 1) / Math.max(xMax - 1, 1)) * (W - L - R);
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  for (const t of niceTicks(lo, hi, 5)) {
    node.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(t), y2: y(t) }),
      svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" },
        percent ? `${Math.round(t * 100)}%` : fmt(t, 3)));
  }
  for (const t of niceTicks(1, xMax, 6).filter((t) => Number.isInteger(t))) {
    node.append(svg("text", { x: x(t), y: H - B + 16, "text-anchor": "middle" }, String(t)));
  }
  node.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "epoch"));
  if (!points.length) {
    node.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" },
      state.job && state.job.status === "queued" ? "waiting for a worker…" : "no epochs yet"));
    return;
  }
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    node.append(svg("polyline", { class: s.name, points: d, "data-series": s.name }));
  }
}

function column(key) {
  return state.metrics.filter((m) => m[key] !== null && m[key] !== undefined)
    .map((m) => [m.epoch, m[key]]);
}

function drawCharts() {
  drawChart($("loss-chart"), [
    { name: "train", points: column("train_loss") },
    { name: "validation", points: column("validation_loss") },
  ]);
  const accuracy = column("train_accuracy");
  const isRegression = state.metrics.length > 0 && accuracy.length === 0;
  $("accuracy-figure").hidden = isRegression;
  drawChart($("accuracy-chart"), [
    { name: "train", points: accuracy },
    { name: "validation", points: column("validation_accuracy") },
  ], { yMin: 0, yMax: 1, percent: true });
}

// ---- start -------------------------------------------------------------------------

window.addEventListener("hashchange", selectFromHash);
document.addEventListener("DOMContentLoaded", async () => {
  state.apiKey = loadKey();
  $("key-forget").hidden = !state.apiKey;
  $("key-form").addEventListener("submit", onKeySubmit);
  $("key-forget").addEventListener("click", onKeyForget);
  document.addEventListener("click", onLinkClick);
  await refreshList();
  selectFromHash();
  state.listTimer = setInterval(refreshList, LIST_REFRESH_MS);
});
