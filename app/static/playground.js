// Backprop playground: pick a toy dataset, build a network, train it on the service and
// watch the decision boundary move; or Step one mini-batch through POST /v1/backprop and
// read every layer's z, a, δ and gradients. Plain browser JavaScript on the public REST API
// only (common.js: key, requests, event stream, charts), no libraries, no build step.
//
// The whole configuration lives in the page's address (?ds=spirals&layers=16,16&…), so a
// link reproduces it. A run is an ordinary job: POST /v1/datasets/generate, POST /v1/jobs
// with training.snapshot_every, then its event stream; each `snapshot` event fetches
// /plots/decision-boundary.json?epoch=k, drawn here on a canvas.
"use strict";

const RESOLUTION = 64;  // grid points per axis of a boundary picture
const MAX_STEP_PARAMETERS = 1000;  // POST /v1/backprop's caps (app/services/inspection.py)
const MAX_STEP_ROWS = 128;
const PICTURES_PER_RUN = 60;  // the default boundary interval aims at about this many
const TWO_D = ["xor", "circles", "moons", "spirals", "blobs"];
const MULTICLASS = new Set(["spirals", "blobs"]);
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const CLASS_COLORS = ["#f59322", "#0877bd", "#2f9e44", "#9c36b5", "#e03131", "#8c564b",
  "#e64980", "#495057", "#94d82d", "#15aabf"];
const COMPARE_COLORS = ["#0877bd", "#e8590c", "#2f9e44", "#9c36b5", "#c2255c", "#495057"];
// The API's choices when /openapi.json cannot be read (normally taken from it, so a new
// activation, cost, optimizer or schedule of the engine shows up here by itself).
const FALLBACK_CHOICES = {
  act: ["sigmoid", "tanh", "relu", "identity"],
  out: ["sigmoid", "tanh", "relu", "identity", "softmax"],
  cost: ["quadratic", "cross_entropy", "log_likelihood"],
  init: ["default", "large", "xavier", "he"],
  opt: ["sgd", "momentum", "adam"],
  sched: ["constant", "step", "plateau"],
  dtype: ["float32", "float64"],
};
const DEFAULTS = {
  ds: "spirals", classes: 3, noise: 0.1, n: 300, dseed: 0, val: 0.2,
  layers: [16, 16], act: "tanh", out: "softmax", cost: "log_likelihood", init: "xavier",
  opt: "adam", mom: 0.9, lr: 0.01, sched: "constant", decay: 0.5, every: 50, batch: 10,
  l2: 0, epochs: 300, seed: 0, dtype: "float64", snap: null,
};
// Which control holds which setting (the layer sizes have their own inputs).
const CONTROLS = {
  ds: "dataset", classes: "n-classes", noise: "noise", n: "n-samples", dseed: "data-seed",
  val: "validation", act: "activation", out: "output-activation", cost: "cost", init: "init",
  opt: "optimizer", mom: "momentum", lr: "learning-rate", sched: "schedule", decay: "lr-decay",
  every: "lr-step", batch: "batch-size", l2: "l2", epochs: "epochs", seed: "seed",
  dtype: "dtype", snap: "snapshot-every",
};
const DESCRIPTIONS = {};  // control id -> the API's description, shown as a tooltip

const pg = {
  choices: { ...FALLBACK_CHOICES }, layers: [...DEFAULTS.layers], snapAuto: true,
  data: null, dataKey: null, dataTimer: null, dataRequest: 0,
  job: null, source: null, metrics: [], frames: [], boundaryWanted: null, boundaryBusy: false,
  healthWanted: null, healthBusy: false, trainClicked: null, firstBoundaryMs: null, timeline: {},
  step: { key: null, index: 0, weights: null, last: null },
  runs: [], compared: new Set(), compareRequest: 0,
};
window.playground = pg;  // read by tests and scripts/playground_screenshot.py

// ---- the configuration: form <-> object <-> address -----------------------------------

function nOutputs(config) {
  return MULTICLASS.has(config.ds) ? config.classes : 1;
}

function costAllowed(cost, out) {
  if (cost === "cross_entropy") return out === "sigmoid" || out === "softmax";
  if (cost === "log_likelihood") return out === "softmax";
  return true;
}

// The cost each output activation pairs with best (δ_L = a − y): docs/design.md §1.3.
function canonicalCost(out) {
  return { softmax: "log_likelihood", sigmoid: "cross_entropy" }[out] || "quadratic";
}

function numberOf(id) {
  const value = $(id).value.trim();
  return value === "" ? NaN : Number(value);
}

function readForm() {
  const config = {};
  for (const [key, id] of Object.entries(CONTROLS)) {
    const node = $(id);
    config[key] = node.tagName === "SELECT" ? node.value : numberOf(id);
  }
  config.layers = [...pg.layers];
  if (!Number.isFinite(config.snap)) config.snap = null;
  return config;
}

function autoSnapshotEvery(epochs) {
  return Math.max(1, Math.ceil((Number.isFinite(epochs) ? epochs : 1) / PICTURES_PER_RUN));
}

// The problems of a configuration, each naming its control (empty when it can train).
function problems(config) {
  const found = [];
  const check = (ok, label, message) => { if (!ok) found.push(`${label}: ${message}`); };
  const whole = (v, lo, hi = Infinity) => Number.isInteger(v) && v >= lo && v <= hi;
  check(whole(config.n, 4, 10000), "Samples", "a whole number from 4 to 10,000");
  check(Number.isFinite(config.noise) && config.noise >= 0 && config.noise <= 10, "Noise",
    "a number from 0 to 10");
  check(whole(config.dseed, 0), "Data seed", "a whole number ≥ 0");
  if (MULTICLASS.has(config.ds)) check(whole(config.classes, 2, 20), "Classes", "2 to 20");
  check(Number.isFinite(config.val) && config.val >= 0 && config.val < 1,
    "Validation fraction", "at least 0 and below 1");
  check(config.layers.every((n) => whole(n, 1, 512)), "Hidden layers",
    "each layer needs 1 to 512 neurons");
  check(Number.isFinite(config.lr) && config.lr > 0, "Learning rate", "a number above 0");
  check(whole(config.batch, 1), "Batch size", "a whole number ≥ 1");
  check(Number.isFinite(config.l2) && config.l2 >= 0, "L2", "a number ≥ 0");
  check(whole(config.epochs, 1, 100000), "Epochs", "a whole number from 1 to 100,000");
  check(whole(config.seed, 0), "Seed", "a whole number ≥ 0");
  if (config.opt === "momentum") {
    check(Number.isFinite(config.mom) && config.mom >= 0 && config.mom < 1, "Momentum",
      "at least 0 and below 1");
  }
  if (config.sched !== "constant") {
    check(Number.isFinite(config.decay) && config.decay > 0 && config.decay <= 1,
      "Decay factor", "above 0, at most 1");
  }
  if (config.sched === "step") check(whole(config.every, 1), "Decay every", "≥ 1 epoch");
  if (config.snap !== null) check(whole(config.snap, 1), "Boundary every", "≥ 1 epoch");
  return found;
}

