// Backprop dashboard: the job list (polled) and the selected job's live curves (Server-Sent
// Events from /v1/jobs/{id}/events). Plain browser JavaScript, no libraries, no build step.
// The API key, requests, the event-stream reader and the charts are in common.js (shared
// with the playground); files (weights, plots) are fetched with the key and handed over as
// blob: URLs.
"use strict";

const LIST_REFRESH_MS = 2000;
const FINISHED = new Set(["succeeded", "failed", "cancelled", "pruned"]);
// Below this width the selected job's panel goes under the job list (see dashboard.css).
const TWO_COLUMNS = "(min-width: 1280px)";

const state = {
  selected: null, source: null, metrics: [], job: null, listTimer: null, compared: new Set(),
  boundaryBlob: null, boundaryUrl: null, scrollToPanel: false,
};

function onKeyForget() {
  if (state.source) state.source.close();
  state.selected = null;
  showJobPanel(false);
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
  const td = el("td", { class: "nowrap" });
  const bar = el("div", { class: "progress" });
  const fill = el("div");
  fill.style.width = `${epochs ? (100 * epoch) / epochs : 0}%`;
  bar.appendChild(fill);
  td.append(bar, `${epoch}/${epochs}`);
  return td;
}

function networkText(network) {
  if (!network) return "";
  const sizes = (network.sizes || []).join("-");
  const acts = network.activations ? network.activations.join("/")
    : `${network.hidden_activation || "sigmoid"}/${network.output_activation || "sigmoid"}`;
  return `${sizes} ${acts}`;
}

function trainingText(training) {
  if (!training) return "";
  return `${training.optimizer || "sgd"} η=${training.learning_rate} · batch ${training.batch_size}`;
}

function resultText(job) {
  const final = job.final_metrics;
  if (!final) return "";
  const parts = [];
  const accuracy = final.validation_accuracy ?? final.train_accuracy;
  if (typeof accuracy === "number") parts.push(`${(100 * accuracy).toFixed(1)}%`);
  const loss = final.validation_loss ?? final.train_loss;
  if (typeof loss === "number") parts.push(`loss ${fmt(loss, 3)}`);
  return parts.join(" · ");
}

// ---- job list ----------------------------------------------------------------------

async function refreshList() {
  if (auth.needKey) return;  // no point polling until the user has given a key
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
    row.appendChild(el("td", { class: "wrap" }, networkText(job.network)));
    row.appendChild(el("td", { class: "wrap col-training" }, trainingText(job.training)));
    row.appendChild(el("td", { class: "wrap" }, resultText(job)));
    row.appendChild(el("td", { class: "col-created", title: job.created_at || "" },
      shortTime(job.created_at)));
    row.addEventListener("click", () => {
      state.scrollToPanel = true;
      location.hash = `job=${job.id}`;
    });
    body.appendChild(row);
  }
  const listed = new Set(jobs.map((job) => job.id));
  for (const id of state.compared) if (!listed.has(id)) state.compared.delete(id);
  updateCompare();
  $("jobs-count").textContent = `(${jobs.length})`;
  $("jobs").hidden = jobs.length === 0;
  $("compare-line").hidden = jobs.length === 0;
  $("jobs-empty").hidden = jobs.length > 0;
  if (!jobs.length) showCurlExample();
}

// The empty state's commands, with this server's address (and the key's header, if any).
function showCurlExample() {
  const origin = location.origin;
  const key = auth.key ? ` -H "Authorization: Bearer $BACKPROP_API_KEY"` : "";
  $("curl-example").textContent = [
    `curl -s ${origin}/v1/datasets/generate${key} -H 'content-type: application/json' \\`,
    `  -d '{"kind": "xor", "n_samples": 200, "noise": 0.1, "seed": 0}'`,
    `curl -s ${origin}/v1/jobs${key} -H 'content-type: application/json' -d '{`,
    `  "dataset_name": "xor", "network": {"sizes": [2, 8, 1]},`,
    `  "training": {"epochs": 300, "batch_size": 10, "learning_rate": 2.0}}'`,
  ].join("\n");
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

function showJobPanel(shown) {
  $("job-panel").hidden = !shown;
  document.querySelector("main").classList.toggle("with-job", shown);
}

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
  showJobPanel(true);
  if (state.scrollToPanel && !window.matchMedia(TWO_COLUMNS).matches) {
    $("job-panel").scrollIntoView({ block: "start" });  // one column: the panel is below
  }
  state.scrollToPanel = false;
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
      showJobPanel(false);
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
  // A job without a validation split has no validation curve: no legend entry for one.
  const validation = Boolean(job.training && job.training.validation_fraction > 0);
  for (const item of document.querySelectorAll(".legend-validation")) item.hidden = !validation;
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
  if (!auth.key) links.push(["event stream", `${base}/events`, null]);
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
  if (!link || !auth.key || event.button !== 0) return;
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

// ---- charts --------------------------------------------------------------------------

function column(key) {
  return state.metrics.filter((m) => m[key] !== null && m[key] !== undefined)
    .map((m) => [m.epoch, m[key]]);
}

function drawCharts() {
  const xMax = state.job ? state.job.progress.epochs : 0;
  const empty = state.job && state.job.status === "queued" ? "waiting for a worker…"
    : "no epochs yet";
  lineChart($("loss-chart"), [
    { name: "train", points: column("train_loss") },
    { name: "validation", points: column("validation_loss") },
  ], { xMax, empty });
  const accuracy = column("train_accuracy");
  const isRegression = state.metrics.length > 0 && accuracy.length === 0;
  $("accuracy-figure").hidden = isRegression;
  lineChart($("accuracy-chart"), [
    { name: "train", points: accuracy },
    { name: "validation", points: column("validation_accuracy") },
  ], { yMin: 0, yMax: 1, percent: true, xMax, empty });
}

// ---- start -------------------------------------------------------------------------

window.addEventListener("hashchange", selectFromHash);
document.addEventListener("DOMContentLoaded", async () => {
  setupAuth({
    onKey: restart,
    onForget: onKeyForget,
    onAsk: () => { $("jobs-error").hidden = true; },
  });
  document.addEventListener("click", onLinkClick);
  await refreshList();
  selectFromHash();
  state.listTimer = setInterval(refreshList, LIST_REFRESH_MS);
});
