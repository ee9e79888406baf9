/* Web UI of the backtest and live services: plain JavaScript over the REST API, no build step.
 * Views (by URL hash): #/ new run + runs, #/runs, #/runs/{id}, #/compare[/{a}/{b}],
 * #/live (start a paper or live session + sessions), #/live/{id} (one session, polled).
 * Every text from the server is set with textContent (never parsed as HTML). */
"use strict";

const API = "/api";
const FINISHED = new Set(["done", "failed", "cancelled"]);
const PERCENT_WORDS = ["rate", "apy", "apr", "volatility", "drawdown", "share", "return"];
const TOP_FIELDS = new Set(["mode", "description", "share_class", "asset", "start", "end",
  "initial_capital"]);
const PAGE_ROWS = 50;
let modes = [];
let view = 0; // bumped on every navigation: stale pollers stop

/* ---------- small helpers ---------- */

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function announce(text) { document.getElementById("announce").textContent = text; }

function token() { return document.getElementById("api-token").value.trim(); }

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && token()) {
    headers.Authorization = "Bearer " + token();
  }
  const response = await fetch(API + path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body && body.error) || { code: "http_" + response.status, message: response.statusText };
    throw Object.assign(new Error(error.message), { code: error.code, field: error.field, status: response.status });
  }
  return body;
}

function percentKey(key) {
  const name = key.toLowerCase();
  return PERCENT_WORDS.some((word) => name.includes(word));
}

function formatValue(key, value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return typeof value === "object" ? JSON.stringify(value) : String(value);
  if (!Number.isFinite(value)) return String(value);
  if (/(^|_)hours$/.test(key)) return Math.round(value).toLocaleString("en-US");
  if (percentKey(key)) return (value * 100).toFixed(4) + " %";
  if (Math.abs(value) >= 1) return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
  return Number(value.toPrecision(6)).toString();
}

function flatten(object, prefix = "", out = []) {
  for (const [key, value] of Object.entries(object)) {
    const name = prefix + key;
    if (value && typeof value === "object" && !Array.isArray(value)) flatten(value, name + ".", out);
    else out.push([name, value]);
  }
  return out;
}

function table(header, rows, numeric = () => false) {
  const head = el("tr", {}, ...header.map((h) => el("th", { scope: "col", text: h })));
  const body = rows.map((row) => el("tr", {}, ...row.map((cell, i) =>
    i === 0 && header[0] !== "" ? el("th", { scope: "row", text: cell }) :
      el("td", { class: numeric(i, cell) ? "num" : null, text: cell }))));
  return el("div", { class: "scroll" }, el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
}

function statusText(record) {
  return el("span", { class: "status-" + record.status, text: record.status });
}

function progressBar(record, id) {
  const percent = Math.round(record.progress * 100);
  return el("progress", { id, max: "100", value: String(percent), "aria-label": "progress",
    "aria-valuetext": percent + " %" });
}

function utc(text) { return text ? text.replace("T", " ").slice(0, 19) + " UTC" : "—"; }

/* ---------- new run form (generated from the mode's JSON schema and defaults) ---------- */

function resolve(schema, root) {
  let nullable = false;
  let current = schema;
  if (current.anyOf) {
    const branches = current.anyOf.filter((s) => s.type !== "null");
    nullable = branches.length < current.anyOf.length;
    if (branches.length === 1) current = { ...current, ...branches[0], anyOf: undefined };
  }
  if (current.$ref) {
    const name = current.$ref.split("/").pop();
    current = { ...root.$defs[name], ...current, $ref: undefined };
  }
  return { schema: current, nullable };
}

function controlId(path) { return "f-" + path.replace(/[^a-zA-Z0-9_-]/g, "-"); }

function hint(schema) {
  const parts = [];
  if (schema.minimum !== undefined) parts.push("≥ " + schema.minimum);
  if (schema.exclusiveMinimum !== undefined) parts.push("> " + schema.exclusiveMinimum);
  if (schema.maximum !== undefined) parts.push("≤ " + schema.maximum);
  if (schema.exclusiveMaximum !== undefined) parts.push("< " + schema.exclusiveMaximum);
  return parts.join(", ");
}

function scalarControl(path, schema, value, nullable) {
  const id = controlId(path);
  const common = { id, name: path, "data-path": path, "data-default": JSON.stringify(value) };
  if (schema.type === "boolean") {
    return el("input", { ...common, type: "checkbox", "data-kind": "bool", checked: value === true });
  }
  if (schema.type === "number" || schema.type === "integer") {
    return el("input", { ...common, type: "number", "data-kind": "number",
      step: schema.type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum,
      value: value === null ? "" : String(value), placeholder: nullable ? "(none)" : null });
  }
  if (schema.enum) {
    const select = el("select", { ...common, "data-kind": "text" },
      ...schema.enum.map((option) => el("option", { value: option, text: option })));
    select.value = value;
    return select;
  }
  if (schema.type === "string") {
    return el("input", { ...common, type: "text", "data-kind": "text", value: value ?? "" });
  }
  return el("textarea", { ...common, "data-kind": "json", rows: "2" }, JSON.stringify(value));
}

function field(path, label, control, extra = "") {
  const id = control.id;
  return el("div", { class: "field" },
    el("label", { for: id, text: label }), control,
    extra ? el("span", { class: "hint", id: id + "-hint", text: extra }) : null);
}

function renderNode(path, key, rawSchema, value, root) {
  const { schema, nullable } = resolve(rawSchema, root);
  const title = schema.title || key;
  if (value === null && (schema.properties || schema.type === "object")) return null; // section not used
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const set = el("fieldset", {}, el("legend", { text: title }));
    const props = schema.properties || {};
    const extra = typeof schema.additionalProperties === "object" ? schema.additionalProperties : null;
    for (const [name, item] of Object.entries(value)) {
      const child = props[name] || extra;
      if (!child) continue;
      const node = renderNode(path + "." + name, name, child, item, root);
      if (node) set.append(node);
    }
    return set;
  }
  if (Array.isArray(value) || (schema.type === "array")) {
    const control = el("textarea", { id: controlId(path), name: path, "data-path": path,
      "data-kind": "json", "data-default": JSON.stringify(value), rows: value.length > 1 ? "3" : "1" });
    control.value = JSON.stringify(value);
    return field(path, title + " (JSON)", control, "a JSON list");
  }
  const control = scalarControl(path, schema, value, nullable);
  const note = hint(schema);
  if (note) control.setAttribute("aria-describedby", control.id + "-hint");
  return field(path, title, control, note);
}

