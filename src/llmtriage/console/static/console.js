// llmtriage console: polls /v1/stats/... and draws SVG charts; no library, no build step.
// The what-if runs here (same arithmetic as console/views.py `whatif`, which serves
// /v1/stats/whatif to scripts), so the slider answers without a request.
"use strict";

const KEY = "llmtriage.console.key";
const POLL_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#3d8bd4", "#e07b39", "#7a5cc7", "#2f9e72", "#c8323c", "#8a8f98"];
const $ = (id) => document.getElementById(id);
const state = { scores: null, moved: null, timer: null, busy: false, last: null };

function el(tag, attrs, parent, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function colour(tiers, tier) { return COLOURS[Math.max(0, tiers.indexOf(tier)) % COLOURS.length]; }
function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %"; }
function usd(x) {
  if (x === null || x === undefined) return "–";
  return "$" + (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toPrecision(3));
}
function ms(x) { return x === null || x === undefined ? "–" : x < 10 ? x.toFixed(1) : x.toFixed(0); }
function figure(parent, label, value, id) {
  const div = document.createElement("div");
  div.className = "figure";
  const b = document.createElement("b");
  b.textContent = value;
  if (id) b.id = id;
  const span = document.createElement("span");
  span.textContent = label;
  div.append(b, span);
  parent.appendChild(div);
}
function table(node, head, rows) {
  clear(node);
  const tr = document.createElement("tr");
  for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  node.appendChild(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    for (const cell of row) {
      const td = document.createElement("td");
      if (cell && typeof cell === "object") { td.textContent = cell.text; td.className = cell.cls || ""; }
      else td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      r.appendChild(td);
    }
    node.appendChild(r);
  }
}
// One user unit = one CSS pixel: text stays readable from a phone to a wide screen.
function size(svg) {
  const height = svg.viewBox.baseVal.height;
  const width = Math.max(240, Math.round(svg.getBoundingClientRect().width || svg.viewBox.baseVal.width));
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  return [width, height];
}
function mark(svg, points) { svg.setAttribute("data-points", String(points)); }
function empty(svg, w, h, text) {
  el("text", { x: w / 2, y: h / 2, "text-anchor": "middle" }, svg, text || "no data in this window");
}

// ------------------------------------------------------------------------ fetching

function params() {
  return "window=" + encodeURIComponent($("window").value) + "&router=" + encodeURIComponent($("router").value);
}
async function get(path) {
  const response = await fetch(path, { headers: { authorization: "Bearer " + sessionStorage.getItem(KEY) } });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    const error = new Error((body.error && body.error.message) || "the admin key was refused");
    error.refused = true;
    throw error;
  }
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

async function refresh() {
  if (state.busy || document.hidden || !sessionStorage.getItem(KEY)) return;
  state.busy = true;
  try {
    const q = params();
    const [traffic, scores, deployments, decisions] = await Promise.all([
      get("/v1/stats/traffic?" + q), get("/v1/stats/scores?" + q),
      get("/v1/stats/deployments?window=" + encodeURIComponent($("window").value)),
      get("/v1/stats/decisions?router=" + encodeURIComponent($("router").value) + "&limit=25"),
    ]);
    routers(traffic.routers);
    state.last = { traffic, deployments };
    drawTraffic(traffic);
    drawCost(traffic);
    drawCascade(traffic);
    drawScores(scores);
    drawDeployments(deployments);
    drawDecisions(decisions);
    $("status").textContent = "live";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error.refused) { signOut(error.message); }
    else { $("status").textContent = "retrying: " + error.message; }
  } finally {
    state.busy = false;
  }
}

function routers(names) {
  const select = $("router");
  const have = Array.from(select.options).map((o) => o.value);
  for (const name of names) {
    if (!have.includes(name)) { const o = document.createElement("option"); o.value = o.textContent = name; select.appendChild(o); }
  }
}

// ------------------------------------------------------------------------ charts