function toParams(config) {
  const params = new URLSearchParams();
  for (const key of Object.keys(CONTROLS)) {
    if (key === "classes" && !MULTICLASS.has(config.ds)) continue;
    if (key === "mom" && config.opt !== "momentum") continue;
    if ((key === "decay" || key === "every") && config.sched === "constant") continue;
    if (key === "every" && config.sched !== "step") continue;
    if (key === "snap" && (config.snap === null || pg.snapAuto)) continue;
    params.set(key, String(config[key]));
  }
  params.set("layers", config.layers.join(","));
  if (pg.job) params.set("job", pg.job.id);
  return params;
}

function updateAddress() {
  const url = `${location.pathname}?${toParams(readForm())}`;
  history.replaceState(null, "", url);
  $("share-url").value = location.href;
}

// Settings from the address; anything missing or out of range keeps its default.
function fromAddress() {
  const params = new URLSearchParams(location.search);
  const config = { ...DEFAULTS, layers: [...DEFAULTS.layers] };
  for (const key of Object.keys(CONTROLS)) {
    if (!params.has(key)) continue;
    const raw = params.get(key);
    const node = $(CONTROLS[key]);
    if (node.tagName === "SELECT") {
      const option = [...node.options].find((o) => o.value === raw);
      if (option) config[key] = raw;
    } else if (raw.trim() !== "" && Number.isFinite(Number(raw))) {
      config[key] = Number(raw);
    }
  }
  if (params.has("layers")) {
    const raw = params.get("layers").trim();
    const sizes = raw === "" ? [] : raw.split(",").map(Number);
    if (sizes.length <= 6 && sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 512)) {
      config.layers = sizes;
    }
  }
  return { config, job: params.get("job") };
}

function writeForm(config) {
  pg.layers = [...config.layers];
  for (const [key, id] of Object.entries(CONTROLS)) {
    if (key === "snap") continue;
    $(id).value = String(config[key]);
  }
  pg.snapAuto = config.snap === null;
  $("snapshot-every").value = String(config.snap ?? autoSnapshotEvery(config.epochs));
  renderLayers();
  updateChoices();
}

// ---- the network controls -------------------------------------------------------------

function fillSelect(id, names) {
  const node = $(id);
  const current = node.value;
  node.replaceChildren(...names.map((name) => el("option", { value: name }, name)));
  if (names.includes(current)) node.value = current;
}

// Offers only what the engine accepts together: softmax needs two outputs or more;
// cross_entropy needs a sigmoid or softmax output; log_likelihood needs softmax.
function updateChoices() {
  const config = readForm();
  const outputs = nOutputs(config);
  const out = $("output-activation");
  for (const option of out.options) option.disabled = option.value === "softmax" && outputs < 2;
  if (out.selectedOptions[0] && out.selectedOptions[0].disabled) {
    out.value = "sigmoid";
    $("cost").value = canonicalCost("sigmoid");
  }
  const cost = $("cost");
  for (const option of cost.options) option.disabled = !costAllowed(option.value, out.value);
  if (cost.selectedOptions[0] && cost.selectedOptions[0].disabled) {
    cost.value = canonicalCost(out.value);
  }
  const notes = [];
  if (outputs < 2) notes.push(`softmax needs 2 or more outputs (${config.ds} has 1)`);
  if (out.value !== "softmax") {
    notes.push(out.value === "sigmoid" ? "log_likelihood needs a softmax output"
      : "cross_entropy needs a sigmoid or softmax output; log_likelihood a softmax one");
  }
  $("pairing-note").textContent = notes.length ? `Not offered: ${notes.join("; ")}.` : "";
  $("classes-field").hidden = !MULTICLASS.has(config.ds);
  $("momentum-field").hidden = config.opt !== "momentum";
  $("decay-field").hidden = config.sched === "constant";
  $("step-epochs-field").hidden = config.sched !== "step";
  drawDiagram();
}

function renderLayers() {
  $("hidden-layers").value = String(pg.layers.length);
  const box = $("layer-sizes");
  box.replaceChildren();
  pg.layers.forEach((size, i) => {
    const id = `layer-${i + 1}`;
    const field = el("div", { class: "field" });
    field.append(el("label", { for: id }, `Neurons in hidden layer ${i + 1}`));
    const input = el("input", { id, type: "number", min: "1", max: "512", step: "1" });
    input.value = String(size);
    input.addEventListener("input", () => {
      pg.layers[i] = Number(input.value);
      onConfigChange();
    });
    field.append(input);
    box.append(field);
  });
  drawDiagram();
}

function setLayerCount(count) {
  count = Math.max(0, Math.min(6, Number.isInteger(count) ? count : pg.layers.length));
  while (pg.layers.length < count) pg.layers.push(pg.layers[pg.layers.length - 1] || 8);
  pg.layers.length = count;
  renderLayers();
  onConfigChange();
}

