// Sessions: a filtered, paginated list; one session's runs with their messages, tools, metrics
// and state, member runs nested under their parent, workflow step results as a tree; rename
// and delete.

import { api } from "./api.js";
import { bounded, facts, field, fold, h, pretty, put, seconds, when } from "./dom.js";

const MAX_DEPTH = 16;

/** The list, filtered by `query` (type, component_id, user_id, page). */
export function sessionsView(ctx, query) {
  const type = query.get("type") || "agent";
  const page = Math.max(1, Number(query.get("page")) || 1);
  const limit = 20;
  const root = h("section", { class: "view", "aria-labelledby": "sessions-title" }, h("h2", { id: "sessions-title" }, "Sessions"));

  const typeSel = h("select", { id: "sessions-type", name: "type" }, ["agent", "team", "workflow"].map((t) => h("option", { value: t, selected: t === type }, t)));
  const components = { agent: ctx.agents, team: ctx.teams, workflow: ctx.workflows }[type] || [];
  const compSel = h(
    "select",
    { id: "sessions-component", name: "component_id" },
    h("option", { value: "" }, "any"),
    components.map((c) => h("option", { value: c.id, selected: c.id === query.get("component_id") }, c.name || c.id)),
  );
  const userIn = h("input", { id: "sessions-user", name: "user_id", value: query.get("user_id") || "", placeholder: "any", autocomplete: "off" });
  const apply = h("button", { type: "submit" }, "Filter");
  const filters = h("form", { class: "controls", id: "sessions-filters", role: "search" }, field("Type", typeSel), field("Agent, team or workflow", compSel), field("User", userIn), apply);
  const list = h("div", { id: "sessions-list" }, h("p", { class: "muted" }, "Loading…"));
  root.append(filters, list);

  const go = (p) => {
    const q = new URLSearchParams({ type: typeSel.value });
    if (compSel.value && typeSel.value === type) q.set("component_id", compSel.value);
    if (userIn.value.trim()) q.set("user_id", userIn.value.trim());
    if (p > 1) q.set("page", String(p));
    ctx.navigate(`#/sessions?${q}`);
  };
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    go(1);
  });
  typeSel.addEventListener("change", () => go(1));

  api("/sessions", { query: { type, component_id: query.get("component_id"), user_id: query.get("user_id"), page, limit, sort_by: "updated_at", sort_order: "desc" } })
    .then((res) => {
      const rows = res?.data ?? [];
      const meta = res?.meta ?? {};
      if (!rows.length) return put(list, h("p", { class: "muted" }, "No sessions match."));
      const table = h(
        "table",
        { class: "table" },
        h("caption", { class: "sr-only" }, "Sessions"),
        h("thead", {}, h("tr", {}, ["Session", "Component", "User", "Updated"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          {},
          rows.map((s) =>
            h(
              "tr",
              {},
              h("td", {}, h("a", { href: `#/session/${type}/${encodeURIComponent(s.session_id)}` }, s.session_name || s.session_id)),
              h("td", {}, s.agent_id || s.team_id || s.workflow_id || ""),
              h("td", {}, s.user_id || ""),
              h("td", {}, when(s.updated_at || s.created_at)),
            ),
          ),
        ),
      );
      const pages = Math.max(1, meta.total_pages || 1);
      const nav = h(
        "nav",
        { class: "pager", "aria-label": "Pages" },
        h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous"),
        h("span", {}, `page ${page} of ${pages} · ${meta.total_count ?? rows.length} sessions`),
        h("button", { type: "button", disabled: page >= pages, onclick: () => go(page + 1) }, "Next"),
      );
      put(list, table, nav);
    })
    .catch((e) => put(list, h("p", { class: "error" }, `Cannot list sessions: ${e.message}`)));
  return root;
}

/** One session: its facts, rename, delete, and its runs. */
export function sessionView(ctx, type, id) {
  const root = h("section", { class: "view", "aria-labelledby": "session-title" });
  const title = h("h2", { id: "session-title" }, "Session");
  const head = h("div", {});
  const runsEl = h("div", { id: "session-runs" }, h("p", { class: "muted" }, "Loading…"));
  root.append(h("p", {}, h("a", { href: `#/sessions?type=${type}` }, "← Sessions")), title, head, h("h3", {}, "Runs"), runsEl);
  const path = `/sessions/${encodeURIComponent(id)}`;

  const load = async () => {
    let s;
    try {
      s = await api(path, { query: { type } });
    } catch (e) {
      put(head, h("p", { class: "error" }, e.status === 404 ? "This session does not exist (any more)." : `Cannot read the session: ${e.message}`));
      put(runsEl);
      return;
    }
    title.textContent = `Session ${s.session_name || id}`;
    const nameIn = h("input", { id: "session-name", name: "session_name", value: s.session_name || "", required: true, maxlength: 1000 });
    const rename = h("form", { class: "controls", id: "session-rename" }, field("Name", nameIn), h("button", { type: "submit" }, "Rename"));
    const said = h("span", { role: "status", class: "muted" });
    rename.append(said);
    rename.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await api(`${path}/rename`, { method: "POST", query: { type }, json: { session_name: nameIn.value } });
        said.textContent = "renamed";
        title.textContent = `Session ${nameIn.value}`;
      } catch (err) {
        said.textContent = `cannot rename: ${err.message}`;
      }
    });
    const confirmRow = h("span", { class: "confirm", hidden: true });
    const del = h("button", { type: "button", id: "session-delete", class: "danger" }, "Delete session");
    const really = h("button", { type: "button", id: "session-delete-confirm", class: "danger" }, "Yes, delete it");
    const keep = h("button", { type: "button" }, "Keep it");
    confirmRow.append("Delete this session and all its runs? ", really, " ", keep);
    del.addEventListener("click", () => {
      confirmRow.hidden = false;
      really.focus();
    });
    keep.addEventListener("click", () => {
      confirmRow.hidden = true;
      del.focus();
    });
    really.addEventListener("click", async () => {
      try {
        await api(path, { method: "DELETE", query: { type } });
        ctx.navigate(`#/sessions?type=${type}`);
      } catch (err) {
        said.textContent = `cannot delete: ${err.message}`;
      }
    });
    put(
      head,
      facts([
        ["Id", s.session_id],
        ["Type", type],
        ["Component", s.agent_id || s.team_id || s.workflow_id],
        ["User", s.user_id],
        ["Created", when(s.created_at)],
        ["Updated", when(s.updated_at)],
        ["Tokens", s.total_tokens],
      ]),
      s.session_state && Object.keys(s.session_state).length ? fold("Session state", h("pre", {}, pretty(s.session_state))) : null,
      s.session_summary ? fold("Summary", h("pre", {}, pretty(s.session_summary))) : null,
      rename,
      h("div", { class: "row" }, del, " ", confirmRow),
    );
    try {
      const runs = await api(`${path}/runs`, { query: { type } });
      put(runsEl, runTree(runs || []));
    } catch (e) {
      put(runsEl, h("p", { class: "error" }, `Cannot read the runs: ${e.message}`));
    }
  };
  load();
  return root;
}

