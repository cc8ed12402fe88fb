// Backprop dashboard, sweeps: the sweep list (polled) and the selected sweep (#sweep=ID):
// its progress, best trial, leaderboard and plots, refreshed until it ends. Plain browser
// JavaScript, no libraries; it uses dashboard.js's helpers (apiFetch, getJSON, el, fmt,
// statusBadge, shortTime, the AuthError class and its state).
"use strict";

const SWEEP_REFRESH_MS = 2000;
const SWEEP_FINISHED = new Set(["succeeded", "failed", "cancelled"]);
const sweepState = { selected: null, timer: null, plotBlobs: {} };

function paramsText(params) {
  return Object.entries(params || {})
    .map(([path, value]) => `${path.split(".").pop()}=${Array.isArray(value) ? value.join("-") : fmt(value)}`)
    .join(" ");
}

// Best first: valued trials (completed, then pruned) by the objective's direction, then
// running ones by their latest value, then the rest by number.
function leaderboard(sweep, trials) {
  const sign = sweep.objective.direction === "maximize" ? -1 : 1;
  const key = (t) => {
    if (t.value !== null) return [t.status === "succeeded" ? 0 : 1, sign * t.value, t.number];
    if ((t.status === "queued" || t.status === "running") && t.latest !== null) {
      return [2, sign * t.latest, t.number];
    }
    return [3, 0, t.number];
  };
  return [...trials].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  });
}

// ---- sweep list ---------------------------------------------------------------------

async function refreshSweeps() {
  if (state.needKey) return;
  try {
    const data = await getJSON("/v1/sweeps?limit=100");
    renderSweeps(data.items || []);
    $("sweeps-error").hidden = true;
  } catch (err) {
    if (err instanceof AuthError) return;
    $("sweeps-error").textContent = `Could not load sweeps: ${err.message}`;
    $("sweeps-error").hidden = false;
  }
}

function renderSweeps(sweeps) {
  const body = $("sweeps").querySelector("tbody");
  body.replaceChildren();
  for (const sweep of sweeps) {
    const row = el("tr", { "data-sweep-id": sweep.id, "data-status": sweep.status });
    if (sweep.id === sweepState.selected) row.classList.add("selected");
    const ended = Object.entries(sweep.counts)
      .filter(([status]) => status !== "queued" && status !== "running")
      .reduce((sum, [, n]) => sum + n, 0);
    row.appendChild(el("td", {}, sweep.name));
    row.appendChild(el("td")).appendChild(statusBadge(sweep.status));
    row.appendChild(el("td", {}, `${ended}/${sweep.max_trials}`));
    row.appendChild(el("td", {}, sweep.best ? fmt(sweep.best.value) : "–"));
    row.appendChild(el("td", { title: sweep.created_at || "" }, shortTime(sweep.created_at)));
    row.addEventListener("click", () => { location.hash = `sweep=${sweep.id}`; });
    body.appendChild(row);
  }
  $("sweeps-count").textContent = `(${sweeps.length})`;
  $("sweeps-empty").hidden = sweeps.length > 0;
}

// ---- selected sweep -----------------------------------------------------------------

function sweepFromHash() {
  const match = /sweep=([\w-]+)/.exec(location.hash);
  if (!match) {
    sweepState.selected = null;
    clearTimeout(sweepState.timer);
    $("sweep-panel").hidden = true;
    return;
  }
  if (match[1] === sweepState.selected) return;
  // The job view gives way: its stream closes, and the same job can be reopened later.
  if (state.source) state.source.close();
  state.selected = null;
  $("job-panel").hidden = true;
  sweepState.selected = match[1];
  sweepState.plotBlobs = {};
  $("sweep-panel").hidden = false;
  $("sweep-id").textContent = match[1];
  $("sweep-error").hidden = true;
  $("sweep-leaderboard").querySelector("tbody").replaceChildren();
  for (const img of document.querySelectorAll("#sweep-panel img")) img.removeAttribute("src");
  for (const row of document.querySelectorAll("#sweeps tbody tr")) {
    row.classList.toggle("selected", row.dataset.sweepId === match[1]);
  }
  refreshSweep(match[1]);
}

async function refreshSweep(id) {
  clearTimeout(sweepState.timer);
  if (sweepState.selected !== id) return;
  let sweep;
  try {
    sweep = await getJSON(`/v1/sweeps/${id}`);
    const trials = (await getJSON(`/v1/sweeps/${id}/trials`)).items;
    if (sweepState.selected !== id) return;
    showSweep(sweep, trials);
    await showSweepPlots(id);
  } catch (err) {
    if (err instanceof AuthError) return;
    $("sweep-error").textContent = err.message;
    $("sweep-error").hidden = false;
  }
  const done = sweep && SWEEP_FINISHED.has(sweep.status) && sweep.finished_at;
  if (!done && sweepState.selected === id) {
    sweepState.timer = setTimeout(() => refreshSweep(id), SWEEP_REFRESH_MS);
  }
}