function readControl(control) {
  const kind = control.dataset.kind;
  if (kind === "bool") return control.checked;
  if (kind === "number") return control.value === "" ? null : Number(control.value);
  if (kind === "json") {
    try { return JSON.parse(control.value); } catch (error) {
      throw Object.assign(new Error(control.dataset.path + ": not valid JSON"), { field: control.dataset.path });
    }
  }
  return control.value;
}

function collectRequest(form) {
  const request = {
    mode: form.elements.mode.value,
    start: form.elements.start.value + ":00Z",
    end: form.elements.end.value + ":00Z",
    capital: Number(form.elements.capital.value),
    overrides: {},
  };
  for (const control of form.querySelectorAll("[data-path]")) {
    const value = readControl(control);
    if (JSON.stringify(value) !== control.dataset.default) request.overrides[control.dataset.path] = value;
  }
  return request;
}

function showFormError(form, box, error) {
  box.textContent = error.message;
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const fieldName = error.field === "initial_capital" ? "capital" : error.field;
  const target = fieldName && (form.querySelector(`[data-path="${CSS.escape(fieldName)}"]`) ||
    form.querySelector(`[data-path^="${CSS.escape(fieldName + ".")}"]`) || form.elements[fieldName]);
  if (target && target.focus) { target.setAttribute("aria-invalid", "true"); target.focus(); }
}

function modeFields(mode) {
  const root = mode.json_schema;
  const box = el("div", { id: "mode-fields" });
  const scalars = el("fieldset", {}, el("legend", { text: "Settings" }));
  const sections = [];
  for (const [key, value] of Object.entries(mode.defaults)) {
    if (TOP_FIELDS.has(key) || !root.properties[key]) continue;
    const node = renderNode(key, key, root.properties[key], value, root);
    if (!node) continue;
    if (node.tagName === "FIELDSET") sections.push(node); else scalars.append(node);
  }
  box.append(el("p", { class: "muted", text: mode.summary }), scalars, ...sections);
  return box;
}

function setWindow(form, mode) {
  form.elements.start.value = mode.defaults.start.slice(0, 16);
  form.elements.end.value = mode.defaults.end.slice(0, 16);
  form.elements.capital.value = String(mode.defaults.initial_capital);
  document.getElementById("capital-unit").textContent = mode.defaults.asset === "ETH" ? "ETH" : "USDT";
}

