// riskgate dashboard: the pre-trade limits panels — each hot scope's usage
// against its limits, and the scopes whose limits differ from the defaults
// with their pending changes, which a second operator approves here. Like
// app.js, every value goes in with textContent, never as HTML.
"use strict";

window.riskgateAddPanel(({ $, el, api, problemText, fmtTime }) => {
  // level is the warning a percentage has crossed: the router's credit
  // warnings are at 50, 75 and 90 %.
  function level(pct) {
    if (pct >= 90) return "90";
    if (pct >= 75) return "75";
    if (pct >= 50) return "50";
    return "0";
  }

  function fmtNum(v) {
    if (v === undefined || v === null) return "";
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 0 : 1) + "M";
    if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
    return String(Math.round(v * 100) / 100);
  }

  // bar is one usage cell: a bar filled to pct, coloured by its level, and
  // "used / limit (pct %)".
  function bar(kind, used, limit, pct) {
    const td = el("td", "usage " + kind);
    if (pct === undefined || pct === null) {
      let what = "no limit";
      // The router reports credit only as it crosses 50, 75 and 90 %.
      if (limit && kind === "credit") what = "under 50 % of " + fmtNum(limit) + " (no warning today)";
      else if (limit) what = fmtNum(used) + " / " + fmtNum(limit);
      td.append(el("span", "muted", what));
      return td;
    }
    const lv = level(pct);
    const b = el("div", "bar");
    b.dataset.level = lv;
    b.dataset.pct = String(Math.round(pct));
    const fill = el("span", "fill");
    fill.style.width = Math.min(100, pct).toFixed(1) + "%"; // CSSOM, which the CSP allows
    b.append(fill);
    td.append(b, el("span", "figure", fmtNum(used) + " / " + fmtNum(limit) + " (" + Math.round(pct) + " %)"));
    return td;
  }

  async function refreshUsage() {
    const r = await api("GET", "/v1/limits/usage?limit=12");
    if (!r.ok) { $("usage-note").textContent = problemText(r); return; }
    const u = r.body;
    $("usage-note").textContent = (u.scopes.length ? "" : "No scope has traded in the last 2 minutes. ") +
      "Sources — " + u.source + (u.warnings && u.warnings.length ? ". Warning: " + u.warnings.join("; ") : "");
    $("usage").tBodies[0].replaceChildren(...u.scopes.map((s) => {
      const tr = el("tr");
      tr.dataset.scope = s.scope;
      tr.dataset.level = level(s.peak);
      tr.append(el("td", "scope", s.scope));
      tr.append(bar("orders", s.orders, s.max_orders, s.orders_pct));
      tr.append(bar("notional", s.notional, s.max_notional, s.notional_pct));
      tr.append(s.scope.startsWith("ACCOUNT:") ? bar("credit", s.credit_used, s.credit_limit, s.credit_pct) : el("td", "usage credit muted", ""));
      tr.append(el("td", "state", s.limits_state === "DEFAULT" ? "defaults" : s.limits_state.toLowerCase().replace("_", " ")));
      return tr;
    }));
  }

  // changeText says what a change sets and clears: "max_orders=5000".
  function changeText(limits, clear) {
    const parts = Object.entries(limits || {}).map(([k, v]) => k + "=" + v);
    for (const k of clear || []) parts.push(k + "=default");
    return parts.join(" ") || "-";
  }

  function decide(action, scope, input) {
    return async () => {
      const reason = input.value.trim();
      const out = $("limits-result");
      if (!reason) { out.textContent = "A reason is required to " + action + " the change on " + scope + "."; out.className = "error"; input.focus(); return; }
      out.textContent = "Sending…";
      out.className = "";
      const r = await api("POST", "/v1/limits/" + encodeURIComponent(scope) + "/" + action, { reason });
      if (r.ok) {
        input.value = "";
        out.textContent = (action === "approve" ? "Approved: " : "Rejected: ") + scope + " is " + r.body.state + " (version " + r.body.version + ").";
        out.className = "ok";
      } else {
        out.textContent = problemText(r);
        out.className = "error";
      }
      refreshLimits();
      refreshUsage();
    };
  }

  async function refreshLimits() {
    const r = await api("GET", "/v1/limits");
    if (!r.ok) { $("limits-note").textContent = problemText(r); return; }
    const list = r.body.scopes;
    const pending = list.filter((v) => v.pending);
    $("limits-count").textContent = "(" + list.length + " scopes, " + pending.length + " waiting for approval)";
    $("limits-note").textContent = (list.length ? "" : "Every scope is on its type's defaults.") +
      ((r.body.warnings || []).length ? " Warning: " + r.body.warnings.join("; ") : "");
    // A reason being typed is kept: a refresh must not eat it.
    const typing = [...document.querySelectorAll("#limits input.decision-reason")].some((i) => i.value !== "");
    if (typing) return;
    $("limits").tBodies[0].replaceChildren(...list.map((v) => {
      const tr = el("tr", v.pending ? "pending" : "");
      tr.dataset.scope = v.scope;
      tr.append(el("td", "scope", v.scope));
      tr.append(el("td", "state", v.state));
      tr.append(el("td", "overrides", changeText(v.overrides) + (v.approved_by ? " (approved by " + v.approved_by + ")" : "")));
      tr.append(el("td", "expires", v.expires_at ? "reverts " + fmtTime(v.expires_at) : ""));
      const p = v.pending;
      const pt = el("td", "pending");
      if (p) {
        pt.append(el("div", null, p.kind + " " + changeText(p.limits, p.clear) + " by " + p.requested_by + ": " + p.reason));
        if (p.why) pt.append(el("div", "muted", "needs a second operator: " + p.why));
        pt.append(el("div", "muted", "approve before " + fmtTime(p.expires_at)));
      }
      tr.append(pt);
      const act = el("td", "actions");
      if (p) {
        const input = el("input", "decision-reason");
        input.placeholder = "reason";
        input.maxLength = 1024;
        const ok = el("button", "small approve", "Approve");
        ok.type = "button";
        ok.addEventListener("click", decide("approve", v.scope, input));
        const no = el("button", "small reject", "Reject");
        no.type = "button";
        no.addEventListener("click", decide("reject", v.scope, input));
        act.append(input, ok, no);
      }
      tr.append(act);
      return tr;
    }));
  }

  return { every: 3000, refresh: () => { refreshUsage(); refreshLimits(); } };
});