/** Stored runs, each top-level run with its member runs nested under it. */
export function runTree(runs) {
  const children = new Map();
  for (const r of runs) {
    const p = r.parent_run_id || "";
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(r);
  }
  const ids = new Set(runs.map((r) => r.run_id));
  // A run whose parent is not in this session is shown at the top.
  const top = runs.filter((r) => !r.parent_run_id || !ids.has(r.parent_run_id));
  if (!top.length) return h("p", { class: "muted" }, "No runs.");
  return h("ol", { class: "runs" }, top.map((r) => h("li", {}, runView(r, children, 0))));
}

function runView(r, children, depth) {
  const who = r.workflow_id ? `workflow ${r.workflow_id}` : r.team_id ? `team ${r.team_id}` : `agent ${r.agent_id || ""}`;
  const status = String(r.status || "");
  const m = r.metrics || {};
  const box = h(
    "article",
    { class: `run status-${status.toLowerCase()}`, "aria-label": `run ${r.run_id}` },
    h("header", {}, h("span", { class: `pill ${status.toLowerCase()}` }, status || "?"), " ", who, " ", h("span", { class: "muted" }, `${when(r.created_at)} · ${r.run_id}`)),
    h("div", { class: "bubble user" }, bounded(r.run_input ?? "")),
    h("div", { class: `bubble answer${status === "ERROR" ? " error" : ""}` }, typeof r.content === "string" ? bounded(r.content) : pretty(r.content ?? "")),
  );
  const tools = Array.isArray(r.tools) ? r.tools : [];
  if (tools.length) {
    box.append(
      fold(
        `Tools (${tools.length})`,
        tools.map((t) =>
          fold(
            [h("span", { class: "badge" }, "tool"), " ", t.tool_name || "", t.tool_call_error ? h("span", { class: "error" }, " failed") : null, t.metrics?.duration ? h("span", { class: "muted" }, ` ${seconds(t.metrics.duration)}`) : null],
            [h("div", { class: "label" }, "arguments"), h("pre", {}, pretty(t.tool_args ?? {})), h("div", { class: "label" }, "result"), h("pre", {}, pretty(t.result ?? ""))],
            { cls: "tool" },
          ),
        ),
      ),
    );
  }
  const messages = Array.isArray(r.messages) ? r.messages : [];
  if (messages.length) {
    box.append(
      fold(
        `Messages (${messages.length})`,
        h(
          "ol",
          { class: "messages" },
          messages.map((msg) =>
            h(
              "li",
              { class: `message role-${msg.role}` },
              h("span", { class: "badge" }, msg.role || "?"),
              msg.from_history ? h("span", { class: "muted" }, " from history") : null,
              h("pre", {}, pretty(msg.content ?? "")),
              Array.isArray(msg.tool_calls) && msg.tool_calls.length ? h("pre", { class: "muted" }, pretty(msg.tool_calls)) : null,
            ),
          ),
        ),
      ),
    );
  }
  if (Object.keys(m).length) box.append(fold(`Metrics${m.total_tokens ? ` · ${m.total_tokens} tokens` : ""}${typeof m.duration === "number" ? ` · ${seconds(m.duration)}` : ""}`, h("pre", {}, pretty(m))));
  if (r.session_state && Object.keys(r.session_state).length) box.append(fold("Session state after the run", h("pre", {}, pretty(r.session_state))));
  if (Array.isArray(r.step_results) && r.step_results.length) box.append(h("div", { class: "label" }, "Steps"), stepTree(r.step_results, 0));
  const kids = children.get(r.run_id) || [];
  if (kids.length && depth < MAX_DEPTH) {
    box.append(fold(`Member runs (${kids.length})`, h("ol", { class: "runs" }, kids.map((k) => h("li", {}, runView(k, children, depth + 1)))), { open: true, cls: "members" }));
  }
  return box;
}

function stepTree(steps, depth) {
  return h(
    "ul",
    { class: "steps tree" },
    steps.map((s) => {
      const ok = s.success !== false;
      const item = h(
        "li",
        { class: ok ? "" : "failed" },
        h("span", { class: "badge" }, String(s.step_type || "Step").toLowerCase()),
        " ",
        h("strong", {}, s.step_name || ""),
        s.executor_name ? h("span", { class: "muted" }, ` · ${s.executor_name}`) : null,
        ok ? null : h("span", { class: "error" }, ` · failed${s.error ? `: ${bounded(s.error, 2000)}` : ""}`),
        s.content ? h("div", { class: "step-content" }, bounded(typeof s.content === "string" ? s.content : pretty(s.content), 5000)) : null,
      );
      if (Array.isArray(s.steps) && s.steps.length && depth < MAX_DEPTH) item.append(stepTree(s.steps, depth + 1));
      return item;
    }),
  );
}