function drawDiagram() {
  const node = $("network-diagram");
  node.replaceChildren();
  const config = { ds: $("dataset").value, classes: numberOf("n-classes") };
  const sizes = [2, ...pg.layers, nOutputs(config) || 1];
  const W = 300, H = 150, top = 14, bottom = 124, shown = 8;
  const xs = sizes.map((_, i) => 20 + (i * (W - 40)) / Math.max(sizes.length - 1, 1));
  const ys = sizes.map((n) => {
    const k = Math.min(n, shown);
    return Array.from({ length: k }, (_, j) => top + ((j + 0.5) * (bottom - top)) / k);
  });
  for (let i = 0; i + 1 < sizes.length; i++) {
    for (const y1 of ys[i]) {
      for (const y2 of ys[i + 1]) {
        node.append(svg("line", { x1: xs[i], y1, x2: xs[i + 1], y2, class: "edge" }));
      }
    }
  }
  sizes.forEach((n, i) => {
    for (const y of ys[i]) node.append(svg("circle", { cx: xs[i], cy: y, r: 4.5, class: "unit" }));
    const label = n > shown ? `${n} (${shown} shown)` : String(n);
    node.append(svg("text", { x: xs[i], y: H - 8, "text-anchor": "middle" }, label));
  });
}

// ---- the data ---------------------------------------------------------------------------

function dataRequest(config) {
  const body = { kind: config.ds, n_samples: config.n, noise: config.noise, seed: config.dseed };
  if (MULTICLASS.has(config.ds)) body.n_classes = config.classes;
  return body;
}

function dataKeyOf(config) {
  return JSON.stringify(dataRequest(config));
}

function scheduleData() {
  clearTimeout(pg.dataTimer);
  pg.dataTimer = setTimeout(loadData, 200);
}

// The dataset's points, from POST /v1/datasets/preview (exactly what generate stores).
async function loadData() {
  const config = readForm();
  const bad = problems(config).filter((p) => /^(Samples|Noise|Data seed|Classes)/.test(p));
  if (bad.length) { showError("data-error", bad.join("; ")); return null; }
  const key = dataKeyOf(config);
  if (pg.data && pg.dataKey === key) return pg.data;
  const ticket = ++pg.dataRequest;
  try {
    const data = await postJSON("/v1/datasets/preview", dataRequest(config));
    if (ticket !== pg.dataRequest) return null;
    pg.data = data;
    pg.dataKey = key;
    $("data-error").hidden = true;
    $("data-summary").textContent = `${data.n_samples} points, ${data.n_outputs} output`
      + `${data.n_outputs > 1 ? "s" : ""} (classes ${(data.classes || []).join(", ")})`;
    if (!pg.job || pg.job.dataKey !== key) showPoints();
    return data;
  } catch (err) {
    if (!(err instanceof AuthError)) showError("data-error", err.detail || err.message);
    return null;
  }
}

function showError(id, message) {
  $(id).textContent = message;
  $(id).hidden = false;
}

// ---- the boundary canvas -----------------------------------------------------------------

function hexRGB(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v + (b[i] - v) * t));
}

const WHITE = [255, 255, 255];

// The colour of one grid point: the predicted class's colour, paler where the network is
// unsure (one output: orange below 0.5, blue above, white at 0.5).
function cellColor(outputs) {
  if (outputs.length === 1) {
    const p = Math.min(1, Math.max(0, outputs[0]));
    const side = p >= 0.5 ? hexRGB(CLASS_COLORS[1]) : hexRGB(CLASS_COLORS[0]);
    return mix(WHITE, side, 0.75 * Math.abs(2 * p - 1));
  }
  let best = 0, total = 0;
  outputs.forEach((v, i) => { total += Math.max(v, 0); if (v > outputs[best]) best = i; });
  const k = outputs.length;
  const share = total > 0 ? Math.max(outputs[best], 0) / total : 1 / k;
  const strength = Math.min(1, Math.max(0, (share - 1 / k) / (1 - 1 / k)));
  return mix(WHITE, hexRGB(CLASS_COLORS[best % CLASS_COLORS.length]), 0.15 + 0.6 * strength);
}

// The plot's extent: the data's range with 10% margins, as app/plots/grid.py computes it.
function extent(inputs) {
  const range = (values) => {
    let lo = Math.min(...values), hi = Math.max(...values);
    const span = hi > lo ? hi - lo : 1;
    return [lo - 0.1 * span, hi + 0.1 * span];
  };
  return { x: range(inputs.map((p) => p[0])), y: range(inputs.map((p) => p[1])) };
}

function drawPoints(ctx, size, inputs, labels, box) {
  const r = inputs.length > 1000 ? 2 : 3.2;
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#fff";
  inputs.forEach((p, i) => {
    const px = ((p[0] - box.x[0]) / (box.x[1] - box.x[0])) * size;
    const py = size - ((p[1] - box.y[0]) / (box.y[1] - box.y[0])) * size;
    ctx.beginPath();
    ctx.arc(px, py, r, 0, 2 * Math.PI);
    ctx.fillStyle = CLASS_COLORS[(labels ? labels[i] : 0) % CLASS_COLORS.length];
    ctx.fill();
    ctx.stroke();
  });
}

function showPoints() {
  const canvas = $("boundary-canvas");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!pg.data) return;
  drawPoints(ctx, canvas.width, pg.data.inputs, pg.data.labels, extent(pg.data.inputs));
  canvas.dataset.epoch = "";
  $("boundary-caption").textContent = `the ${readForm().ds} dataset: ${pg.data.n_samples} points`;
}

// Draws a decision-boundary grid (GET …/plots/decision-boundary.json) with its points.
function paintGrid(canvas, grid) {
  const R = grid.resolution;
  const image = new ImageData(R, R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      const [r, g, b] = cellColor(grid.outputs[i][j]);
      const at = 4 * ((R - 1 - i) * R + j);  // row i is y[i]; the canvas counts from the top
      image.data[at] = r; image.data[at + 1] = g; image.data[at + 2] = b; image.data[at + 3] = 255;
    }
  }
  const cells = document.createElement("canvas");
  cells.width = R; cells.height = R;
  cells.getContext("2d").putImageData(image, 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, 0, 0, canvas.width, canvas.height);
  const box = { x: [grid.x[0], grid.x[R - 1]], y: [grid.y[0], grid.y[R - 1]] };
  drawPoints(ctx, canvas.width, grid.points.inputs, grid.points.labels, box);
  return image.data;
}