function drawTraffic(t) {
  const svg = $("chart-traffic"), [W, H] = size(svg), L = 36, B = 18;
  clear(svg);
  const figs = $("traffic-figures"); clear(figs);
  figure(figs, "requests", t.requests.toLocaleString());
  for (const tier of t.tiers) figure(figs, tier + " share", pct(t.tier_shares[tier]));
  const legend = $("traffic-legend"); clear(legend);
  for (const tier of t.tiers) {
    const span = document.createElement("span"), i = document.createElement("i");
    i.style.background = colour(t.tiers, tier);
    span.append(i, tier); legend.appendChild(span);
  }
  const points = t.series.filter((p) => p.requests > 0).length;
  mark(svg, points);
  if (!points) return empty(svg, W, H);
  const max = Math.max(...t.series.map((p) => p.requests));
  const bw = (W - L) / t.series.length;
  t.series.forEach((p, i) => {
    let y = H - B;
    for (const tier of t.tiers) {
      const h = ((p.tiers[tier] || 0) / max) * (H - B - 8);
      if (h > 0) {
        el("rect", { x: L + i * bw + 0.5, y: y - h, width: Math.max(1, bw - 1), height: h, fill: colour(t.tiers, tier) }, svg)
          .appendChild(el("title", {}, null, new Date(p.t * 1000).toLocaleTimeString() + " " + tier + ": " + p.tiers[tier]));
        y -= h;
      }
    }
  });
  el("text", { x: L - 4, y: 12, "text-anchor": "end" }, svg, String(Math.round(max)));
  el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, svg, "0");
  el("text", { x: L, y: H - 4 }, svg, new Date(t.series[0].t * 1000).toLocaleTimeString());
  el("text", { x: W, y: H - 4, "text-anchor": "end" }, svg, "per " + Math.round(t.step_s / 60) + " min");
}

function drawCost(t) {
  const c = t.cost, svg = $("chart-cost"), [W] = size(svg);
  const figs = $("cost-figures"); clear(figs);
  figure(figs, "spent", usd(c.spent_usd));
  figure(figs, "all-strong baseline", usd(c.baseline_usd));
  figure(figs, "saved", usd(c.saved_usd) + " (" + pct(c.saved_share) + ")");
  clear(svg);
  mark(svg, c.baseline_usd > 0 ? 2 : 0);
  if (!(c.baseline_usd > 0)) return empty(svg, W, 110);
  const max = Math.max(c.baseline_usd, c.spent_usd);
  [["spent", c.spent_usd, COLOURS[0]], ["all strong", c.baseline_usd, COLOURS[1]]].forEach(([label, v, fill], i) => {
    const y = 10 + i * 45;
    el("rect", { x: 70, y, width: Math.max(1, ((W - 80) * v) / max), height: 30, fill }, svg);
    el("text", { x: 64, y: y + 19, "text-anchor": "end" }, svg, label);
  });
  table($("prices"), ["tier", "deployment", "$ / M in", "$ / M out"],
    c.prices.map((p) => [p.tier, p.deployment + (p.deployment === c.baseline_deployment ? " (baseline)" : ""), p.input_per_mtok, p.output_per_mtok]));
}

function drawCascade(t) {
  const svg = $("chart-cascade"), [W, H] = size(svg), LX = 190;
  const figs = $("cascade-figures"); clear(figs);
  figure(figs, "novelty rate (" + t.novelty.novel + " / " + t.novelty.measured + ")", pct(t.novelty.rate));
  figure(figs, "escalation rate (" + t.cascade.escalations + " / " + t.cascade.runs + ")", pct(t.cascade.escalation_rate));
  clear(svg);
  const rows = t.cascade.outcomes;
  mark(svg, rows.length);
  if (!rows.length) return empty(svg, W, H, "the cascade did not run in this window");
  const max = Math.max(...rows.map((r) => r.count)), bh = Math.min(24, (H - 4) / rows.length);
  rows.forEach((r, i) => {
    const y = 2 + i * bh;
    const w = ((W - LX - 40) * r.count) / max;
    el("rect", { x: LX, y, width: Math.max(1, w), height: bh - 3,
      fill: r.verdict === "accepted" ? COLOURS[3] : COLOURS[1] }, svg);
    el("text", { x: LX - 4, y: y + bh / 2 + 2, "text-anchor": "end" }, svg, r.verdict + ": " + r.reason);
    el("text", { x: LX + 4 + w, y: y + bh / 2 + 2 }, svg, String(r.count));
  });
}

