// The ledger explorer's page: plain DOM, graphology + sigma.js (WebGL) for the DAG.
// Data comes from the read-only JSON API of ledgerlearn.explorer.server; the page polls
// /api/version every second and fetches only what changed (new blocks, touched updates).
"use strict";
(function () {
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmt = (x, d = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  const short = (id, n = 10) => (id ? String(id).slice(0, n) : "");
  const badge = (text) => `<span class="badge ${esc(text)}">${esc(text)}</span>`;

  async function api(path) {
    const response = await fetch(path, { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  const state = {
    versionKey: null, files: {}, height: 0, overview: null, summary: null,
    model: null, updates: new Map(), updatesHeight: 0,
    selected: null, lineage: new Set(), lineageEdges: new Set(), hits: null,
    graph: null, renderer: null, blocksNewest: null, blocksOldest: null, tab: "models",
    lastPoll: null, polls: 0, initial: "initial",
  };
  window.explorer = state; // for the browser test and the console

  // -- colours ---------------------------------------------------------------------------
  const VIRIDIS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89",
    "#35b779", "#6ece58", "#b5de2b", "#fde725"];
  const REJECTED = "#b2182b", PENDING = "#9e9e9e", LINEAGE = "#ff7f0e", DIM = "#d4d4d4";
  function scoreColour(score, lo, hi) {
    if (score === null || score === undefined) return VIRIDIS[0];
    const t = hi > lo ? Math.min(1, Math.max(0, (score - lo) / (hi - lo))) : 1;
    return VIRIDIS[Math.round(t * (VIRIDIS.length - 1))];
  }

  // -- tabs ------------------------------------------------------------------------------
  function showTab(name, model) {
    state.tab = name;
    for (const b of document.querySelectorAll("nav button")) {
      b.classList.toggle("active", b.dataset.tab === name);
    }
    for (const s of document.querySelectorAll(".tab")) {
      s.classList.toggle("active", s.id === `tab-${name}`);
    }
    if (name === "dag") {
      if (model) chooseModel(model); else ensureGraph();
      state.renderer?.refresh(); // its container had no size while hidden
    }
    if (name === "members") loadMembers();
    if (name === "blocks" && state.blocksNewest === null) loadBlocks();
  }
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab));
  }

  // -- header, models --------------------------------------------------------------------
  function renderHeader(overview) {
    $("directory").textContent = overview.directory;
    $("height").textContent = overview.height;
    const audit = overview.audit;
    $("audit").innerHTML = audit === null || audit === undefined
      ? '<span title="the run audits its ledger when it ends; or run: ledgerlearn ledger audit DIR">not yet</span>'
      : (audit === "ok" ? badge("ok") : `<span class="badge bad">${esc(audit)}</span>`);
  }

  function renderRunSummary(summary) {
    if (!summary) {
      $("run-summary").innerHTML = '<p class="muted">The run is still going (no summary.json ' +
        "yet): the ledger below grows as blocks commit.</p>";
      return;
    }
    const rows = Object.entries(summary.modes || {}).map(([mode, m]) => {
      const u = m.ledger_updates;
      const counts = u ? `${u.verified} verified, ${u.rejected} rejected; malicious ` +
        `${u.malicious_rejected} of ${u.malicious_total} caught; honest rejected ${u.honest_rejected}`
        : "no ledger";
      return `<tr data-mode="${esc(mode)}"><td>${esc(mode)}</td>` +
        `<td class="num final-accuracy">${fmt(m.final_accuracy)}</td>` +
        `<td class="num">${fmt(m.wall_seconds, 1)}</td><td class="num">${fmt(m.sim_seconds, 0)}</td>` +
        `<td class="ledger-counts">${esc(counts)}</td></tr>`;
    }).join("");
    const led = summary.ledger || {};
    $("run-summary").innerHTML = `<h2>Run: ${esc(summary.experiment?.name)}</h2>` +
      `<table id="modes-table"><tr><th>mode</th><th>final accuracy</th><th>wall s</th>` +
      `<th>simulated s</th><th>updates on the ledger</th></tr>${rows}</table>` +
      `<p>ledger: height <b id="summary-height">${esc(led.height)}</b>, ` +
      `${esc(led.transactions)} transactions (${esc(led.valid_transactions)} valid), ` +
      `${esc(led.peers)} peer copies, audit <b id="summary-audit">${esc(led.audit)}</b></p>`;
  }

  function renderModels(overview) {
    const html = overview.models.map((m) => {
      const rules = Object.entries(m.rules || {}).map(([k, v]) =>
        `<tr><td>${esc(k)}</td><td class="num">${esc(v)}</td></tr>`).join("");
      const reviews = (m.reviews || []).map((r) =>
        `<li>${esc(r.member)}: ${r.approve ? "approves" : "rejects"} (${esc(r.reason)})</li>`).join("");
      const rounds = m.mode === "federation"
        ? `${m.rounds_seen} of ${esc(m.rules.rounds)} rounds have updates` +
          (m.last_round ? ` (last: round ${m.last_round})` : "")
        : "asynchronous (gossip): no rounds";
      const u = m.updates;
      return `<div class="model" data-model="${esc(m.model_id)}">` +
        `<h2>${esc(m.model_id)} ${badge(m.status)} <span class="muted">${esc(m.mode)}</span></h2>` +
        `<p>${esc(m.description)} Metric: ${esc(m.metric)} ` +
        `(${m.higher_is_better ? "higher" : "lower"} is better). Published by ${esc(m.publisher)} ` +
        `at ${esc(m.published_at)} in block ${esc(m.block)}.</p>` +
        `<p>Updates: <b class="model-total">${u.total}</b> — <b class="model-verified">${u.verified}</b> verified, ` +
        `<b class="model-rejected">${u.rejected}</b> rejected, <b class="model-pending">${u.pending}</b> pending. ${esc(rounds)}.</p>` +
        `<p>Committee: ${m.committee.map(esc).join(", ")}. Decision: ${esc(m.decision?.reason || "pending")}.</p>` +
        `<details><summary>rules and reviews</summary><table>${rules}</table><ul>${reviews}</ul>` +
        `<p>initial weights <code>${esc(m.initial_weights_cid)}</code>, spec <code>${esc(m.spec_cid)}</code></p></details>` +
        privacyBlock(m) +
        `<button class="open-dag" data-model="${esc(m.model_id)}">show its DAG</button></div>`;
    }).join("");
    $("models").innerHTML = html || '<p class="muted">No model published yet.</p>';
    for (const m of overview.models) if (m.rules?.privacy) loadPrivacy(m.model_id);
    for (const b of document.querySelectorAll("button.open-dag")) {
      b.addEventListener("click", () => showTab("dag", b.dataset.model));
    }
    const select = $("model-select");
    const ids = overview.models.map((m) => m.model_id);
    if ([...select.options].map((o) => o.value).join() !== ids.join()) {
      select.innerHTML = ids.map((id) => `<option value="${esc(id)}">${esc(id)}</option>`).join("");
      if (state.model && ids.includes(state.model)) select.value = state.model;
    }
  }

  // -- differential privacy: each provider's ε over its updates (models without DP: nothing) --
  const modelOf = (id) => (state.overview?.models || []).find((m) => m.model_id === id);
  function privacyBlock(m) {
    const rule = m.rules?.privacy;
    if (!rule) return "";
    return `<div class="privacy" data-model="${esc(m.model_id)}"><h3>Differential privacy</h3>` +
      `<p>Budget per provider: <b class="budget-epsilon">ε = ${esc(rule.epsilon)}</b> at ` +
      `<b class="budget-delta">δ = ${esc(rule.delta)}</b>; DP-SGD with clipping norm ` +
      `${esc(rule.max_grad_norm)} and noise multiplier ${fmt(rule.noise_multiplier, 4)}.</p>` +
      `<div class="privacy-table muted">reading each provider's ε…</div></div>`;
  }
  // ε spent after each update, per provider, as the contract recorded it (/api/privacy)
  async function loadPrivacy(modelId) {
    let data;
    try {
      data = await api(`/api/privacy?model=${encodeURIComponent(modelId)}`);
    } catch (err) {
      data = { error: err.message };
    }
    const box = document.querySelector(`.privacy[data-model="${CSS.escape(modelId)}"] .privacy-table`);
    if (!box) return;
    box.classList.remove("muted");
    if (data.error) { box.innerHTML = `<p class="warn">${esc(data.error)}</p>`; return; }
    const budget = data.rule.epsilon;
    const rows = Object.entries(data.providers).map(([provider, spent]) => {
      const last = spent[spent.length - 1];
      const steps = spent.map((e) => `<span class="eps-step" data-update="${esc(e.update_id)}" ` +
        `title="update ${esc(short(e.update_id, 12))}, block ${esc(e.block)}, ${esc(e.submitted_at)}">` +
        `${e.round ? `r${esc(e.round)}` : `#${esc(e.n)}`}: <b class="eps">${fmt(e.epsilon, 3)}</b>` +
        ` <span class="muted">${esc(String(e.submitted_at || "").slice(11, 19))}</span></span>`).join(" → ");
      const share = Math.min(1, last.epsilon / budget);
      return `<tr class="eps-provider" data-provider="${esc(provider)}"><td>${esc(provider)}</td>` +
        `<td>${steps}</td><td class="num"><span class="eps-bar"><i style="width:${(100 * share).toFixed(1)}%">` +
        `</i></span> ${(100 * share).toFixed(0)} %</td></tr>`;
    }).join("");
    box.innerHTML = rows
      ? `<table class="eps-table"><tr><th>provider</th><th>ε spent after each update ` +
        `(r: round, #: n-th update; submitted at, UTC)</th><th>of the budget</th></tr>${rows}</table>`
      : '<p class="muted">No DP update on the ledger yet.</p>';
  }

  // -- the DAG ---------------------------------------------------------------------------
  // Big graphs: nodes as points and edges as 1-pixel lines (one and two vertices each
  // instead of sigma's default three and six: where WebGL runs in software, a full draw of
  // 10,000 nodes and 30,000 edges costs a fifth), no z-order sorting; a change of selection
  // or search re-runs the reducers only (skipIndexation). Camera gestures move the drawn
  // picture and redraw once when the camera settles (gesture.js).
  const BIG = 1000;
  function redraw() { state.renderer?.refresh({ skipIndexation: true }); }
  function tuneForSize(n) {
    const r = state.renderer;
    const big = n > BIG;
    if (state.big === big) return;
    state.big = big;
    r.setSetting("zIndex", !big);
    r.setSetting("defaultNodeType", big ? "point" : "circle");
    r.setSetting("defaultEdgeType", big ? "line" : "arrow");
  }
  function ensureGraph() {
    if (!state.model && state.overview && state.overview.models.length) {
      chooseModel(state.overview.models[state.overview.models.length - 1].model_id);
    }
  }

  $("model-select").addEventListener("change", (e) => chooseModel(e.target.value));

  async function chooseModel(modelId) {
    if (state.model === modelId && state.graph) return;
    state.model = modelId;
    $("model-select").value = modelId;
    state.updates = new Map();
    state.selected = null;
    state.lineage = new Set();
    state.lineageEdges = new Set();
    state.hits = null;
    state.drawn = false;
    $("details").innerHTML = '<p class="muted">Click an update (or search for one).</p>';
    const t0 = performance.now();
    if (!state.graph) createRenderer();
    state.graph.clear();
    state.rendererMs = performance.now() - t0;
    await loadUpdates(0);
  }

  function createRenderer() {
    state.graph = new graphology.Graph({ type: "directed", multi: false });
    state.renderer = new Sigma(state.graph, $("graph"), {
      defaultEdgeType: "arrow",
      renderEdgeLabels: false,
      labelRenderedSizeThreshold: 9,
      labelDensity: 0.5,
      zIndex: true,
      minCameraRatio: 0.002,
      maxCameraRatio: 4,
      allowInvalidContainer: true,
      nodeReducer: reduceNode,
      edgeReducer: reduceEdge,
      nodeProgramClasses: { point: Sigma.rendering.NodePointProgram },
      edgeProgramClasses: { line: Sigma.rendering.EdgeLineProgram },
    });
    // edge labels are never drawn: their empty layer need not be composited in every frame
    state.renderer.getCanvases().edgeLabels.style.display = "none";
    state.gesture = new GestureCamera(state.renderer, $("graph"));
    state.renderer.on("clickNode", ({ node }) => { if (node !== state.initial) selectUpdate(node); });
    state.renderer.on("clickStage", () => clearSelection());
  }

  function reduceNode(node, data) {
    const out = { ...data };
    if (state.selected) {
      if (node === state.selected) {
        Object.assign(out, { highlighted: true, size: data.size * 1.8, zIndex: 3, forceLabel: true });
      } else if (state.lineage.has(node)) {
        Object.assign(out, { color: node === state.initial ? "#000" : LINEAGE, zIndex: 2 });
      } else {
        Object.assign(out, { color: DIM, label: "", zIndex: 0, forceLabel: false });
      }
    } else if (state.hits) {
      if (state.hits.has(node)) Object.assign(out, { highlighted: true, zIndex: 2 });
      else Object.assign(out, { color: DIM, label: "", zIndex: 0, forceLabel: false });
    }
    return out;
  }

  function reduceEdge(edge, data) {
    if (state.selected) {
      return state.lineageEdges.has(edge)
        ? { ...data, color: LINEAGE, size: 1.6, zIndex: 2 }
        : { ...data, hidden: true };
    }
    if (state.hits) return { ...data, hidden: true };
    return data;
  }

  // Two frames after a draw: the one that shows it has been composited.
  const presented = () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));

  async function loadUpdates(since) {
    const modelId = state.model;
    const t0 = performance.now();
    // the DAG's view, as columns: what it draws and searches; an update in full when selected
    const response = await fetch(
      `/api/updates?model=${encodeURIComponent(modelId)}&since=${since}&view=dag`, { cache: "no-store" });
    const text = await response.text();
    const t1 = performance.now();
    const data = JSON.parse(text);
    if (!response.ok) throw new Error(data.error || response.statusText);
    if (modelId !== state.model) return;
    const t2 = performance.now();
    state.initialCid = data.initial_weights_cid;
    state.initial = data.initial;
    state.committee = data.committee;
    state.mode = data.mode;
    const fresh = ingest(data);
    state.updatesHeight = data.height;
    state.gesture.settle({ sync: true }); // a load during a gesture: draw where it went
    tuneForSize(state.updates.size);
    const rebuilt = layoutGraph(fresh);
    const t3 = performance.now();
    if (rebuilt) {
      state.graph = rebuilt;
      state.renderer.setGraph(rebuilt); // indexes and draws it
    }
    renderDagCounts();
    if (state.selected) {
      computeLineage(state.selected);
      showDetails(state.selected);
    }
    if (!rebuilt || state.selected) state.renderer.refresh();
    const t4 = performance.now();
    await presented();
    // what a load cost: the benchmark reads it (first_draw: until the frame that shows it)
    state.loadTimings = { renderer_ms: state.rendererMs ?? 0, fetch_ms: t1 - t0, parse_ms: t2 - t1,
      build_ms: t3 - t2, refresh_ms: t4 - t3, first_draw_ms: performance.now() - t3,
      bytes: text.length, updates: data.count };
    state.rendererMs = 0;
    state.drawn = true;
  }

  // The columns of /api/updates?view=dag as one object per update (state.updates, in the
  // order drawn); returns the updates not seen before.
  function ingest(data) {
    const c = data.columns, fresh = [];
    const idOf = (p) => (p >= 0 ? c.update_id[p] : data.parent_ids[-p - 1]);
    for (let i = 0; i < data.count; i++) {
      const id = c.update_id[i];
      const parents = [];
      for (let j = c.parent_start[i]; j < c.parent_start[i + 1]; j++) parents.push(idOf(c.parents[j]));
      const row = {
        update_id: id, provider: data.providers[c.provider[i]], parents, round: c.round[i],
        block: c.block[i], status: data.statuses[c.status[i]], median_score: c.median_score[i],
        malicious: !!c.malicious[i], weights_cid: c.weights_cid[i], tx_id: c.tx_id[i],
      };
      const known = state.updates.get(id);
      if (known) Object.assign(known, row);
      else { state.updates.set(id, row); fresh.push(row); }
    }
    return fresh;
  }

  // x: round (federation) or submission order (gossip); y: provider. Nodes of `fresh` are
  // added with their edges; every node's place, colour and label is (re)computed. Many new
  // updates (the first load): a new graph, built before sigma sees it (adding 30,000 edges
  // one by one to the graph sigma draws costs sigma an update per edge); it is returned.
  const REBUILD = 200;
  function layoutGraph(fresh) {
    const rebuild = fresh.length > REBUILD || state.graph.order === 0;
    const graph = rebuild ? new graphology.Graph({ type: "directed", multi: false }) : state.graph;
    if (rebuild) fresh = [...state.updates.values()];
    const updates = [...state.updates.values()];
    const federation = state.mode === "federation";
    const providers = [...new Set(updates.map((u) => u.provider))].sort(
      (a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const row = new Map(providers.map((p, i) => [p, i]));
    let lo = Infinity, hi = -Infinity, xMax = 1;
    updates.forEach((u, i) => {
      u.x = federation && u.round ? u.round : i + 1;
      if (u.x > xMax) xMax = u.x;
      if (u.status === "verified" && u.median_score !== null) {
        lo = Math.min(lo, u.median_score); hi = Math.max(hi, u.median_score);
      }
    });
    if (lo === Infinity) { lo = 0; hi = 1; }
    const ySpacing = Math.max(0.6, xMax / (2.5 * Math.max(1, providers.length)));
    const n = updates.length;
    const size = n > 2000 ? 3 : (n > 300 ? 5 : (n > 60 ? 8 : 11));
    const attributes = (u) => ({
      x: u.x, y: -(row.get(u.provider) * ySpacing), size,
      color: u.status === "verified" ? scoreColour(u.median_score, lo, hi)
        : (u.status === "rejected" ? REJECTED : PENDING),
      label: `${u.malicious ? "⚠ " : ""}${u.provider.split("/").pop()} ${short(u.update_id, 6)}`,
    });
    const initial = { x: 0, y: -((providers.length - 1) / 2) * ySpacing, size: size * 1.3,
      color: "#000", label: "initial weights", forceLabel: true };
    if (!graph.hasNode(state.initial)) graph.addNode(state.initial, initial);
    const first = graph.order === 1;
    for (const u of fresh) graph.addNode(u.update_id, attributes(u));
    for (const u of fresh) {
      for (const p of u.parents) {
        const source = graph.hasNode(p) ? p : state.initial;
        const key = `${source}->${u.update_id}`;
        if (!graph.hasEdge(key)) graph.addEdgeWithKey(key, source, u.update_id, { size: 0.6, color: "#c8c8c8" });
      }
    }
    if (!first) {
      graph.updateEachNodeAttributes((node, attr) => (node === state.initial ? { ...attr, ...initial }
        : { ...attr, ...attributes(state.updates.get(node)) }), { attributes: ["x", "y", "size", "color", "label"] });
    }
    return rebuild ? graph : null;
  }

  function renderDagCounts() {
    const all = [...state.updates.values()];
    const n = (s) => all.filter((u) => u.status === s).length;
    $("dag-counts").innerHTML = `<span id="dag-total">${all.length}</span> updates: ` +
      `<span id="dag-verified">${n("verified")}</span> verified, ` +
      `<span id="dag-rejected">${n("rejected")}</span> rejected, ` +
      `<span id="dag-pending">${n("pending")}</span> pending · as of block ${state.updatesHeight - 1}`;
  }

  function computeLineage(id) {
    const lineage = new Set(), edges = new Set(), levels = [];
    let frontier = [id];
    while (frontier.length) {
      const next = [];
      for (const child of frontier) {
        const u = state.updates.get(child);
        if (!u) continue;
        for (const p of u.parents) {
          const parent = state.updates.has(p) ? p : state.initial;
          edges.add(`${parent}->${child}`);
          if (!lineage.has(parent)) { lineage.add(parent); next.push(parent); }
        }
      }
      if (next.length) levels.push(next);
      frontier = next;
    }
    state.lineage = lineage;
    state.lineageEdges = edges;
    state.lineageLevels = levels;
  }

  function selectUpdate(id, { focus = false } = {}) {
    const u = state.updates.get(id);
    if (!u) return;
    state.selected = id;
    state.hits = null;
    $("search-results").hidden = true;
    const t0 = performance.now();
    computeLineage(id);
    const t1 = performance.now();
    redraw();
    const t2 = performance.now();
    showDetails(id).then(() => {
      state.selectTimings = { lineage_ms: t1 - t0, redraw_ms: t2 - t1, details_ms: performance.now() - t2 };
    });
    if (focus) {
      const d = state.renderer.getNodeDisplayData(id);
      if (d) state.gesture.flyTo({ x: d.x, y: d.y, ratio: 0.35 }, 300);
    }
  }

  function clearSelection() {
    state.selected = null;
    state.lineage = new Set();
    state.lineageEdges = new Set();
    redraw();
  }

  // The details panel: the update in full (record, every report, verdict), fetched when shown.
  async function showDetails(id) {
    const model = state.model;
    let full;
    try {
      full = (await api(`/api/update?model=${encodeURIComponent(model)}&id=${encodeURIComponent(id)}`)).update;
    } catch (err) {
      $("details").innerHTML = `<p class="warn">${esc(err.message)}</p>`;
      return;
    }
    if (state.selected === id && state.model === model) renderDetails(full);
  }

  const updateLink = (id) => (id === state.initial || !state.updates.has(id)
    ? `<span class="initial">initial weights</span>`
    : `<a class="update" data-update="${esc(id)}">${esc(short(id, 12))}</a>`);
  const txLink = (id, n = 16) => (id ? `<a class="tx mono" data-tx="${esc(id)}">${esc(short(id, n))}…</a>` : "–");

  function renderDetails(u) {
    if (!u) return;
    const v = u.verdict;
    const reports = u.reports.map((r) => `<tr class="report"><td>${esc(r.member)}</td>` +
      `<td class="num">${fmt(r.score)}</td><td>${r.sane ? "sane" : '<b class="warn">not sane</b>'}` +
      `${(r.reasons || []).length ? `: ${esc(r.reasons.join("; "))}` : ""}</td>` +
      `<td title="evaluated in ${fmt(r.evaluation_seconds, 3)} s">${esc(r.block)} ${txLink(r.tx_id, 8)}</td></tr>`).join("");
    const missing = (u.not_reported || []).map((m) => `<tr class="report missing"><td>${esc(m)}</td>` +
      `<td colspan="3" class="muted">${v ? "no report: the quorum reached the verdict " +
        "without this member (a backup reporter reports only when a first one is missing)" :
        "not reported yet"}</td></tr>`).join("");
    const levels = state.lineageLevels || [];
    let shown = 0;
    const lineage = levels.map((level, i) => {
      const items = level.slice(0, Math.max(0, 60 - shown));
      shown += items.length;
      const more = level.length - items.length;
      return `<li>${i + 1} generation${i ? "s" : ""} back: ` + items.map((id) => {
        if (id === state.initial) return `<span class="initial">initial weights <code>${esc(short(state.initialCid, 16))}…</code></span>`;
        const a = state.updates.get(id);
        return `${updateLink(id)} <span class="muted">(${esc(a.provider.split("/").pop())}, ${esc(a.status)})</span>`;
      }).join(", ") + (more > 0 ? ` …and ${more} more` : "") + "</li>";
    }).join("");
    const ancestors = [...state.lineage].filter((id) => id !== state.initial).length;
    $("details").innerHTML =
      `<h3>Update <code id="detail-update-id">${esc(u.update_id)}</code> ` +
      `<span id="detail-status">${badge(u.status)}</span></h3>` +
      (u.malicious ? '<p class="warn">⚠ made by a malicious provider (the run\'s adversary)</p>' : "") +
      `<dl><dt>provider</dt><dd id="detail-provider">${esc(u.provider)}</dd>` +
      `<dt>median score</dt><dd id="detail-score">${fmt(u.median_score)}</dd>` +
      `<dt>round</dt><dd>${u.round ? esc(u.round) : "– (gossip)"}</dd>` +
      `<dt>samples</dt><dd id="detail-samples">${esc(u.samples)}</dd>` +
      `<dt>claimed time</dt><dd id="detail-claimed">${fmt(u.training_seconds, 3)} s of training</dd>` +
      (u.sim_seconds !== null && u.sim_seconds !== undefined ? `<dt>simulated</dt><dd>submitted at ${fmt(u.sim_seconds, 1)} s</dd>` : "") +
      `<dt>submitted</dt><dd>${esc(u.submitted_at)} (block ${esc(u.block)})</dd>` +
      `<dt>weights CID</dt><dd><code id="detail-cid">${esc(u.weights_cid)}</code></dd>` +
      `<dt>transaction</dt><dd>${txLink(u.tx_id)}</dd>` +
      `<dt>parents</dt><dd id="detail-parents">${u.parents.map(updateLink).join(", ")}</dd>` +
      privacyDetail(u) +
      (u.selection && Object.keys(u.selection).length ? `<dt>selection</dt><dd>${esc(JSON.stringify(u.selection))}</dd>` : "") +
      `</dl><h3>Verdict</h3>` +
      (v ? `<p id="detail-reason">${esc(v.reason)}</p><p class="muted">${esc(v.sane_votes)} of ${esc(v.reports)} ` +
        `reports sane; finalized ${esc(v.finalized_at)} in block ${esc(v.block)} ${txLink(v.tx_id)}</p>`
        : '<p id="detail-reason" class="muted">no verdict yet</p>') +
      `<h3>Committee reports</h3><table id="report-rows"><tr><th>member</th><th>score</th>` +
      `<th>sanity</th><th>block, tx</th></tr>${reports}${missing}</table>` +
      `<h3>Lineage: <span id="lineage-count">${ancestors}</span> ancestor updates back to the initial weights</h3>` +
      `<ul class="lineage" id="lineage-list">${lineage}</ul>`;
  }

  function privacyDetail(u) {
    const p = u.privacy;
    if (!p || p.epsilon === undefined) return "";
    const rule = modelOf(u.model_id)?.rules?.privacy;
    return `<dt>privacy</dt><dd>ε spent by its provider after it: <b id="detail-epsilon">` +
      `${fmt(p.epsilon, 4)}</b>${rule ? ` of ${esc(rule.epsilon)} (δ = ${esc(rule.delta)})` : ""}; ` +
      `${esc(p.steps)} DP-SGD steps at sample rate ${fmt(p.sample_rate, 4)}, noise ` +
      `${fmt(p.noise_multiplier, 4)}, clip ${esc(p.max_grad_norm)}</dd>`;
  }

  $("details").addEventListener("click", (e) => {
    const a = e.target.closest("a.update");
    if (a) selectUpdate(a.dataset.update, { focus: true });
    const t = e.target.closest("a.tx");
    if (t) { showTab("blocks"); findTx(t.dataset.tx); }
  });
  $("reset-view").addEventListener("click", () => {
    clearSelection();
    state.gesture?.flyTo({ x: 0.5, y: 0.5, ratio: 1, angle: 0 }, 300);
  });
  $("zoom-in").addEventListener("click", () => state.gesture?.zoomCentre(1 / 1.7));
  $("zoom-out").addEventListener("click", () => state.gesture?.zoomCentre(1.7));

  // -- search ----------------------------------------------------------------------------
  function search(text) {
    const q = text.trim().toLowerCase();
    const list = $("search-results");
    if (!q) { state.hits = null; list.hidden = true; redraw(); return []; }
    const hits = [];
    for (const u of state.updates.values()) {
      if (u.update_id.startsWith(q) || u.provider.toLowerCase().includes(q) ||
          String(u.weights_cid).toLowerCase().startsWith(q) || String(u.tx_id).startsWith(q)) {
        hits.push(u);
      }
    }
    state.hits = new Set(hits.map((u) => u.update_id));
    state.searched = text;
    state.hitList = hits;
    state.selected = null;
    list.innerHTML = hits.slice(0, 30).map((u, i) => `<li data-update="${esc(u.update_id)}"` +
      `${i === 0 ? ' class="hit"' : ""}>${esc(short(u.update_id, 12))} ${esc(u.provider)} ` +
      `${esc(u.status)} ${fmt(u.median_score, 3)}</li>`).join("") +
      (hits.length > 30 ? `<li class="muted">…${hits.length - 30} more (all highlighted)</li>` : "") +
      (hits.length ? "" : '<li class="muted">no update matches</li>');
    list.hidden = false;
    redraw();
    return hits;
  }
  $("search").addEventListener("input", (e) => search(e.target.value));
  $("search").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      const hits = e.target.value === state.searched ? state.hitList : search(e.target.value);
      if (hits.length) selectUpdate(hits[0].update_id, { focus: true });
    } else if (e.key === "Escape") { e.target.value = ""; search(""); }
  });
  $("search-results").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-update]");
    if (li) selectUpdate(li.dataset.update, { focus: true });
  });

  // -- members ---------------------------------------------------------------------------
  async function loadMembers() {
    const data = await api("/api/members");
    $("orgs").innerHTML = "<tr><th>organization</th><th>members</th><th>roles</th><th>updates</th>" +
      "<th>verified</th><th>rejected</th><th>reports</th><th>not sane</th></tr>" +
      data.organizations.map((o) => `<tr><td>${esc(o.msp_id)}</td><td class="num">${o.members}</td>` +
        `<td>${esc(Object.entries(o.roles).map(([r, n]) => `${n} ${r}`).join(", "))}</td>` +
        `<td class="num">${o.updates}</td><td class="num">${o.verified}</td><td class="num">${o.rejected}</td>` +
        `<td class="num">${o.reports}</td><td class="num">${o.not_sane}</td></tr>`).join("");
    $("members").innerHTML = "<tr><th>member</th><th>role</th><th>committee of</th><th>reports</th>" +
      "<th>not sane</th><th>disagree with verdict</th><th>updates</th><th>verified</th>" +
      "<th>rejected</th><th>flags</th></tr>" +
      data.members.map((m) => `<tr class="member" data-member="${esc(m.member_id)}">` +
        `<td><a class="update">${esc(m.member_id)}</a></td><td>${esc(m.role)}</td>` +
        `<td>${esc(m.committee_of.join(", "))}</td><td class="num">${m.reports}</td>` +
        `<td class="num">${m.not_sane}</td><td class="num">${m.disagreed}</td>` +
        `<td class="num">${m.updates}</td><td class="num">${m.verified}</td>` +
        `<td class="num">${m.rejected}</td><td class="${m.flags.length ? "warn" : ""}">` +
        `${esc(m.flags.join("; ")) || "–"}</td></tr>`).join("");
  }
  $("members").addEventListener("click", async (e) => {
    const tr = e.target.closest("tr.member");
    if (!tr) return;
    for (const row of document.querySelectorAll("tr.member")) row.classList.toggle("selected", row === tr);
    const d = await api(`/api/member?id=${encodeURIComponent(tr.dataset.member)}`);
    const reports = d.reports.slice(0, 200).map((r) => `<tr><td>${esc(r.model_id)}</td>` +
      `<td><code>${esc(short(r.update_id, 12))}</code></td><td class="num">${fmt(r.score)}</td>` +
      `<td>${r.sane ? "sane" : '<b class="warn">not sane</b>'}</td><td>${badge(r.verdict)}</td>` +
      `<td class="num">${r.block}</td></tr>`).join("");
    const dp = d.updates.some((u) => u.privacy && u.privacy.epsilon !== undefined);
    const updates = d.updates.slice(0, 200).map((u) => `<tr><td>${esc(u.model_id)}</td>` +
      `<td><code>${esc(short(u.update_id, 12))}</code></td><td>${badge(u.status)}</td>` +
      `<td class="num">${u.samples}</td>` +
      (dp ? `<td class="num member-eps">${u.privacy?.epsilon === undefined ? "–" : fmt(u.privacy.epsilon, 4)}</td>` : "") +
      `<td class="num">${u.block}</td></tr>`).join("");
    $("member-detail").innerHTML = `<h2>${esc(d.member)}</h2>` +
      (d.total_reports ? `<h3>${d.total_reports} reports</h3><table><tr><th>model</th><th>update</th>` +
        `<th>score</th><th>sanity</th><th>verdict</th><th>block</th></tr>${reports}</table>` : "") +
      (d.total_updates ? `<h3>${d.total_updates} updates</h3><table><tr><th>model</th><th>update</th>` +
        `<th>verdict</th><th>samples</th>${dp ? "<th>ε spent after it</th>" : ""}<th>block</th></tr>` +
        `${updates}</table>` : "") +
      (!d.total_reports && !d.total_updates ? '<p class="muted">no reports, no updates</p>' : "");
  });

  // -- blocks ----------------------------------------------------------------------------
  function blockRows(blocks) {
    return blocks.map((b) => {
      if (b.error) return `<tr class="block-row"><td colspan="7" class="warn">block ${b.number}: ${esc(b.error)}</td></tr>`;
      const head = `<tr class="block-row" data-block="${b.number}"><td colspan="7"><b>block ${b.number}</b> · ` +
        `${b.transactions.length} tx · hash <code>${esc(short(b.hash, 16))}…</code> · previous ` +
        `<code>${esc(short(b.previous_hash, 16) || "–")}</code> · signed by ${esc(b.signer)}</td></tr>`;
      const txs = b.transactions.map((t) => `<tr class="tx" data-tx="${esc(t.tx_id)}"><td class="num">${t.index}</td>` +
        `<td><code>${esc(t.tx_id)}</code></td><td>${badge(t.code)}</td>` +
        `<td>${esc(t.kind === "config" ? t.function : `${t.chaincode}.${t.function}`)}</td>` +
        `<td>${esc(t.creator)}</td><td>${esc((t.endorsers || []).join(", "))}</td>` +
        `<td>${esc((t.writes || []).slice(0, 3).join(" "))}${(t.writes || []).length > 3 ? ` +${t.writes.length - 3}` : ""}</td></tr>`).join("");
      return head + txs;
    }).join("");
  }
  const BLOCKS_HEAD = "<tr><th>#</th><th>tx id</th><th>validation</th><th>function</th>" +
    "<th>creator</th><th>endorsers</th><th>writes</th></tr>";

  async function loadBlocks() {
    const data = await api("/api/blocks?limit=20");
    $("blocks").innerHTML = BLOCKS_HEAD + blockRows(data.blocks);
    state.blocksNewest = data.height;
    state.blocksOldest = data.blocks.length ? data.blocks[data.blocks.length - 1].number : 0;
    renderLedgerFacts();
  }
  async function newerBlocks(height) {
    if (state.blocksNewest === null || height <= state.blocksNewest) return;
    const limit = Math.min(50, height - state.blocksNewest);
    const data = await api(`/api/blocks?before=${height}&limit=${limit}`);
    const head = $("blocks").querySelector("tr");
    head.insertAdjacentHTML("afterend", blockRows(data.blocks));
    state.blocksNewest = height;
  }
  $("older").addEventListener("click", async () => {
    if (!state.blocksOldest) return;
    const data = await api(`/api/blocks?before=${state.blocksOldest}&limit=20`);
    $("blocks").insertAdjacentHTML("beforeend", blockRows(data.blocks));
    if (data.blocks.length) state.blocksOldest = data.blocks[data.blocks.length - 1].number;
  });
  function renderLedgerFacts() {
    const o = state.overview;
    if (!o) return;
    const peers = o.peers.map((p) => `${esc(p.peer)}: height ${esc(p.height)}`).join(", ");
    $("ledger-facts").innerHTML = `<p>Peer copies: ${peers || "none yet"}. ` +
      (o.transactions !== null && o.transactions !== undefined
        ? `At the end of the run: ${esc(o.transactions)} transactions, ${esc(o.valid_transactions)} valid. ` : "") +
      `Audit: ${o.audit === null || o.audit === undefined ? "not yet (the run audits at its end; " +
        "or <code>ledgerlearn ledger audit DIR</code>)" : esc(o.audit)}.</p>`;
  }
  async function findTx(id) {
    $("tx-search").value = id;
    try {
      const d = await api(`/api/tx?id=${encodeURIComponent(id.trim())}`);
      $("tx-found").innerHTML = `block ${d.block}, tx ${d.index}: ${badge(d.tx.code)} ` +
        `${esc(d.tx.function)} by ${esc(d.tx.creator)} at ${esc(d.tx.timestamp)}`;
    } catch (err) {
      $("tx-found").innerHTML = `<span class="warn">${esc(err.message)}</span>`;
    }
  }
  $("tx-find").addEventListener("click", () => findTx($("tx-search").value));
  $("tx-search").addEventListener("keydown", (e) => { if (e.key === "Enter") findTx(e.target.value); });

  // -- live ------------------------------------------------------------------------------
  async function refresh(version) {
    const filesChanged = JSON.stringify(version.files) !== JSON.stringify(state.files);
    state.overview = await api("/api/overview");
    state.summary = state.overview.summary;
    renderHeader(state.overview);
    renderRunSummary(state.summary);
    renderModels(state.overview);
    renderLedgerFacts();
    if (state.tab === "dag") ensureGraph();
    if (state.model && state.graph) {
      if (filesChanged) { state.updates = new Map(); state.graph.clear(); await loadUpdates(0); }
      else if (version.height > state.updatesHeight) await loadUpdates(state.updatesHeight);
    }
    await newerBlocks(version.height);
    if (state.tab === "members") await loadMembers();
    state.files = version.files;
    state.height = version.height;
  }

  async function poll() {
    try {
      const version = await api("/api/version");
      if (version.version !== state.versionKey) {
        await refresh(version);
        state.versionKey = version.version;
      }
      state.lastPoll = new Date();
      state.polls += 1;
      $("live").textContent = (state.summary ? "run finished" : "live") +
        ` · checked ${state.lastPoll.toLocaleTimeString()}`;
    } catch (err) {
      $("live").textContent = `server unreachable (${err.message})`;
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