function signature(bytes) {  // FNV-1a of the picture: tells different pictures apart
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i += 4) {
    h ^= bytes[i] ^ (bytes[i + 1] << 8) ^ (bytes[i + 2] << 16);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}

// Fetches the newest boundary asked for; older requests that were not started yet are
// skipped, so a slow connection shows fewer pictures, never stale ones.
function requestBoundary(jobId, epoch) {
  pg.boundaryWanted = { jobId, epoch };
  if (!pg.boundaryBusy) pumpBoundary();
}

async function pumpBoundary() {
  pg.boundaryBusy = true;
  while (pg.boundaryWanted) {
    const { jobId, epoch } = pg.boundaryWanted;
    pg.boundaryWanted = null;
    const query = `resolution=${RESOLUTION}${epoch === null ? "" : `&epoch=${epoch}`}`;
    try {
      const grid = await getJSON(`/v1/jobs/${jobId}/plots/decision-boundary.json?${query}`);
      if (!pg.job || pg.job.id !== jobId) continue;
      const canvas = $("boundary-canvas");
      const sig = signature(paintGrid(canvas, grid));
      const final = epoch === null;
      pg.frames.push({ jobId, epoch: grid.epoch, final, at: Date.now(), signature: sig });
      canvas.dataset.frames = String(pg.frames.filter((f) => f.jobId === jobId).length);
      canvas.dataset.epoch = String(grid.epoch);
      canvas.dataset.final = String(final);
      $("boundary-caption").textContent = final
        ? `decision boundary of the final weights (epoch ${grid.epoch})`
        : `decision boundary after epoch ${grid.epoch}`;
      if (pg.firstBoundaryMs === null && pg.trainClicked !== null && pg.job.fresh) {
        pg.timeline.boundary = performance.now();
        pg.firstBoundaryMs = pg.timeline.boundary - pg.trainClicked;
        canvas.dataset.firstBoundaryMs = pg.firstBoundaryMs.toFixed(0);
        showRunProgress();
      }
    } catch (err) {
      if (!(err instanceof AuthError) && pg.job && pg.job.id === jobId) {
        showError("run-error", err.message);
      }
    }
  }
  pg.boundaryBusy = false;
}

// ---- a run ---------------------------------------------------------------------------------

function jobBody(config, datasetId) {
  const training = {
    epochs: config.epochs, batch_size: config.batch, learning_rate: config.lr, l2: config.l2,
    optimizer: config.opt, validation_fraction: config.val, seed: config.seed,
    dtype: config.dtype, lr_schedule: config.sched,
    snapshot_every: config.snap ?? autoSnapshotEvery(config.epochs),
  };
  if (config.opt === "momentum") training.momentum = config.mom;
  if (config.sched !== "constant") training.lr_decay = config.decay;
  if (config.sched === "step") training.lr_step_epochs = config.every;
  return {
    dataset_id: datasetId,
    network: {
      sizes: [2, ...config.layers, nOutputs(config)], hidden_activation: config.act,
      output_activation: config.out, cost: config.cost, init: config.init,
    },
    training,
  };
}

const DATASETS_KEY = "backprop.playground.datasets";

function knownDatasets() {
  try { return JSON.parse(storage("sessionStorage").getItem(DATASETS_KEY)) || {}; }
  catch (e) { return {}; }
}

function rememberDataset(key, id) {
  const known = knownDatasets();
  known[key] = id;
  try { storage("sessionStorage").setItem(DATASETS_KEY, JSON.stringify(known)); }
  catch (e) { /* memory only */ }
}

async function createDataset(config) {
  const body = { ...dataRequest(config), name: config.ds };
  const dataset = await postJSON("/v1/datasets/generate", body);
  rememberDataset(dataKeyOf(config), dataset.id);
  return dataset.id;
}

// Creates the dataset (once per browser session and settings) and the job.
async function submitRun(config) {
  const key = dataKeyOf(config);
  let datasetId = knownDatasets()[key] || await createDataset(config);
  try {
    return await postJSON("/v1/jobs", jobBody(config, datasetId));
  } catch (err) {
    if (err.status !== 404) throw err;
    datasetId = await createDataset(config);  // deleted since: make it again
    return postJSON("/v1/jobs", jobBody(config, datasetId));
  }
}

async function train() {
  const config = readForm();
  const found = problems(config);
  $("form-error").hidden = true;
  if (found.length) { showError("form-error", found.join("; ")); return; }
  $("train").disabled = true;
  pg.trainClicked = performance.now();
  pg.firstBoundaryMs = null;
  pg.timeline = { train: pg.trainClicked };  // milliseconds: where the first picture's time goes
  try {
    if (!pg.data || pg.dataKey !== dataKeyOf(config)) await loadData();
    const job = await submitRun(config);
    pg.timeline.submitted = performance.now();
    showRun(job, { fresh: true, dataKey: dataKeyOf(config) });
    refreshRuns();
  } catch (err) {
    if (!(err instanceof AuthError)) showError("form-error", err.detail || err.message);
  } finally {
    $("train").disabled = false;
  }
}

// Shows a job in the output panel and follows its event stream.
function showRun(job, { fresh = false, dataKey = null } = {}) {
  if (pg.source) pg.source.close();
  pg.job = { ...job, fresh, dataKey, final: null };
  pg.metrics = [];
  pg.healthWanted = null;
  pg.boundaryWanted = null;
  $("run-error").hidden = true;
  $("final-metrics").querySelector("tbody").replaceChildren();
  $("health").querySelector("tbody").replaceChildren();
  $("health-epoch").textContent = "–";
  $("run-link").href = `/#job=${job.id}`;
  $("run-link").hidden = false;
  $("stop").disabled = FINISHED.has(job.status);
  const validation = job.training.validation_fraction > 0;
  for (const item of document.querySelectorAll("#output-panel .legend-validation")) {
    item.hidden = !validation;
  }
  updateRunStatus(job);
  drawRunCharts();
  updateAddress();
  follow(job.id);
}