function drawScores(s) {
  state.scores = s;
  $("scores-router").textContent = "router " + s.router + " · " + s.scored.toLocaleString() + " classifier-routed";
  const slider = $("whatif");
  const top = s.thresholds.length ? s.thresholds[s.thresholds.length - 1] : null;
  $("whatif-tier").textContent = top ? top.tier : "–";
  slider.disabled = !top;
  const [lo, hi] = range(s);
  slider.min = lo.toFixed(3); slider.max = hi.toFixed(3);
  if (top && (state.moved === null || state.moved.router !== s.router)) {
    state.moved = { router: s.router, value: top.cutpoint };
  }
  if (state.moved) slider.value = String(state.moved.value);
  renderScores();
}

function range(s) {
  // Scores crowd into a narrow band: show the bins that hold them (and the thresholds).
  let first = s.counts.findIndex((c) => c > 0), last = s.counts.length - 1;
  while (last >= 0 && !(s.counts[last] > 0)) last--;
  if (first < 0) { first = 0; last = s.bins - 1; }
  let lo = first / s.bins, hi = (last + 1) / s.bins;
  for (const t of s.thresholds) { lo = Math.min(lo, t.cutpoint); hi = Math.max(hi, t.cutpoint); }
  const pad = Math.max(0.02, (hi - lo) * 0.1);
  return [Math.max(0, lo - pad), Math.min(1, hi + pad)];
}

function renderScores() {
  const s = state.scores, svg = $("chart-scores"), [W, H] = size(svg), B = 18;
  if (!s) return;
  clear(svg);
  mark(svg, s.scored);
  const [lo, hi] = range(s);
  const x = (v) => ((v - lo) / (hi - lo)) * W;
  if (!s.scored) { empty(svg, W, H); }
  else {
    const max = Math.max(...s.counts);
    s.counts.forEach((c, i) => {
      if (!(c > 0)) return;
      const a = x(i / s.bins), b = x((i + 1) / s.bins), h = (c / max) * (H - B - 14);
      el("rect", { x: a, y: H - B - h, width: Math.max(1, b - a - 1), height: h, fill: "#9fb6cf" }, svg);
    });
  }
  for (const t of s.thresholds) {
    el("line", { x1: x(t.cutpoint), x2: x(t.cutpoint), y1: 0, y2: H - B, stroke: "#1d2430", "stroke-dasharray": "4 3" }, svg);
    el("text", { x: x(t.cutpoint) + 3, y: 10 }, svg, t.tier + " ≥ " + t.cutpoint.toFixed(3));
  }
  if (state.moved && s.thresholds.length) {
    const v = state.moved.value;
    el("line", { x1: x(v), x2: x(v), y1: 0, y2: H - B, stroke: COLOURS[4], "stroke-width": 2, id: "whatif-line" }, svg);
  }
  el("text", { x: 0, y: H - 4 }, svg, lo.toFixed(2));
  el("text", { x: W, y: H - 4, "text-anchor": "end" }, svg, hi.toFixed(2));
  renderWhatIf();
}