function runForm() {
  const error = el("p", { class: "error", role: "alert", id: "form-error" });
  const select = el("select", { id: "mode", name: "mode" },
    ...modes.map((m) => el("option", { value: m.name, text: m.name })));
  const form = el("form", { class: "run", "aria-labelledby": "new-run-title", novalidate: true },
    error,
    field("mode", "Mode", select),
    field("start", "Start (UTC)", el("input", { id: "start", name: "start", type: "datetime-local", step: "3600", required: true })),
    field("end", "End (UTC)", el("input", { id: "end", name: "end", type: "datetime-local", step: "3600", required: true })),
    field("capital", "Initial capital", el("input", { id: "capital", name: "capital", type: "number", step: "any", min: "0", required: true }),
      ""),
    el("p", { class: "muted" }, "Capital in ", el("span", { id: "capital-unit" }), "."),
    el("div", { id: "mode-fields" }),
    el("div", {}, el("button", { type: "submit", id: "submit" }, "Run backtest")));
  const show = () => {
    const mode = modes.find((m) => m.name === select.value);
    setWindow(form, mode);
    form.querySelector("#mode-fields").replaceWith(modeFields(mode));
  };
  select.addEventListener("change", show);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const button = form.querySelector("#submit");
    button.disabled = true;
    try {
      const record = await api("/backtests", { method: "POST", body: JSON.stringify(collectRequest(form)) });
      announce("Run " + record.id + " submitted");
      location.hash = "#/runs/" + encodeURIComponent(record.id);
    } catch (err) {
      showFormError(form, error, err);
    } finally {
      button.disabled = false;
    }
  });
  const preferred = modes.find((m) => m.name === "btc_basis") ? "btc_basis" : modes[0].name;
  select.value = preferred;
  queueMicrotask(show);
  return form;
}

/* ---------- runs list ---------- */

function runsList(me, state = { offset: 0, mode: "", status: "" }) {
  const box = el("section", { "aria-labelledby": "runs-title" }, el("h2", { id: "runs-title", text: "Runs" }));
  const modeFilter = el("select", { id: "filter-mode" }, el("option", { value: "", text: "all modes" }),
    ...modes.map((m) => el("option", { value: m.name, text: m.name })));
  const statusFilter = el("select", { id: "filter-status" }, el("option", { value: "", text: "all statuses" }),
    ...["queued", "running", "done", "failed", "cancelled"].map((s) => el("option", { value: s, text: s })));
  const compare = el("button", { type: "button", id: "compare-selected", class: "secondary", disabled: true },
    "Compare the two selected");
  const prev = el("button", { type: "button", class: "secondary" }, "Previous");
  const next = el("button", { type: "button", class: "secondary" }, "Next");
  const counter = el("span", { class: "muted" });
  const holder = el("div");
  const selected = new Set();
  box.append(el("div", { class: "toolbar" },
    el("label", { for: "filter-mode", text: "Mode" }), modeFilter,
    el("label", { for: "filter-status", text: "Status" }), statusFilter, compare), holder,
    el("div", { class: "toolbar" }, prev, next, counter));
  let seq = 0; // one refresh loop: a newer call ends the older one
  const refresh = async () => {
    const mine = ++seq;
    if (me !== view) return;
    const query = new URLSearchParams({ limit: "20", offset: String(state.offset) });
    if (state.mode) query.set("mode", state.mode);
    if (state.status) query.set("status", state.status);
    try {
      const page = await api("/backtests?" + query);
      if (me !== view || mine !== seq) return;
      holder.replaceChildren(runsTable(page.items, selected, compare));
      if (page.damaged.length) {
        holder.append(el("p", { class: "error", text: `${page.damaged.length} damaged run record(s) on this page: ` +
          page.damaged.map((d) => `${d.id} (${d.reason})`).join("; ") }));
      }
      counter.textContent = page.total ? `runs ${page.offset + 1}–${page.offset + page.items.length} of ${page.total}` : "no runs match";
      prev.disabled = state.offset === 0;
      next.disabled = state.offset + page.items.length >= page.total;
    } catch (err) {
      if (mine !== seq) return;
      holder.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
    }
    setTimeout(() => { if (mine === seq) refresh(); }, 2000);
  };
  const reload = () => refresh();
  modeFilter.addEventListener("change", () => { state.mode = modeFilter.value; state.offset = 0; reload(); });
  statusFilter.addEventListener("change", () => { state.status = statusFilter.value; state.offset = 0; reload(); });
  prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - 20); reload(); });
  next.addEventListener("click", () => { state.offset += 20; reload(); });
  compare.addEventListener("click", () => {
    const [a, b] = [...selected];
    location.hash = `#/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`;
  });
  refresh();
  return box;
}