function detachRun() {
  if (!pg.job) return;
  if (pg.source) pg.source.close();
  pg.job = null;
  pg.metrics = [];
  pg.boundaryWanted = null;
  $("run-status").hidden = true;
  $("run-link").hidden = true;
  $("run-error").hidden = true;
  $("run-progress").textContent = "";
  $("run-progress-bar").style.width = "0";
  $("stop").disabled = true;
  $("final-metrics").querySelector("tbody").replaceChildren();
  $("health").querySelector("tbody").replaceChildren();
  delete $("output-panel").dataset.status;
  drawRunCharts();
  updateAddress();
}

function follow(id) {
  pg.source = streamEvents(`/v1/jobs/${id}/events`, (type, data) => {
    if (!pg.job || pg.job.id !== id) return;
    if (type === "status") {
      updateRunStatus(JSON.parse(data));
    } else if (type === "snapshot") {
      const { epoch } = JSON.parse(data);
      if (pg.job.fresh && !pg.timeline.snapshot) pg.timeline.snapshot = performance.now();
      requestBoundary(id, epoch);
    } else if (type === "metrics") {
      const item = JSON.parse(data);
      pg.metrics.push(item);
      pg.job.progress = { epoch: item.epoch, epochs: item.epochs };
      drawRunCharts();
      showRunProgress();
      showMetrics(item, false);
      requestHealth(id, item.epoch);
    } else if (type === "end") {
      finishRun(id);
    }
  }, (message) => {
    if (pg.job && pg.job.id === id) showError("run-error", message);
  });
}

function updateRunStatus(job) {
  if (pg.job.fresh && job.status === "running" && !pg.timeline.running) {
    pg.timeline.running = performance.now();
  }
  pg.job.status = job.status;
  pg.job.progress = job.progress;
  pg.job.error = job.error;
  const badge = $("run-status");
  badge.hidden = false;
  badge.className = `status ${job.status}`;
  badge.textContent = job.status;
  $("output-panel").dataset.status = job.status;
  $("output-panel").dataset.jobId = job.id;
  if (job.error) showError("run-error", job.error);
  $("stop").disabled = FINISHED.has(job.status);
  showRunProgress();
}

function showRunProgress() {
  if (!pg.job) return;
  const { epoch, epochs } = pg.job.progress;
  $("run-progress-bar").style.width = `${epochs ? (100 * epoch) / epochs : 0}%`;
  const parts = [`job ${pg.job.id.slice(0, 8)}`, `epoch ${epoch} of ${epochs}`];
  if (pg.job.status === "queued") parts.push("waiting for a worker");
  if (pg.firstBoundaryMs !== null) {
    parts.push(`first boundary ${(pg.firstBoundaryMs / 1000).toFixed(2)} s after Train`);
  }
  $("run-progress").textContent = parts.join(" · ");
}

function column(rows, key) {
  return rows.filter((m) => m[key] !== null && m[key] !== undefined).map((m) => [m.epoch, m[key]]);
}

function drawRunCharts() {
  const xMax = pg.job ? pg.job.progress.epochs : 0;
  const empty = pg.job && pg.job.status === "queued" ? "waiting for a worker…" : "no epochs yet";
  lineChart($("loss-chart"), [
    { name: "train", points: column(pg.metrics, "train_loss") },
    { name: "validation", points: column(pg.metrics, "validation_loss") },
  ], { xMax, empty });
  lineChart($("accuracy-chart"), [
    { name: "train", points: column(pg.metrics, "train_accuracy") },
    { name: "validation", points: column(pg.metrics, "validation_accuracy") },
  ], { yMin: 0, yMax: 1, percent: true, xMax, empty });
}

function showMetrics(item, final) {
  $("final-heading").textContent = final ? "Final metrics" : "Latest metrics";
  const body = $("final-metrics").querySelector("tbody");
  body.replaceChildren();
  const percent = (v) => (typeof v === "number" ? `${(100 * v).toFixed(1)}%` : v);
  const rows = [["epoch", item.epoch, String], ["train loss", item.train_loss, fmt],
    ["train accuracy", item.train_accuracy, percent],
    ["validation loss", item.validation_loss, fmt],
    ["validation accuracy", item.validation_accuracy, percent]];
  if (final) rows.push(["stopped early", item.stopped_early ? "yes" : "no", String]);
  for (const [name, value, show] of rows) {
    if (value === null || value === undefined) continue;
    const tr = el("tr");
    const cell = el("td", { "data-metric": name }, show(value));
    if (typeof value === "number") cell.dataset.value = String(value);
    tr.append(el("th", {}, name), cell);
    body.appendChild(tr);
  }
}

// The per-layer training health of the newest epoch (GET …/metrics: the events carry no
// health): one request at a time, at most about three a second.
function requestHealth(id, epoch) {
  pg.healthWanted = { id, epoch };
  if (!pg.healthBusy) pumpHealth();
}