// Mirrors console/views.py: band_shares, whatif.
function massAbove(counts, cut) {
  const bins = counts.length, xv = Math.min(1, Math.max(0, cut)) * bins, whole = Math.floor(xv);
  if (whole >= bins) return 0;
  let above = 0;
  for (let i = whole + 1; i < bins; i++) above += counts[i];
  return above + counts[whole] * (1 - (xv - whole));
}
function bandShares(counts, cuts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return cuts.map(() => 0).concat([0]);
  const edges = [1, ...cuts.map((c) => massAbove(counts, c) / total), 0];
  return edges.slice(0, -1).map((e, i) => Math.max(0, e - edges[i + 1]));
}
function interpolate(points, xv) {
  if (!points.length) return null;
  if (xv <= points[0].threshold) return points[0].quality;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1], b = points[i];
    if (xv <= b.threshold) {
      const span = b.threshold - a.threshold;
      return span <= 0 ? b.quality : a.quality + ((b.quality - a.quality) * (xv - a.threshold)) / span;
    }
  }
  return points[points.length - 1].quality;
}
function project(s, tierIndex, value) {
  const cuts = s.thresholds.map((t) => t.cutpoint);
  const lo = tierIndex > 0 ? cuts[tierIndex - 1] : 0, hi = tierIndex + 1 < cuts.length ? cuts[tierIndex + 1] : 1;
  const moved = Math.min(hi, Math.max(lo, value));
  const newCuts = cuts.slice(); newCuts[tierIndex] = moved;
  const bandTiers = [s.tiers[0], ...s.thresholds.map((t) => t.tier)];
  const classified = Object.values(s.classifier_tiers).reduce((a, b) => a + b, 0);
  const total = classified + Object.values(s.fixed_tiers).reduce((a, b) => a + b, 0);
  const shares = (cp) => {
    const out = {};
    for (const t of s.tiers) out[t] = s.fixed_tiers[t] || 0;
    bandShares(s.counts, cp).forEach((share, i) => { out[bandTiers[i]] = (out[bandTiers[i]] || 0) + share * classified; });
    for (const t of Object.keys(out)) out[t] = total ? out[t] / total : 0;
    return out;
  };
  const unit = {};
  for (const c of s.cost_model.tiers) unit[c.tier] = c.usd_per_request;
  const per1k = (share) => {
    const used = Object.entries(share).filter(([, v]) => v > 0);
    if (!used.length || used.some(([t]) => unit[t] === null || unit[t] === undefined)) return null;
    return 1000 * used.reduce((a, [t, v]) => a + v * unit[t], 0);
  };
  const projected = shares(newCuts), current = shares(cuts);
  const strong = unit[s.cost_model.baseline_tier];
  const allStrong = strong === null || strong === undefined ? null : 1000 * strong;
  const cost = per1k(projected);
  const two = cuts.length === 1;
  return {
    threshold: moved, tier_shares: projected, current_shares: current, usd_per_1k: cost,
    current_usd_per_1k: per1k(current), all_strong_usd_per_1k: allStrong,
    saved_share: cost === null || !allStrong ? null : 1 - cost / allStrong,
    quality: two ? interpolate(s.quality.points, moved) : null,
    current_quality: two ? interpolate(s.quality.points, cuts[0]) : null,
    yaml: "classifier:\n  thresholds: {" + s.thresholds.map((t, i) => t.tier + ": " + newCuts[i].toFixed(4)).join(", ") + "}\n",
  };
}

function renderWhatIf() {
  const s = state.scores, figs = $("whatif-figures");
  clear(figs);
  if (!s || !s.thresholds.length || !state.moved) { $("whatif-yaml").textContent = ""; return; }
  const p = project(s, s.thresholds.length - 1, state.moved.value);
  $("whatif-value").textContent = p.threshold.toFixed(3);
  for (const tier of s.tiers) {
    figure(figs, tier + " share (now " + pct(p.current_shares[tier]) + ")", pct(p.tier_shares[tier]), "whatif-share-" + tier);
  }
  figure(figs, "cost / 1k requests (now " + usd(p.current_usd_per_1k) + ")", usd(p.usd_per_1k), "whatif-cost");
  figure(figs, "saved vs all-strong", pct(p.saved_share), "whatif-saved");
  figure(figs, "quality vs all-strong (now " + pct(p.current_quality) + ")", pct(p.quality), "whatif-quality");
  $("quality-note").textContent = s.quality.source === "artifact" ? "Quality: " + s.quality.note + "." : "No quality curve: " + s.quality.note + ".";
  $("whatif-yaml").textContent = p.yaml;
}

