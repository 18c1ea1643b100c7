// riskgate dashboard. Plain DOM: every value from the API is placed with
// textContent or a DOM property, never parsed as HTML, so a reason such as
// "<script>…" is shown as text. The page's CSP forbids inline script too.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";
  const state = {
    token: sessionStorage.getItem("riskgate.token") || "",
    scopes: new Map(),
    rates: [],
    streamAbort: null,
    timers: [],
  };

  // el builds an element; text (if given) goes in as textContent.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtTime(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }

  function fmtDuration(s) {
    if (s <= 0) return "";
    const m = Math.floor(s / 60), r = Math.floor(s % 60);
    return (m > 0 ? m + "m " : "") + String(r).padStart(m > 0 ? 2 : 1, "0") + "s";
  }

  // api calls the API with the token; it resolves to {ok, status, body}.
  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      return { ok: false, status: 0, body: { title: "Network error", detail: String(e) } };
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (resp.status === 401 && path !== "/v1/whoami") logout("Your token was refused; log in again.");
    return { ok: resp.ok, status: resp.status, body: data };
  }

  function problemText(r) {
    const b = r.body || {};
    const title = b.title || ("HTTP " + r.status);
    return b.detail ? title + ": " + b.detail : title;
  }

  // Panels of other scripts (limits.js, loaded after this one) register
  // here: they get the helpers and are refreshed every p.every ms while
  // logged in.
  const panels = [];
  window.riskgateAddPanel = (make) => panels.push(make({ $, el, api, problemText, fmtTime }));

  // ---- login ----

  async function login(token) {
    state.token = token;
    const r = await api("GET", "/v1/whoami");
    if (!r.ok) {
      state.token = "";
      $("login-error").textContent = r.status === 401 ? "That token is not valid." : problemText(r);
      return false;
    }
    sessionStorage.setItem("riskgate.token", token);
    $("who").textContent = r.body.name + " (" + r.body.role + ")";
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    $("login-error").textContent = "";
    start();
    return true;
  }

  function logout(msg) {
    stop();
    state.token = "";
    sessionStorage.removeItem("riskgate.token");
    $("app").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("login-error").textContent = msg || "";
  }

  function start() {
    stop();
    stream();
    refreshDrops();
    refreshSignals();
    refreshHealth();
    state.timers.push(setInterval(refreshHealth, 3000));
    state.timers.push(setInterval(refreshDrops, 3000));
    state.timers.push(setInterval(refreshSignals, 5000));
    state.timers.push(setInterval(tickCooldowns, 1000));
    for (const p of panels) {
      p.refresh();
      state.timers.push(setInterval(p.refresh, p.every));
    }
  }

  function stop() {
    if (state.streamAbort) state.streamAbort.abort();
    state.streamAbort = null;
    state.timers.forEach(clearInterval);
    state.timers = [];
    setConn(false);
  }

  function setConn(on) {
    const c = $("conn");
    c.textContent = on ? "live" : "offline";
    c.className = "conn " + (on ? "on" : "off");
  }

  // ---- live events (fetch-based SSE, so the token travels in a header) ----

  async function stream() {
    const ctrl = new AbortController();
    state.streamAbort = ctrl;
    let delay = 500;
    while (!ctrl.signal.aborted) {
      try {
        const resp = await fetch("/v1/events", {
          headers: { Authorization: "Bearer " + state.token, Accept: "text/event-stream" },
          signal: ctrl.signal,
        });
        if (resp.status === 401) { logout("Your token was refused; log in again."); return; }
        if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
        setConn(true);
        delay = 500;
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            handleEvent(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        if (ctrl.signal.aborted) return;
      }
      setConn(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }

  function handleEvent(chunk) {
    let name = "message", data = "";
    for (const line of chunk.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (!data) return;
    let v;
    try { v = JSON.parse(data); } catch (e) { return; }
    switch (name) {
      case "snapshot":
        state.scopes = new Map();
        for (const s of v.scopes || []) state.scopes.set(s.scope, s);
        renderScopes();
        break;
      case "state":
        if (v.deleted) state.scopes.delete(v.scope);
        else state.scopes.set(v.scope, v);
        renderScopes(v.scope);
        break;
      case "rates":
        state.rates.push(v);
        if (state.rates.length > 120) state.rates.shift();
        renderRates();
        break;
    }
  }

  // ---- kill states ----

  const order = { KILLED: 0, THROTTLED: 1, ACTIVE: 2 };

  function renderScopes(changed) {
    const tbody = $("scopes").tBodies[0];
    const filter = $("scope-filter").value.trim().toUpperCase();
    const rows = [...state.scopes.values()]
      .filter((s) => !filter || (s.scope + " " + s.status).toUpperCase().includes(filter))
      .sort((a, b) => (order[a.status] - order[b.status]) || (b.updated_ts - a.updated_ts) || (a.scope < b.scope ? -1 : 1));
    tbody.replaceChildren(...rows.map((s) => scopeRow(s, s.scope === changed)));
    $("scopes-empty").hidden = state.scopes.size > 0;
    const killed = [...state.scopes.values()].filter((s) => s.status === "KILLED").length;
    $("scope-count").textContent = "(" + state.scopes.size + " scopes, " + killed + " killed)";
  }

  function scopeRow(s, flash) {
    const tr = el("tr", s.status + (flash ? " flash" : ""));
    tr.dataset.scope = s.scope;
    tr.append(el("td", "scope", s.scope));
    const st = el("td");
    const badge = el("span", "badge " + s.status, s.status);
    badge.dataset.status = s.status;
    st.append(badge);
    if (s.status === "THROTTLED" && s.max_rate_per_second) st.append(el("span", "muted", " " + s.max_rate_per_second + "/s"));
    tr.append(st);
    tr.append(el("td", "reason", s.reason));
    tr.append(el("td", "by", s.updated_by));
    tr.append(el("td", "updated", fmtTime(s.updated_ts)));
    const cd = el("td", "cooldown");
    // An ACTIVE scope has no cooldown running, whatever the last kill set.
    const until = s.status === "ACTIVE" ? 0 : (s.cooldown_until || 0);
    cd.dataset.until = String(until);
    cd.textContent = cooldownText(until);
    tr.append(cd);
    const act = el("td", "actions");
    if (s.status === "ACTIVE") {
      act.append(actionButton("Kill", "kill", s.scope));
      act.append(actionButton("Throttle", "throttle", s.scope));
    } else {
      act.append(actionButton("Unkill", "unkill", s.scope));
      if (s.status === "KILLED") act.append(actionButton("Throttle", "throttle", s.scope));
      else act.append(actionButton("Kill", "kill", s.scope));
    }
    tr.append(act);
    return tr;
  }

  function cooldownText(until) {
    if (!until) return "";
    const left = (until - Date.now()) / 1000;
    return left > 0 ? fmtDuration(left) : "ended";
  }

  function tickCooldowns() {
    for (const td of document.querySelectorAll("#scopes td.cooldown")) {
      td.textContent = cooldownText(Number(td.dataset.until));
    }
  }

  function actionButton(label, action, scope) {
    const b = el("button", "small " + action, label);
    b.type = "button";
    b.dataset.action = action;
    b.addEventListener("click", () => {
      $("act-scope").value = scope;
      $("act-action").value = action;
      syncActionFields();
      $("act-result").textContent = "Give a reason and submit to " + action + " " + scope + ".";
      $("act-result").className = "";
      $("act-reason").focus();
    });
    return b;
  }

  // ---- actions ----

  function syncActionFields() {
    const f = $("action-form");
    const a = $("act-action").value;
    f.classList.toggle("show-throttle", a === "throttle");
    f.classList.toggle("show-extend", a === "extend");
  }

  async function submitAction(ev) {
    ev.preventDefault();
    const scope = $("act-scope").value.trim();
    const action = $("act-action").value;
    const reason = $("act-reason").value.trim();
    const out = $("act-result");
    if (!reason) { out.textContent = "A reason is required."; out.className = "error"; return; }
    const body = { scope, reason };
    let method = "POST", path;
    const enc = encodeURIComponent(scope);
    switch (action) {
      case "kill": path = "/v1/kill"; break;
      case "unkill": path = "/v1/unkill"; break;
      case "throttle": path = "/v1/throttle"; body.max_rate_per_second = Number($("act-rate").value); break;
      case "extend": path = "/v1/scopes/" + enc + "/extend"; body.cooldown_seconds = Number($("act-cooldown").value); break;
      case "pin": path = "/v1/scopes/" + enc + "/pin"; break;
      case "unpin": path = "/v1/scopes/" + enc + "/pin"; method = "DELETE"; break;
      default: return;
    }
    $("act-submit").disabled = true;
    out.textContent = "Sending…";
    out.className = "";
    const r = await api(method, path, body);
    $("act-submit").disabled = false;
    if (r.ok) {
      const s = r.body;
      out.textContent = (r.status === 202 ? "Recorded; waiting for a second operator: " : "Done: ") + s.scope + " is " + s.status + ".";
      out.className = "ok";
      $("act-reason").value = "";
      state.scopes.set(s.scope, s);
      renderScopes(s.scope);
    } else {
      out.textContent = problemText(r);
      out.className = "error";
    }
  }

  // ---- rates chart ----

  function renderRates() {
    const svg = $("rates-chart");
    const W = 600, H = 140, pad = 4;
    const pts = state.rates;
    const max = Math.max(1, ...pts.map((p) => Math.max(p.allow, p.drop, p.throttle, p.block || 0)));
    const x = (i) => (W * i) / 119;
    const y = (v) => H - pad - ((H - 2 * pad) * v) / max;
    const n = pts.length;
    const off = 120 - n;
    const line = (key) => {
      const pl = document.createElementNS(SVGNS, "polyline");
      pl.setAttribute("class", key);
      pl.setAttribute("points", pts.map((p, i) => x(off + i).toFixed(1) + "," + y(p[key] || 0).toFixed(1)).join(" "));
      return pl;
    };
    const label = document.createElementNS(SVGNS, "text");
    label.setAttribute("x", "4");
    label.setAttribute("y", "12");
    label.textContent = "max " + max + "/s";
    svg.replaceChildren(label, line("allow"), line("throttle"), line("block"), line("drop"));
    const last = pts[n - 1] || { allow: 0, drop: 0, throttle: 0, block: 0 };
    $("rate-allow").textContent = String(last.allow);
    $("rate-drop").textContent = String(last.drop);
    $("rate-throttle").textContent = String(last.throttle);
    $("rate-block").textContent = String(last.block || 0);
  }

  // ---- Temporal health: routing goes on without it, kills and actions wait ----

  async function refreshHealth() {
    const t = $("temporal");
    let degraded = false, why = "";
    try {
      const r = await fetch("/readyz");
      const b = await r.json();
      degraded = (b.degraded || []).includes("temporal");
      why = (b.checks && b.checks.temporal) || "";
    } catch (e) {
      return; // the event stream's indicator already says the API is unreachable
    }
    t.hidden = !degraded;
    t.textContent = degraded ? "Temporal degraded" : "";
    t.title = degraded ? why + " — the router enforces the last kill state; new kills and operator actions wait" : "";
    t.className = "conn " + (degraded ? "off" : "on");
  }

  // ---- latest drops and blocks ----

  // DROPs (a kill) and BLOCKs (a pre-trade limit) side by side, newest
  // first: a BLOCK names its limit where a DROP gives the kill's reason.
  async function refreshDrops() {
    const [d, b] = await Promise.all([
      api("GET", "/v1/audit?decision=DROP&limit=15"),
      api("GET", "/v1/audit?decision=BLOCK&limit=15"),
    ]);
    const tbody = $("drops").tBodies[0];
    for (const r of [d, b]) if (!r.ok) { $("drops-note").textContent = problemText(r); return; }
    const recs = [...d.body.records, ...b.body.records].sort((x, y) => y.ts - x.ts).slice(0, 15);
    $("drops-note").textContent = recs.length ? "" : "No drops or blocks recorded.";
    tbody.replaceChildren(...recs.map((a) => {
      const tr = el("tr", a.decision);
      const why = a.decision === "BLOCK" ? a.limit || a.reason : a.reason;
      for (const v of [fmtTime(a.ts), a.decision, a.order_id, a.account_id, a.symbol, a.strategy, why]) tr.append(el("td", null, v));
      return tr;
    }));
  }

  // ---- risk signal trends ----

  async function refreshSignals() {
    const r = await api("GET", "/v1/signals?since=15m&limit=1000");
    const box = $("signals");
    if (!r.ok) { $("signals-note").textContent = problemText(r); return; }
    const by = new Map();
    for (const s of r.body.signals) {
      if (!by.has(s.scope)) by.set(s.scope, []);
      by.get(s.scope).push(s);
    }
    const hottest = [...by.entries()]
      .map(([scope, sigs]) => ({ scope, sigs: sigs.sort((a, b) => a.ts - b.ts), peak: Math.max(...sigs.map((g) => g.order_count)) }))
      .sort((a, b) => b.peak - a.peak)
      .slice(0, 6);
    $("signals-note").textContent = hottest.length ? "" : "No risk signals in the last 15 minutes.";
    box.replaceChildren(...hottest.map((h) => {
      const row = el("div", "sig");
      row.append(el("span", "scope", h.scope));
      const svg = document.createElementNS(SVGNS, "svg");
      svg.setAttribute("viewBox", "0 0 300 28");
      svg.setAttribute("preserveAspectRatio", "none");
      const t0 = h.sigs[0].ts, t1 = Math.max(t0 + 1, h.sigs[h.sigs.length - 1].ts);
      const pl = document.createElementNS(SVGNS, "polyline");
      pl.setAttribute("points", h.sigs.map((g) => ((300 * (g.ts - t0)) / (t1 - t0)).toFixed(1) + "," + (26 - (24 * g.order_count) / h.peak).toFixed(1)).join(" "));
      svg.append(pl);
      row.append(svg);
      const last = h.sigs[h.sigs.length - 1];
      const breach = (last.breaches || []).length > 0;
      row.append(el("span", breach ? "breach" : "muted", last.order_count + (breach ? " ⚠" : "")));
      return row;
    }));
  }

  // ---- wiring ----

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      login($("token").value.trim());
    });
    $("logout").addEventListener("click", () => logout(""));
    $("action-form").addEventListener("submit", submitAction);
    $("act-action").addEventListener("change", syncActionFields);
    $("scope-filter").addEventListener("input", () => renderScopes());
    syncActionFields();
    renderRates();
    if (state.token) login(state.token);
  });
})();