async function pumpHealth() {
  pg.healthBusy = true;
  while (pg.healthWanted) {
    const { id, epoch } = pg.healthWanted;
    pg.healthWanted = null;
    try {
      const page = await getJSON(`/v1/jobs/${id}/metrics?after=${epoch - 1}&limit=1`);
      if (pg.job && pg.job.id === id && page.items.length) showHealth(page.items[0]);
    } catch (err) {
      /* the health table keeps its last numbers */
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  pg.healthBusy = false;
}

function showHealth(item) {
  $("health-epoch").textContent = String(item.epoch);
  const body = $("health").querySelector("tbody");
  body.replaceChildren();
  const percent = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
  (item.health || []).forEach((layer, i) => {
    const tr = el("tr", { "data-layer": String(i + 1) });
    tr.append(el("td", {}, `${i + 1}`), el("td", {}, fmt(layer.grad_norm, 3)),
      el("td", {}, fmt(layer.update_ratio, 3)), el("td", {}, percent(layer.saturated_fraction)),
      el("td", {}, percent(layer.dead_fraction)));
    body.appendChild(tr);
  });
}

async function finishRun(id) {
  try {
    const job = await getJSON(`/v1/jobs/${id}`);
    if (!pg.job || pg.job.id !== id) return;
    updateRunStatus(job);
    pg.job.final = job.final_metrics;
    if (job.final_metrics) showMetrics(job.final_metrics, true);
    if (job.progress.epoch > 0) requestHealth(id, job.progress.epoch);
    // Succeeded and cancelled jobs keep their weights: the last picture is the final one.
    if (job.status === "succeeded" || job.status === "cancelled") requestBoundary(id, null);
  } catch (err) {
    if (!(err instanceof AuthError)) showError("run-error", err.message);
  }
  refreshRuns();
}

async function stopRun() {
  if (!pg.job) return;
  $("stop").disabled = true;
  try {
    await postJSON(`/v1/jobs/${pg.job.id}/cancel`, {});
  } catch (err) {
    if (!(err instanceof AuthError)) showError("run-error", err.detail || err.message);
  }
}

// ---- Step: one mini-batch through POST /v1/backprop ----------------------------------------

function parameterCount(sizes) {
  let total = 0;
  for (let i = 1; i < sizes.length; i++) total += sizes[i] * (sizes[i - 1] + 1);
  return total;
}

function stepKeyOf(config) {
  const { epochs, snap, val, ...rest } = config;  // settings that do not change a step
  return JSON.stringify(rest);
}

function resetSteps() {
  pg.step = { key: null, index: 0, weights: null, last: null };
  $("step-panel").hidden = true;
  $("reset-steps").disabled = true;
}

async function step() {
  const config = readForm();
  const found = problems(config);
  $("step-error").hidden = true;
  if (found.length) { showError("form-error", found.join("; ")); return; }
  const sizes = [2, ...config.layers, nOutputs(config)];
  const count = parameterCount(sizes);
  $("step-panel").hidden = false;
  if (count > MAX_STEP_PARAMETERS) {
    showError("step-error", `Step: the network ${sizes.join("-")} has ${count} parameters; `
      + `POST /v1/backprop takes at most ${MAX_STEP_PARAMETERS} (its finite-difference check `
      + "runs two forward passes per parameter). Use fewer or smaller hidden layers.");
    return;
  }
  const data = await loadData();
  if (!data) return;
  const key = stepKeyOf(config);
  if (pg.step.key !== key) pg.step = { key, index: 0, weights: null, last: null };
  const n = data.n_samples;
  const m = Math.min(config.batch, MAX_STEP_ROWS, n);
  const start = (pg.step.index * m) % n;
  const rows = Array.from({ length: m }, (_, i) => (start + i) % n);
  const nVal = Math.round(n * config.val);
  const body = {
    network: jobBody(config, null).network,
    inputs: rows.map((r) => data.inputs[r]),
    targets: rows.map((r) => data.targets[r]),
    learning_rate: config.lr, l2: config.l2, n: Math.max(n - nVal, 1),
    check_gradients: true, dtype: config.dtype,
  };
  if (pg.step.weights) body.weights = pg.step.weights; else body.seed = config.seed;
  $("step").disabled = true;
  try {
    const result = await postJSON("/v1/backprop", body);
    if (pg.step.key !== key) return;
    pg.step.index += 1;
    pg.step.weights = result.update.layers;
    pg.step.last = { request: body, response: result, rows };
    renderStep(result, rows, n, config);
    if (pg.step.index === 1) $("step-panel").scrollIntoView({ block: "start" });
    $("reset-steps").disabled = false;
  } catch (err) {
    if (!(err instanceof AuthError)) showError("step-error", err.detail || err.message);
  } finally {
    $("step").disabled = false;
  }
}

// The output error's equation for this output activation and cost (docs/design.md §1.3).
function outputDeltaEquation(out, cost) {
  const canonical = { quadratic: "identity", cross_entropy: "sigmoid", log_likelihood: "softmax" };
  if (canonical[cost] === out) {
    return `δ_L = a_L − y   (${cost.replace("_", "-")} with a ${out} output: σ′ cancels)`;
  }
  if (out === "softmax") return "δ_L = J_softmax(z_L)ᵀ ∇_a C   (the general form, a Jacobian product)";
  return `δ_L = ∇_a C ⊙ σ′(z_L)   (the general form; σ = ${out})`;
}

function matrixTable(name, values, layer) {
  const rows = Array.isArray(values[0]) ? values : [values];
  let peak = 0;
  for (const row of rows) for (const v of row) peak = Math.max(peak, Math.abs(v));
  const table = el("table", {
    class: "matrix", "data-matrix": name, "data-layer": String(layer),
    "data-values": JSON.stringify(values),
  });
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const v of row) {
      const td = el("td", { title: String(v) }, fmt(v, 3));
      const t = peak > 0 ? Math.abs(v) / peak : 0;
      const [r, g, b] = mix(WHITE, hexRGB(v >= 0 ? CLASS_COLORS[1] : CLASS_COLORS[0]), 0.45 * t);
      td.style.background = `rgb(${r}, ${g}, ${b})`;
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(body);
  return table;
}

function equationBlock(equation, name, values, layer, note = "") {
  const block = el("div", { class: "quantity" });
  const head = el("p", { class: "equation" }, equation);
  if (note) head.append(el("span", { class: "muted small" }, `  ${note}`));
  block.append(head, matrixTable(name, values, layer));
  return block;
}

function renderStep(result, rows, n, config) {
  const L = result.layers.length;
  const first = rows[0] + 1, last = rows[rows.length - 1] + 1;
  $("step-title").textContent = `· step ${pg.step.index}`;
  const check = result.gradient_check;
  const ok = check && check.max_rel_error < 1e-6;
  const summary = $("step-summary");
  summary.replaceChildren();
  const facts = el("p", { id: "step-facts" });
  facts.textContent = `Samples ${first}–${last} of ${n} (batch m = ${result.batch_size}), `
    + `network ${result.network.sizes.join("-")}, ${result.dtype}. Cost C = `
    + `${fmt(result.cost, 5)} → ${fmt(result.update.cost_after, 5)} after the step `
    + `(η = ${result.update.learning_rate}, λ = ${result.update.l2}, n = ${result.update.n}).`;
  const checkLine = el("p", { id: "step-check", class: ok ? "check ok" : "check" });
  checkLine.textContent = check
    ? `Finite-difference check (C(θ+ε) − C(θ−ε)) / 2ε with ε = ${check.epsilon}: largest `
      + `relative error ${check.max_rel_error.toExponential(2)} ${ok ? "✓ backprop agrees" : "✗"}`
    : "No finite-difference check.";
  const legend = el("p", { class: "muted small" },
    "Backprop runs from the output layer down: δ_L first, then each δ_l from δ_(l+1). "
    + "Cells: blue positive, orange negative, stronger for larger magnitudes.");
  summary.append(facts, checkLine, legend);
  const box = $("step-layers");
  box.replaceChildren();
  for (const layer of [...result.layers].reverse()) {
    const l = layer.layer;
    const card = el("div", { class: "layer-card", "data-layer": String(l) });
    const fn = layer.activation_function;
    card.append(el("h3", {}, `Layer ${l} of ${L}${l === L ? " (output)" : ""} · `
      + `${layer.z[0].length} neurons · σ = ${fn}`));
    const deltaEq = l === L ? outputDeltaEquation(fn, result.network.cost)
      : `δ_${l} = (W_${l + 1}ᵀ δ_${l + 1}) ⊙ σ′(z_${l})`;
    const layerCheck = check && check.layers.find((c) => c.layer === l);
    card.append(
      equationBlock(`z_${l} = W_${l} a_${l - 1} + b_${l}`, "z", layer.z, l),
      equationBlock(`a_${l} = σ(z_${l})`, "activation", layer.activation, l),
      equationBlock(deltaEq, "delta", layer.delta, l),
      equationBlock(`∂C/∂W_${l} = (1/m) Σ_x δ_${l} a_${l - 1}ᵀ`, "grad_weights",
        layer.grad_weights, l, `rows: neurons of layer ${l}, columns: of layer ${l - 1}`),
      equationBlock(`∂C/∂b_${l} = (1/m) Σ_x δ_${l}`, "grad_biases", layer.grad_biases, l),
    );
    if (layerCheck) {
      card.append(el("p", { class: "check small" }, "finite differences: largest relative "
        + `error ${layerCheck.max_rel_error_weights.toExponential(2)} (weights), `
        + `${layerCheck.max_rel_error_biases.toExponential(2)} (biases)`));
    }
    box.append(card);
  }
}

// ---- runs and comparisons ------------------------------------------------------------------

function runNetwork(job) {
  const n = job.network;
  return `${n.sizes.join("-")} ${n.hidden_activation}/${n.output_activation}`;
}

function runTraining(job) {
  const t = job.training;
  return `${t.optimizer} η=${t.learning_rate} · batch ${t.batch_size} · ${t.epochs} epochs`;
}

function runResult(job) {
  const f = job.final_metrics;
  if (!f) return "";
  const acc = f.validation_accuracy ?? f.train_accuracy;
  return typeof acc === "number" ? `${(100 * acc).toFixed(1)}%` : fmt(f.train_loss, 3);
}

async function refreshRuns() {
  if (auth.needKey) return;
  try {
    const page = await getJSON("/v1/jobs?limit=50");
    pg.runs = page.items.filter((job) => job.network.sizes[0] === 2);
    $("runs-error").hidden = true;
  } catch (err) {
    if (!(err instanceof AuthError)) showError("runs-error", err.message);
    return;
  }
  const body = $("runs-table").querySelector("tbody");
  body.replaceChildren();
  for (const job of pg.runs) {
    const tr = el("tr", { "data-job-id": job.id, "data-status": job.status });
    if (pg.job && pg.job.id === job.id) tr.classList.add("selected");
    const tick = el("input", { type: "checkbox", "aria-label": `compare job ${job.id}` });
    tick.checked = pg.compared.has(job.id);
    tick.addEventListener("click", (event) => event.stopPropagation());
    tick.addEventListener("change", () => {
      if (tick.checked) pg.compared.add(job.id); else pg.compared.delete(job.id);
      renderCompare();
    });
    tr.appendChild(el("td")).appendChild(tick);
    tr.appendChild(el("td")).appendChild(el("code", {}, job.id.slice(0, 8)));
    tr.appendChild(el("td")).appendChild(el("span", { class: `status ${job.status}` }, job.status));
    tr.append(el("td", {}, runNetwork(job)), el("td", {}, runTraining(job)),
      el("td", {}, runResult(job)));
    tr.addEventListener("click", () => showRun(job));
    tr.title = "show this run above";
    body.appendChild(tr);
  }
  const listed = new Set(pg.runs.map((job) => job.id));
  for (const id of pg.compared) if (!listed.has(id)) pg.compared.delete(id);
  $("runs-table").hidden = pg.runs.length === 0;
  $("runs-empty").hidden = pg.runs.length > 0;
  renderCompare();
}

async function allMetrics(id) {
  const rows = [];
  let after = 0;
  for (;;) {
    const page = await getJSON(`/v1/jobs/${id}/metrics?after=${after}&limit=1000`);
    rows.push(...page.items);
    if (page.next_after === null || page.next_after === undefined) return rows;
    after = page.next_after;
  }
}

// The picture of a compared run: final weights once it has them, else its latest snapshot.
function boundaryQuery(job) {
  if (job.status === "succeeded" || job.status === "cancelled") return "";
  const every = job.training.snapshot_every;
  const epoch = every ? Math.floor(job.progress.epoch / every) * every : 0;
  return epoch >= 1 ? `&epoch=${epoch}` : null;
}

async function renderCompare() {
  const ids = pg.runs.map((job) => job.id).filter((id) => pg.compared.has(id));
  const panel = $("compare-panel");
  panel.hidden = ids.length < 2;
  if (ids.length < 2) return;
  const ticket = ++pg.compareRequest;
  const jobs = ids.map((id) => pg.runs.find((job) => job.id === id));
  let curves;
  try {
    curves = await Promise.all(ids.map(allMetrics));
  } catch (err) {
    if (!(err instanceof AuthError)) showError("runs-error", err.message);
    return;
  }
  if (ticket !== pg.compareRequest) return;
  const color = (i) => COMPARE_COLORS[i % COMPARE_COLORS.length];
  const series = (key) => curves.flatMap((rows, i) => [
    { name: `${ids[i]}-train`, points: column(rows, `train_${key}`), color: color(i) },
    { name: `${ids[i]}-validation`, points: column(rows, `validation_${key}`), color: color(i),
      dashed: true },
  ]);
  const xMax = Math.max(...jobs.map((job) => job.progress.epochs));
  lineChart($("compare-loss"), series("loss"), { xMax });
  lineChart($("compare-accuracy"), series("accuracy"), { xMax, yMin: 0, yMax: 1, percent: true });
  const legend = $("compare-legend");
  legend.replaceChildren();
  jobs.forEach((job, i) => {
    const swatch = el("i");
    swatch.style.background = color(i);
    legend.append(swatch, `${job.id.slice(0, 8)} (${runNetwork(job)}, ${runTraining(job)})`);
  });
  const box = $("compare-boundaries");
  box.replaceChildren();
  await Promise.all(jobs.map(async (job, i) => {
    const figure = el("figure", { class: "boundary", "data-job-id": job.id });
    const canvas = el("canvas", { width: "300", height: "300", role: "img",
      "aria-label": `decision boundary of job ${job.id}` });
    const caption = el("figcaption", { class: "muted" }, `${job.id.slice(0, 8)}: …`);
    caption.style.borderTop = `3px solid ${color(i)}`;
    figure.append(canvas, caption);
    box.append(figure);
    const query = boundaryQuery(job);
    if (query === null) { caption.textContent = `${job.id.slice(0, 8)}: no weights yet`; return; }
    try {
      const grid = await getJSON(
        `/v1/jobs/${job.id}/plots/decision-boundary.json?resolution=${RESOLUTION}${query}`);
      if (ticket !== pg.compareRequest) return;
      paintGrid(canvas, grid);
      canvas.dataset.epoch = String(grid.epoch);
      caption.textContent = `${job.id.slice(0, 8)}: ${runNetwork(job)}, epoch ${grid.epoch} · `
        + `${runResult(job) || job.status}`;
    } catch (err) {
      if (!(err instanceof AuthError)) caption.textContent = `${job.id.slice(0, 8)}: ${err.message}`;
    }
  }));
}

// ---- start -----------------------------------------------------------------------------------

// The API's own choices and field descriptions, from its OpenAPI document (public).
async function loadChoices() {
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const schemas = (await response.json()).components.schemas;
    const network = schemas.NetworkSpec.properties;
    const training = schemas.TrainingConfig.properties;
    const pick = (prop) => (Array.isArray(prop.enum) ? prop.enum : null);
    const found = {
      act: pick(network.hidden_activation), out: pick(network.output_activation),
      cost: pick(network.cost), init: pick(network.init), opt: pick(training.optimizer),
      sched: pick(training.lr_schedule), dtype: pick(training.dtype),
    };
    for (const [key, names] of Object.entries(found)) if (names) pg.choices[key] = names;
    const described = {
      activation: network.hidden_activation, "output-activation": network.output_activation,
      cost: network.cost, init: network.init, optimizer: training.optimizer,
      momentum: training.momentum, "learning-rate": training.learning_rate,
      schedule: training.lr_schedule, "lr-decay": training.lr_decay,
      "lr-step": training.lr_step_epochs, "batch-size": training.batch_size, l2: training.l2,
      epochs: training.epochs, seed: training.seed, dtype: training.dtype,
      validation: training.validation_fraction, "snapshot-every": training.snapshot_every,
    };
    for (const [id, prop] of Object.entries(described)) {
      if (prop && prop.description) DESCRIPTIONS[id] = prop.description;
    }
  } catch (err) {
    /* keep the built-in lists */
  }
}

function onConfigChange() {
  if (pg.snapAuto) $("snapshot-every").value = String(autoSnapshotEvery(numberOf("epochs")));
  updateChoices();
  updateAddress();
}

function wire() {
  for (const id of Object.values(CONTROLS)) {
    const node = $(id);
    node.addEventListener(node.tagName === "SELECT" ? "change" : "input", () => {
      if (id === "snapshot-every") pg.snapAuto = false;
      onConfigChange();
      if (["dataset", "n-classes", "noise", "n-samples", "data-seed"].includes(id)) {
        detachRun();  // other data: a new experiment (the run stays in the list below)
        scheduleData();
      }
    });
    if (DESCRIPTIONS[id]) node.title = DESCRIPTIONS[id];
  }
  $("output-activation").addEventListener("change", () => {
    $("cost").value = canonicalCost($("output-activation").value);
    onConfigChange();
  });
  $("hidden-layers").addEventListener("input", () => setLayerCount(numberOf("hidden-layers")));
  $("add-layer").addEventListener("click", () => setLayerCount(pg.layers.length + 1));
  $("remove-layer").addEventListener("click", () => setLayerCount(pg.layers.length - 1));
  $("train").addEventListener("click", train);
  $("stop").addEventListener("click", stopRun);
  $("step").addEventListener("click", step);
  $("reset-steps").addEventListener("click", resetSteps);
  $("copy-link").addEventListener("click", async () => {
    $("share-url").select();
    try { await navigator.clipboard.writeText($("share-url").value); } catch (e) { /* selected */ }
  });
}

async function openJobFromAddress(id) {
  try {
    const job = await getJSON(`/v1/jobs/${id}`);
    if (job.network.sizes[0] === 2) showRun(job);
  } catch (err) {
    if (!(err instanceof AuthError)) showError("run-error", `the job in the address: ${err.message}`);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  await loadChoices();
  for (const [key, id] of Object.entries({ act: "activation", out: "output-activation",
    cost: "cost", init: "init", opt: "optimizer", sched: "schedule", dtype: "dtype" })) {
    fillSelect(id, pg.choices[key]);
  }
  const { config, job } = fromAddress();
  writeForm(config);
  wire();
  drawRunCharts();
  updateAddress();
  const start = async () => {
    await loadData();
    if (job && (!pg.job || pg.job.id !== job)) await openJobFromAddress(job);
    refreshRuns();
  };
  setupAuth({ onKey: start, onForget: () => { pg.data = null; pg.dataKey = null; } });
  start();
});