function drawDeployments(d) {
  const rows = d.deployments;
  const lat = $("chart-latency"), fb = $("chart-fallbacks"), [W, LH] = size(lat), [, FH] = size(fb);
  clear(lat); clear(fb);
  const timed = rows.filter((r) => r.latency.p50_ms !== null);
  mark(lat, timed.length);
  if (!timed.length) empty(lat, W, LH);
  else {
    const max = Math.max(...timed.map((r) => r.latency.p99_ms)), bh = Math.min(30, (LH - 4) / timed.length);
    timed.forEach((r, i) => {
      const y = 4 + i * bh, sx = (v) => 120 + (Math.max(40, W - 300) * v) / max;
      el("rect", { x: 120, y, width: sx(r.latency.p99_ms) - 120, height: bh - 6, fill: "#f2c9a8" }, lat);
      el("rect", { x: 120, y, width: sx(r.latency.p90_ms) - 120, height: bh - 6, fill: COLOURS[1] }, lat);
      el("rect", { x: 120, y, width: sx(r.latency.p50_ms) - 120, height: bh - 6, fill: COLOURS[0] }, lat);
      el("text", { x: 116, y: y + bh / 2, "text-anchor": "end" }, lat, r.name);
      el("text", { x: sx(r.latency.p99_ms) + 4, y: y + bh / 2 }, lat, "p50 " + ms(r.latency.p50_ms) + " · p90 " + ms(r.latency.p90_ms) + " · p99 " + ms(r.latency.p99_ms) + " ms");
    });
  }
  const called = rows.filter((r) => r.calls > 0);
  mark(fb, called.length);
  if (!called.length) empty(fb, W, FH);
  else {
    const max = Math.max(...called.map((r) => r.calls)), bh = Math.min(26, (FH - 4) / called.length);
    called.forEach((r, i) => {
      const y = 2 + i * bh, sx = (v) => (Math.max(40, W - 330) * v) / max;
      el("rect", { x: 120, y, width: Math.max(1, sx(r.calls)), height: bh - 5, fill: "#c9d6e4" }, fb);
      el("rect", { x: 120, y, width: sx(r.retries + r.fallbacks), height: bh - 5, fill: COLOURS[4] }, fb);
      el("text", { x: 116, y: y + bh / 2 + 2, "text-anchor": "end" }, fb, r.name);
      const words = W < 560 ? [" calls · ", " re · ", " fb"] : [" calls · ", " retries · ", " fallbacks"];
      el("text", { x: 124 + sx(r.calls), y: y + bh / 2 + 2 }, fb, r.calls + words[0] + r.retries + words[1] + r.fallbacks + words[2]);
    });
  }
  table($("deployments"), ["deployment", "tier", "calls", "ok", "failures", "retries", "fallbacks", "skipped", "breaker", "p50 ms", "p90 ms", "p99 ms"],
    rows.map((r) => [r.name, r.tier, r.calls, r.ok,
      Object.entries(r.failures).map(([k, v]) => k + " " + v).join(", ") || "0", r.retries, r.fallbacks,
      Object.entries(r.skipped).map(([k, v]) => k + " " + v).join(", ") || "0",
      { text: r.breaker.replace("_", "-"), cls: r.breaker }, ms(r.latency.p50_ms), ms(r.latency.p90_ms), ms(r.latency.p99_ms)]));
}

function drawDecisions(d) {
  $("decisions-source").textContent = d.source === "decision_log" ? "from the decision log" : "this replica's latest (no decision log configured)";
  const head = ["id", "time", "router", "tier", "rule", "score", "deployment", "outcome", "ms", "cost"];
  if (d.prompts_logged) head.push("prompt");
  table($("decisions"), head, d.decisions.map((r) => {
    const row = [r.id.slice(0, 12), new Date(r.ts * 1000).toLocaleTimeString(), r.router, r.tier, r.rule || r.reason,
      r.score === null ? null : r.score.toFixed(3), r.deployment, r.outcome, ms(r.latency_ms), usd(r.cost_usd)];
    if (d.prompts_logged) row.push({ text: r.prompt || "", cls: "prompt" });
    return row;
  }));
}

// ------------------------------------------------------------------------ wiring

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("main").hidden = true; $("login").hidden = false; $("signout").hidden = true;
  $("status").textContent = "not signed in";
  $("login-error").textContent = message || "";
}
function signIn() {
  $("main").hidden = false; $("login").hidden = true; $("signout").hidden = false;
  $("status").textContent = "loading…";
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    signIn();
  });
  $("signout").addEventListener("click", () => signOut(""));
  $("window").addEventListener("change", refresh);
  $("router").addEventListener("change", () => { state.moved = null; refresh(); });
  $("whatif").addEventListener("input", (event) => {
    if (!state.scores) return;
    state.moved = { router: state.scores.router, value: parseFloat(event.target.value) };
    renderScores();
  });
  $("copy-yaml").addEventListener("click", async () => {
    const text = $("whatif-yaml").textContent;
    try { await navigator.clipboard.writeText(text); $("copied").textContent = "copied"; }
    catch (error) {
      // No clipboard (an http:// page on another host): select it for a manual copy.
      const range = document.createRange(); range.selectNodeContents($("whatif-yaml"));
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      $("copied").textContent = "selected: copy with Ctrl+C";
    }
  });
  document.addEventListener("visibilitychange", refresh);
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      if (!state.last) return;
      drawTraffic(state.last.traffic); drawCost(state.last.traffic); drawCascade(state.last.traffic);
      renderScores(); drawDeployments(state.last.deployments);
    }, 150);
  });
  state.timer = setInterval(refresh, POLL_MS);
  if (sessionStorage.getItem(KEY)) signIn(); else signOut("");
});