function showSweep(sweep, trials) {
  $("sweep-panel").dataset.status = sweep.status;
  const status = $("sweep-status");
  status.className = `status ${sweep.status}`;
  status.textContent = sweep.status;
  $("sweep-name").textContent = sweep.name;
  const ended = trials.filter((t) => t.status && t.status !== "queued" && t.status !== "running");
  $("sweep-progress-bar").style.width = `${(100 * ended.length) / sweep.max_trials}%`;
  const counts = Object.entries(sweep.counts).map(([s, n]) => `${n} ${s}`).join(", ");
  $("sweep-progress").textContent =
    `${ended.length} of ${sweep.max_trials} trials ended (${counts || "none yet"}) · ` +
    `${sweep.sampler.kind} sampler, ${sweep.pruner.kind} pruner, ` +
    `${sweep.parallelism} at a time`;
  const metric = sweep.objective.metric.replace(/_/g, " ");
  $("sweep-best").textContent = sweep.best
    ? `Best: trial ${sweep.best.number}, ${metric} ${fmt(sweep.best.value)} (${paramsText(sweep.best.params)})`
    : `Best: none yet (${sweep.objective.direction} ${metric})`;
  if (sweep.error) {
    $("sweep-error").textContent = sweep.error;
    $("sweep-error").hidden = false;
  }
  $("sweep-value-heading").textContent = metric;
  const body = $("sweep-leaderboard").querySelector("tbody");
  body.replaceChildren();
  leaderboard(sweep, trials).forEach((t, i) => {
    const row = el("tr", { "data-trial": String(t.number), "data-status": t.status || "deleted" });
    if (sweep.best && t.number === sweep.best.number) row.classList.add("best");
    row.appendChild(el("td", {}, String(i + 1)));
    row.appendChild(el("td", {}, String(t.number)));
    row.appendChild(el("td")).appendChild(statusBadge(t.status || "deleted"));
    const value = t.value !== null ? t.value : t.latest;
    row.appendChild(el("td", { title: t.value === null && t.latest !== null ? "latest epoch" : "" },
      fmt(value)));
    row.appendChild(el("td", {}, t.pruned_epoch ? `${t.epochs} (pruned)` : String(t.epochs)));
    row.appendChild(el("td", { class: "params", title: t.error || "" }, paramsText(t.params)));
    const job = el("td");
    if (t.job_id) job.appendChild(el("a", { href: `#job=${t.job_id}` }, t.job_id.slice(0, 8)));
    row.appendChild(job);
    body.appendChild(row);
  });
  $("sweep-cancel").hidden = SWEEP_FINISHED.has(sweep.status);
  renderSweepLinks(sweep.id);
}

function renderSweepLinks(id) {
  const base = `/v1/sweeps/${id}`;
  const name = id.slice(0, 8);
  const list = $("sweep-links");
  list.replaceChildren();
  for (const [text, href, download] of [
    ["trials (JSON)", `${base}/trials`, `${name}-trials.json`],
    ["trials plot (SVG)", `${base}/plots/trials.svg`, `${name}-trials.svg`],
    ["trials plot (PNG)", `${base}/plots/trials.png`, `${name}-trials.png`],
    ["params plot (SVG)", `${base}/plots/params.svg`, `${name}-params.svg`],
    ["params plot (PNG)", `${base}/plots/params.png`, `${name}-params.png`],
  ]) {
    list.appendChild(el("li")).appendChild(el("a", { href, "data-download": download }, text));
  }
}

// The plots are fetched with the key (if any) and shown from blob: URLs once loaded.
async function showSweepPlots(id) {
  for (const plot of ["trials", "params"]) {
    const url = `/v1/sweeps/${id}/plots/${plot}.svg?width=560&height=380`;
    const response = await apiFetch(url, { cache: "no-store" });
    if (!response.ok || sweepState.selected !== id) return;
    const blobUrl = URL.createObjectURL(await response.blob());
    if (sweepState.plotBlobs[plot]) URL.revokeObjectURL(sweepState.plotBlobs[plot]);
    sweepState.plotBlobs[plot] = blobUrl;
    $(`sweep-plot-${plot}`).src = blobUrl;
  }
}

async function onSweepCancel() {
  const id = sweepState.selected;
  if (!id) return;
  try {
    const response = await apiFetch(`/v1/sweeps/${id}/cancel`, { method: "POST" });
    if (!response.ok) throw await failure(response, `/v1/sweeps/${id}/cancel`);
  } catch (err) {
    if (err instanceof AuthError) return;
    $("sweep-error").textContent = err.message;
    $("sweep-error").hidden = false;
  }
  refreshSweep(id);
  refreshSweeps();
}

window.addEventListener("hashchange", sweepFromHash);
document.addEventListener("DOMContentLoaded", () => {
  $("sweep-cancel").addEventListener("click", onSweepCancel);
  $("key-form").addEventListener("submit", () => setTimeout(() => {
    refreshSweeps();
    const id = sweepState.selected;
    sweepState.selected = null;
    if (id) sweepFromHash();
  }, 0));
  refreshSweeps();
  setInterval(refreshSweeps, SWEEP_REFRESH_MS);
  sweepFromHash();
});