function runsTable(items, selected, compare) {
  if (!items.length) return el("p", { class: "muted", text: "No runs match." });
  const rows = items.map((record) => {
    const check = el("input", { type: "checkbox", "aria-label": "select " + record.id,
      disabled: record.status !== "done", checked: selected.has(record.id) });
    check.addEventListener("change", () => {
      if (check.checked) selected.add(record.id); else selected.delete(record.id);
      compare.disabled = selected.size !== 2;
    });
    return el("tr", {},
      el("td", {}, check),
      el("td", {}, el("a", { href: "#/runs/" + encodeURIComponent(record.id), text: record.id })),
      el("td", { text: record.mode }),
      el("td", {}, statusText(record)),
      el("td", {}, progressBar(record), " " + Math.round(record.progress * 100) + " %"),
      el("td", { text: utc(record.submitted_at) }));
  });
  const head = el("tr", {}, ...["", "run", "mode", "status", "progress", "submitted"].map((h) => el("th", { scope: "col", text: h })));
  return el("div", { class: "scroll" }, el("table", { id: "runs-table" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

/* ---------- one run: progress, then results ---------- */

function pagedTable(title, path, id) {
  const box = el("section", { "aria-labelledby": id + "-title" }, el("h2", { id: id + "-title", text: title }));
  const holder = el("div", { id });
  const prev = el("button", { type: "button", class: "secondary" }, "Previous");
  const next = el("button", { type: "button", class: "secondary" }, "Next");
  const counter = el("span", { class: "muted", "aria-live": "polite" });
  let offset = 0;
  const load = async () => {
    try {
      const page = await api(`${path}?offset=${offset}&limit=${PAGE_ROWS}`);
      const rows = page.rows.map((row) => row.map((cell) => {
        const text = cell === null ? "" : String(cell);
        return text.length > 80 ? text.slice(0, 77) + "…" : text;
      }));
      holder.replaceChildren(table(page.columns, rows, (i, cell) => /^-?[\d.,e+-]+$/.test(cell)));
      counter.textContent = `rows ${page.total ? offset + 1 : 0}–${offset + page.rows.length} of ${page.total}`;
      prev.disabled = offset === 0;
      next.disabled = offset + page.rows.length >= page.total;
    } catch (err) {
      holder.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
    }
  };
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_ROWS); load(); });
  next.addEventListener("click", () => { offset += PAGE_ROWS; load(); });
  box.append(el("div", { class: "toolbar" }, prev, next, counter), holder);
  load();
  return box;
}

function summaryTable(summary) {
  const keys = ["mode", "start", "end", "initial_capital", "final_equity", "total_return", "apy",
    "max_drawdown", "cumulative_pnl", "reconciliation_residual", "liquidations", "hours", "events"];
  const head = keys.filter((k) => k in summary).map((k) => [k, formatValue(k, summary[k])]);
  const attribution = Object.entries(summary.pnl_attribution || {}).map(([k, v]) => ["pnl_attribution." + k, formatValue(k, v)]);
  const metrics = flatten(summary.metrics || {}, "metrics.").map(([k, v]) => [k, formatValue(k, v)]);
  return el("div", {},
    el("h2", { text: "Summary" }), table(["figure", "value"], [...head, ...attribution], (i) => i === 1),
    el("details", {}, el("summary", { text: "All metrics" }), table(["metric", "value"], metrics, (i) => i === 1)));
}

async function showResults(record, holder) {
  const base = "/api/backtests/" + encodeURIComponent(record.id);
  const summary = await api("/backtests/" + encodeURIComponent(record.id) + "/summary");
  const files = ["summary.json", "hourly_pnl.csv", "balance_sheet.csv", "event_log.csv"];
  holder.replaceChildren(
    el("p", {}, el("a", { href: base + "/report", target: "_blank", rel: "noopener", id: "report-link" }, "Open the report in a new tab"),
      " · files: ", ...files.flatMap((f, i) => [i ? " · " : "", el("a", { href: base + "/" + f, text: f })])),
    summaryTable(summary),
    el("h2", { text: "Report" }),
    el("iframe", { class: "report", id: "report-frame", title: "Run report with plots", src: base + "/report" }),
    pagedTable("Event log", "/backtests/" + encodeURIComponent(record.id) + "/events", "events"),
    pagedTable("Balance sheet", "/backtests/" + encodeURIComponent(record.id) + "/balance-sheet", "balance"));
}

function runPage(me, id) {
  const title = el("h1", { text: "Run " + id });
  const status = el("p", { id: "run-status" });
  const bar = el("progress", { id: "run-progress", max: "100", value: "0", "aria-label": "run progress" });
  const percent = el("span", { id: "run-percent", text: "0 %" });
  const cancel = el("button", { type: "button", class: "secondary", id: "cancel", hidden: true }, "Cancel run");
  const failure = el("p", { class: "error", role: "alert", id: "run-error" });
  const results = el("div", { id: "results" });
  cancel.addEventListener("click", async () => {
    try { await api("/backtests/" + encodeURIComponent(id), { method: "DELETE" }); }
    catch (err) { failure.textContent = err.message; }
  });
  const poll = async () => {
    if (me !== view) return;
    let record;
    try { record = await api("/backtests/" + encodeURIComponent(id)); }
    catch (err) { failure.textContent = err.message; return; }
    if (me !== view) return;
    const value = Math.round(record.progress * 100);
    bar.value = value;
    bar.setAttribute("aria-valuetext", value + " %");
    percent.textContent = value + " %";
    status.replaceChildren(`${record.mode} · submitted ${utc(record.submitted_at)} · `, statusText(record));
    cancel.hidden = FINISHED.has(record.status);
    if (!FINISHED.has(record.status)) { setTimeout(poll, 1000); return; }
    announce("Run " + record.status);
    if (record.status === "done") {
      showResults(record, results).catch((err) => { failure.textContent = err.message; });
    } else if (record.error) {
      failure.textContent = "Failed: " + record.error;
    }
  };
  poll();
  return el("section", {}, title, status, el("div", { class: "toolbar" }, bar, percent, cancel), failure, results);
}

/* ---------- compare two runs ---------- */

function comparePage(me, a, b) {
  const box = el("section", {}, el("h1", { text: "Compare two runs" }));
  const pickA = el("select", { id: "compare-a" });
  const pickB = el("select", { id: "compare-b" });
  const go = el("button", { type: "submit" }, "Compare");
  const form = el("form", { class: "toolbar" }, el("label", { for: "compare-a", text: "Run A" }), pickA,
    el("label", { for: "compare-b", text: "Run B" }), pickB, go);
  const holder = el("div", { id: "comparison" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/compare/${encodeURIComponent(pickA.value)}/${encodeURIComponent(pickB.value)}`;
  });
  api("/backtests?status=done&limit=200").then((page) => {
    for (const pick of [pickA, pickB]) {
      pick.append(...page.items.map((r) => el("option", { value: r.id, text: `${r.id} (${r.mode})` })));
    }
    if (a) pickA.value = a;
    if (b) pickB.value = b;
  }).catch((err) => holder.replaceChildren(el("p", { class: "error", role: "alert", text: err.message })));
  box.append(form, holder,
    el("p", { class: "muted", text: "For overlaid plots of several runs: basis compare RUN_DIR RUN_DIR." }));
  if (a && b) {
    Promise.all([a, b].map((id) => api("/backtests/" + encodeURIComponent(id) + "/summary")))
      .then(([left, right]) => { if (me === view) holder.replaceChildren(comparison(a, b, left, right)); })
      .catch((err) => holder.replaceChildren(el("p", { class: "error", role: "alert", text: err.message })));
  }
  return box;
}

function comparison(a, b, left, right) {
  const strip = ({ config, data_bridges, data_files, ...rest }) => rest;
  const l = new Map(flatten(strip(left)));
  const r = new Map(flatten(strip(right)));
  const keys = [...new Set([...l.keys(), ...r.keys()])];
  const rows = keys.map((key) => {
    const x = l.get(key);
    const y = r.get(key);
    const diff = typeof x === "number" && typeof y === "number" ? formatValue(key, y - x) : "";
    return [key, formatValue(key, x), formatValue(key, y), diff];
  });
  return el("div", {}, el("p", { class: "muted", text: `A = ${a}, B = ${b}` }),
    table(["metric", "A", "B", "B − A"], rows, (i) => i > 0));
}

/* ---------- live and paper sessions ---------- */

const LIVE_POLL_MS = 1000;
const EVENT_ROWS = 20;
const EVENT_COLUMNS = ["seq", "timestamp", "event_type", "venue", "instrument", "amount", "price",
  "pnl_component", "pnl_amount", "note"];

// Calls `tick` every LIVE_POLL_MS while this view is shown and the tab visible; a hidden tab
// polls nothing and refreshes at once when it is shown again.
function poller(me, tick) {
  let timer = null;
  let running = false;
  const run = async () => {
    timer = null;
    if (me !== view) { document.removeEventListener("visibilitychange", wake); return; }
    if (document.visibilityState !== "visible" || running) return;
    running = true;
    try { await tick(); } finally { running = false; }
    if (me === view && timer === null) timer = setTimeout(run, LIVE_POLL_MS);
  };
  const wake = () => {
    if (me !== view) { document.removeEventListener("visibilitychange", wake); return; }
    if (document.visibilityState === "visible" && timer === null) run();
  };
  document.addEventListener("visibilitychange", wake);
  run();
  return () => { if (timer !== null) { clearTimeout(timer); timer = null; } run(); };
}

function stateBadge(session, id) {
  const mode = session.stop_mode ? ` (${session.stop_mode})` : "";
  return el("span", { id, class: "state state-" + session.state, text: session.state.toUpperCase() + mode });
}

// A session is running while its process beats; one that stopped beating without finishing
// (hung, crashed, killed) is unhealthy: it may hold positions until an operator acts.
function processText(s) {
  if (s.running) return s.healthy ? "running, healthy" : "running, SILENT past its heartbeat limit";
  return s.healthy ? "ended" : "NOT BEATING, unfinished";
}

function seconds(value) { return value === null || value === undefined ? "—" : value.toFixed(1) + " s"; }

// cents for dollar share classes, six decimals for ETH and BTC ones
function money(value, currency) {
  if (value === null || value === undefined) return "—";
  const digits = ["USDT", "USDC", "USD"].includes(currency) ? 2 : 6;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) + " " + currency;
}

function eventCell(name, value) {
  if (value === null || value === undefined) return "";
  if (name === "timestamp") return utc(String(value));
  if (typeof value === "number" && name !== "seq") return Number(value.toPrecision(10)).toString();
  const text = String(value);
  return text.length > 80 ? text.slice(0, 77) + "…" : text;
}

function liveForm() {
  const error = el("p", { class: "error", role: "alert", id: "live-form-error" });
  const mode = el("select", { id: "live-mode", name: "mode" },
    ...modes.map((m) => el("option", { value: m.name, text: m.name })));
  const execution = el("select", { id: "live-execution", name: "execution" },
    el("option", { value: "paper", text: "paper (simulated venues)" }),
    el("option", { value: "live", text: "live (real orders)" }));
  const form = el("form", { class: "run", "aria-labelledby": "live-start-title", novalidate: true },
    error,
    field("live-mode", "Mode", mode),
    field("live-execution", "Execution", execution),
    el("div", { class: "field", id: "live-enable-field", hidden: true },
      el("label", { for: "live-enable", text: "Enable live trading" }),
      el("input", { id: "live-enable", name: "enable_live_trading", type: "checkbox", "aria-describedby": "live-enable-hint" }),
      el("span", { class: "hint", id: "live-enable-hint",
        text: "real orders: the server must also set BASIS_LIVE_TRADING=enabled and hold the venues' credentials" })),
    field("live-interval", "Cycle interval", el("input", { id: "live-interval", name: "interval", type: "text", value: "1h",
      "aria-describedby": "live-interval-hint" }), "seconds, or with a unit: 1h, 15m, 30s"),
    field("live-replay", "Replay from (UTC)", el("input", { id: "live-replay", name: "replay_start", type: "datetime-local",
      step: "3600", value: "2025-03-01T00:00", "aria-describedby": "live-replay-hint" }),
      "stored history replayed from this hour (paper only); empty: live feeds"),
    field("live-speed", "Replay speed", el("input", { id: "live-speed", name: "speed", type: "number", step: "any", min: "1",
      value: "3600", "aria-describedby": "live-speed-hint" }), "replayed seconds per wall second (3600: one hour a second)"),
    field("live-cycles", "Cycles", el("input", { id: "live-cycles", name: "max_cycles", type: "number", step: "1", min: "1",
      value: "48", "aria-describedby": "live-cycles-hint" }), "empty: until stopped"),
    field("live-overrides", "Overrides (JSON)", el("textarea", { id: "live-overrides", name: "overrides", rows: "2",
      "aria-describedby": "live-overrides-hint" }, "{}"), "dotted config keys, e.g. {\"hedge.delta_tolerance\": 0.02}"),
    el("div", {}, el("button", { type: "submit", id: "live-start" }, "Start session")));
  mode.value = modes.find((m) => m.name === "btc_basis") ? "btc_basis" : modes[0].name;
  execution.addEventListener("change", () => {
    const live = execution.value === "live";
    form.querySelector("#live-enable-field").hidden = !live;
    if (live) form.elements.replay_start.value = ""; // live trades on live data
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    const button = form.querySelector("#live-start");
    button.disabled = true;
    try {
      const request = liveRequest(form);
      const session = await api("/live", { method: "POST", body: JSON.stringify(request) });
      announce("Session " + session.session_id + " started");
      location.hash = "#/live/" + encodeURIComponent(session.session_id);
    } catch (err) {
      error.textContent = err.message;
      const names = { replay_start: "live-replay", max_cycles: "live-cycles", interval: "live-interval",
        speed: "live-speed", execution: "live-execution", mode: "live-mode", enable_live_trading: "live-enable" };
      const key = err.field && (names[err.field] || (err.field.startsWith("overrides") ? "live-overrides" : null));
      const target = key && document.getElementById(key);
      if (target) { target.setAttribute("aria-invalid", "true"); target.focus(); }
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function liveRequest(form) {
  const value = (name) => form.elements[name].value.trim();
  let overrides;
  try { overrides = JSON.parse(value("overrides") || "{}"); } catch (error) {
    throw Object.assign(new Error("overrides: not valid JSON"), { field: "overrides" });
  }
  const interval = value("interval");
  const request = {
    mode: value("mode"),
    execution: value("execution"),
    interval: /^\d+(\.\d+)?$/.test(interval) ? Number(interval) : interval,
    overrides,
  };
  if (request.execution === "live") request.enable_live_trading = form.elements.enable_live_trading.checked;
  if (value("replay_start")) {
    request.replay_start = value("replay_start") + ":00Z";
    request.speed = Number(value("speed"));
  }
  if (value("max_cycles")) request.max_cycles = Number(value("max_cycles"));
  return request;
}

function sessionsTable(items) {
  if (!items.length) return el("p", { class: "muted", text: "No sessions yet." });
  const rows = items.map((s) => el("tr", {},
    el("td", {}, el("a", { href: "#/live/" + encodeURIComponent(s.session_id), text: s.session_id })),
    el("td", { text: s.mode }),
    el("td", { text: s.execution }),
    el("td", {}, stateBadge(s)),
    el("td", { class: s.healthy ? null : "error", text: processText(s) }),
    el("td", { class: "num", text: String(s.cycles) }),
    el("td", { class: "num", text: money(s.equity, s.currency) }),
    el("td", { class: "num", text: money(s.pnl, s.currency) }),
    el("td", { class: "num", text: seconds(s.heartbeat_age_s) })));
  const head = el("tr", {}, ...["session", "mode", "execution", "state", "process", "cycles", "equity", "P&L",
    "heartbeat age"].map((h) => el("th", { scope: "col", text: h })));
  return el("div", { class: "scroll" }, el("table", { id: "sessions-table" }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function livePage(me) {
  const holder = el("div", { id: "sessions" });
  poller(me, async () => {
    try {
      const items = await api("/live");
      if (me === view) holder.replaceChildren(sessionsTable(items));
    } catch (err) {
      if (me === view) holder.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
    }
  });
  return el("div", {},
    el("h1", { id: "live-start-title", text: "Start a paper or live session" }), liveForm(),
    el("section", { "aria-labelledby": "sessions-title" }, el("h2", { id: "sessions-title", text: "Sessions" }), holder));
}

function positionsTable(positions) {
  const rows = [];
  for (const [venue, held] of Object.entries(positions)) {
    for (const [key, qty] of Object.entries(held)) rows.push([venue, key, formatValue(key, qty)]);
  }
  if (!rows.length) return el("p", { class: "muted", text: "No positions." });
  return table(["venue", "position", "quantity"], rows, (i) => i === 2);
}

function riskTable(risk) {
  const rows = flatten(risk).map(([key, value]) => [key, formatValue(key, value)]);
  if (!rows.length) return el("p", { class: "muted", text: "No risk figures yet." });
  return table(["risk figure", "value"], rows, (i) => i === 1);
}

function eventsTable(events) {
  if (!events.length) return el("p", { class: "muted", text: "No events yet." });
  const rows = events.map((row) => EVENT_COLUMNS.map((name) => eventCell(name, row[name])));
  return table(EVENT_COLUMNS, rows, (i, cell) => /^-?[\d.,e+-]+$/.test(cell));
}

function sessionFigures(s) {
  const rows = [
    ["process", processText(s)],
    ["feed", s.feed],
    ["cycles", String(s.cycles)],
    ["stepped", String(s.stepped)],
    ["skipped", String(s.skipped)],
    ["halted", String(s.halted)],
    ["last cycle", utc(s.last_cycle_at)],
    ["heartbeat age", seconds(s.heartbeat_age_s)],
    ["data age", seconds(s.data_age_s)],
    ["equity", money(s.equity, s.currency)],
    ["cumulative P&L", money(s.pnl, s.currency)],
    ["NAV per share", formatValue("nav", s.nav_per_share)],
  ];
  if (s.reason) rows.push(["reason", s.reason]);
  return table(["figure", "value"], rows, (i) => i === 1);
}

function sessionPage(me, id) {
  const title = el("h1", { text: "Session " + id });
  const summary = el("p", { id: "live-summary" });
  const failure = el("p", { class: "error", role: "alert", id: "live-error" });
  const stop = el("button", { type: "button", class: "secondary", id: "live-stop" }, "Stop");
  const stopMode = el("select", { id: "live-stop-mode" },
    el("option", { value: "freeze", text: "freeze (send nothing more)" }),
    el("option", { value: "flatten", text: "flatten (close positions, then freeze)" }));
  const emergency = el("button", { type: "button", class: "danger", id: "live-emergency" }, "Emergency stop");
  const resume = el("button", { type: "button", class: "secondary", id: "live-resume" }, "Resume");
  const holders = {
    figures: el("div", { id: "live-figures" }),
    positions: el("div", { id: "live-positions" }),
    risk: el("div", { id: "live-risk" }),
    venues: el("div", { id: "live-venues" }),
    alerts: el("div", { id: "live-alerts" }),
    events: el("div", { id: "live-events" }),
  };
  let refresh = () => {};
  const act = async (path, body) => {
    failure.textContent = "";
    try {
      await api("/live/" + encodeURIComponent(id) + path, { method: "POST", body: body ? JSON.stringify(body) : undefined });
      const said = { "/stop": "Stop requested", "/resume": "Session resumed" };
      announce(said[path] || "Emergency stop requested");
    } catch (err) { failure.textContent = err.message; }
    refresh();
  };
  stop.addEventListener("click", () => act("/stop"));
  emergency.addEventListener("click", () => act("/emergency-stop", { mode: stopMode.value }));
  resume.addEventListener("click", () => act("/resume", { cold: false }));
  const render = (s, events) => {
    summary.replaceChildren(`${s.mode} · ${s.execution} · `, stateBadge(s, "live-state"));
    stop.disabled = !s.running;
    emergency.disabled = !s.running;
    resume.disabled = s.running;  // a stopped or crashed session continues where it left off
    holders.figures.replaceChildren(sessionFigures(s));
    holders.positions.replaceChildren(positionsTable(s.positions));
    holders.risk.replaceChildren(riskTable(s.risk));
    const venues = Object.entries(s.venues).map(([venue, up]) => [venue, up ? "reachable" : "UNREACHABLE"]);
    holders.venues.replaceChildren(venues.length ? table(["venue", "reachability"], venues) :
      el("p", { class: "muted", text: "Simulated venues (paper)." }));
    holders.alerts.replaceChildren(s.alerts.length ? table(["code", "level", "at", "message"],
      s.alerts.slice(-10).map((a) => [a.code || "", a.level || "", a.at ? utc(a.at) : "—", a.message || ""])) :
      el("p", { class: "muted", text: "No alerts." }));
    holders.events.replaceChildren(eventsTable(events));
  };
  refresh = poller(me, async () => {
    const base = "/live/" + encodeURIComponent(id);
    try {
      const [s, page] = await Promise.all([api(base), api(base + "/events?limit=" + EVENT_ROWS)]);
      if (me === view) render(s, page.events);
    } catch (err) {
      if (me === view) failure.textContent = err.message;
    }
  });
  const section = (key, heading) => el("section", { "aria-labelledby": "live-" + key + "-title" },
    el("h2", { id: "live-" + key + "-title", text: heading }), holders[key]);
  return el("section", {}, title, summary,
    el("div", { class: "toolbar" }, stop, el("label", { for: "live-stop-mode", text: "Emergency stop mode" }), stopMode, emergency, resume),
    failure,
    el("div", { class: "live-grid" }, section("figures", "Equity and cycles"), section("risk", "Risk levels"),
      section("venues", "Venues")),
    section("positions", "Positions per venue"),
    section("alerts", "Latest alerts"),
    section("events", "Latest events"),
    el("p", {}, el("a", { href: "#/live", text: "All sessions" })));
}

/* ---------- routing ---------- */

function route() {
  view += 1;
  const me = view;
  const main = document.getElementById("main");
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let content;
  if (parts[0] === "runs" && parts[1]) content = runPage(me, parts[1]);
  else if (parts[0] === "runs") content = el("div", {}, el("h1", { text: "Runs" }), runsList(me));
  else if (parts[0] === "compare") content = comparePage(me, parts[1], parts[2]);
  else if (parts[0] === "live" && parts[1]) content = sessionPage(me, parts[1]);
  else if (parts[0] === "live") content = livePage(me);
  else {
    content = el("div", {}, el("h1", { id: "new-run-title", text: "New backtest" }), runForm(), runsList(me));
  }
  main.replaceChildren(content);
}

// /api/health answers 503 with the same body when the service is unhealthy
async function health() {
  const response = await fetch(API + "/health", { headers: { Accept: "application/json" } });
  const body = await response.json();
  const problem = document.getElementById("service-problem");
  problem.hidden = body.status === "ok";
  problem.textContent = body.status === "ok" ? "" : "The service is unhealthy: " + body.problems.join("; ");
  return body;
}

async function start() {
  try {
    const [list, state] = await Promise.all([api("/modes"), health()]);
    modes = list;
    document.getElementById("token-box").hidden = !state.token_required;
  } catch (err) {
    document.getElementById("main").replaceChildren(el("p", { class: "error", role: "alert", text: "Cannot reach the API: " + err.message }));
    return;
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
