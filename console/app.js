// The console's shell: the header with the config's generation and reload status, the
// diagnostics of a config that failed to load, the sections, and the hash router. It follows
// `/config/events`, so a saved YAML shows up here without a page reload.

import { ApiError, api, events, key, setKey, whenUnauthorized } from "./api.js";
import { chatView } from "./chat.js";
import { facts, h, put, when } from "./dom.js";
import { teamGraph, workflowGraph } from "./graph.js";
import { memoriesView } from "./memories.js";
import { sessionView, sessionsView } from "./sessions.js";

const ctx = {
  config: null,
  agents: [],
  teams: [],
  workflows: [],
  health: null,
  generation: null,
  navigate,
};

const main = document.getElementById("main");
const generationEl = document.getElementById("generation");
const reloadEl = document.getElementById("reload-status");
const linkEl = document.getElementById("link-status");
const diagnosticsEl = document.getElementById("diagnostics");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("key-input");
const keyError = document.getElementById("key-error");

let streaming = false;

function navigate(hash, { quiet = false } = {}) {
  if (quiet) {
    history.replaceState(null, "", hash);
    markNav();
    return;
  }
  if (location.hash === hash) route();
  else location.hash = hash;
}

function markNav() {
  const first = location.hash.split(/[/?]/)[1] || "config";
  const section = first === "session" ? "sessions" : first;
  for (const a of document.querySelectorAll("nav.sections a")) {
    if (a.dataset.section === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

async function loadCatalogue() {
  const [config, agents, teams, workflows] = await Promise.all([api("/config"), api("/agents"), api("/teams"), api("/workflows")]);
  ctx.config = config;
  ctx.agents = agents || [];
  ctx.teams = teams || [];
  ctx.workflows = workflows || [];
  ctx.generation = config?.config_generation ?? null;
}

function route({ focus = true } = {}) {
  const hash = location.hash || "#/config";
  const [pathPart, queryPart] = hash.slice(1).split("?");
  const parts = pathPart.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(queryPart || "");
  let view;
  switch (parts[0] || "config") {
    case "components":
      view = componentsView();
      break;
    case "chat":
      view = chatView(ctx, parts[1], parts[2], parts[3]);
      break;
    case "sessions":
      view = sessionsView(ctx, query);
      break;
    case "session":
      view = sessionView(ctx, parts[1] || "agent", parts[2] || "");
      break;
    case "memories":
      view = memoriesView(ctx, query);
      break;
    default:
      view = configView();
  }
  put(main, view);
  markNav();
  const title = view.querySelector("h2");
  if (focus && title) {
    title.tabIndex = -1;
    title.focus({ preventScroll: true });
  }
}

// ---- the header and the diagnostics ----------------------------------------------------------

function showState(s) {
  ctx.health = s;
  generationEl.textContent = `generation ${s.config_generation ?? "?"}`;
  const last = s.last_reload;
  if (s.last_error) {
    reloadEl.textContent = `reload failed ${when(last?.at)}; generation ${s.config_generation} keeps serving`;
    reloadEl.className = "error";
  } else if (last) {
    reloadEl.textContent = `reloaded ${when(last.at)} (${last.trigger}, ${Math.round(last.duration_ms ?? 0)} ms)`;
    reloadEl.className = "ok";
  } else {
    reloadEl.textContent = `loaded ${when(s.config_loaded_at)}`;
    reloadEl.className = "";
  }
  showDiagnostics(s.last_error);
  if (location.hash.startsWith("#/config") || !location.hash) {
    const live = document.getElementById("config-live");
    if (live) put(live, configFacts());
  }
}

function showDiagnostics(error) {
  if (!error) {
    diagnosticsEl.hidden = true;
    put(diagnosticsEl);
    return;
  }
  const list = Array.isArray(error.diagnostics) ? error.diagnostics.slice(0, 100) : [];
  put(
    diagnosticsEl,
    h("h2", {}, "The config on disk does not load"),
    h("p", {}, error.message || ""),
    error.help ? h("p", { class: "help" }, error.help) : null,
    list.length
      ? h(
          "ul",
          { class: "diagnostics" },
          list.map((d) =>
            h(
              "li",
              { class: `diagnostic ${d.severity || "error"}` },
              h("div", {}, h("code", { class: "where" }, [d.file, d.line, d.column].filter((x) => x !== undefined && x !== null).join(":")), " ", h("code", { class: "code" }, d.code || ""), " ", h("span", { class: "severity" }, d.severity || "error")),
              h("div", { class: "message" }, d.message || ""),
              d.label ? h("div", { class: "muted" }, d.label) : null,
              d.help ? h("div", { class: "help" }, `help: ${d.help}`) : null,
            ),
          ),
        )
      : null,
  );
  diagnosticsEl.hidden = false;
}

async function follow() {
  if (streaming) return;
  streaming = true;
  let wait = 500;
  while (streaming) {
    try {
      for await (const { event, data } of events("/config/events")) {
        if (event !== "ConfigState") continue;
        linkEl.textContent = "live";
        linkEl.className = "ok";
        wait = 500;
        const changed = data.config_generation !== ctx.generation;
        if (changed) {
          await loadCatalogue();
          if (onStaticView()) route({ focus: false });
        }
        showState(data);
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        streaming = false;
        return;
      }
    }
    linkEl.textContent = "reconnecting…";
    linkEl.className = "error";
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}

/** A view that shows the config and can be drawn again without losing what the user typed. */
function onStaticView() {
  const h = location.hash || "#/config";
  return h.startsWith("#/config") || h.startsWith("#/components");
}

// ---- config and components ------------------------------------------------------------------

function configFacts() {
  const s = ctx.health || {};
  const last = s.last_reload;
  return facts([
    ["Generation", s.config_generation ?? ctx.generation],
    ["Loaded", when(s.config_loaded_at)],
    ["Files", (s.config_files || []).map((f) => h("div", {}, h("code", {}, f)))],
    ["Config hash", s.config_hash ? h("code", {}, s.config_hash) : null],
    ["Last reload", last ? `${last.loaded ? "loaded" : "refused"} · ${last.trigger} · ${when(last.at)} · ${Math.round(last.duration_ms ?? 0)} ms` : "none yet"],
    ["Needs a restart", (s.restart_required || []).join(", ")],
  ]);
}

function configView() {
  const c = ctx.config || {};
  const dbs = (c.session?.dbs || []).map((d) => h("li", {}, h("code", {}, d.db_id), ` sessions in ${(d.tables || []).join(", ")}`));
  const models = (c.available_models || []).map((m) => h("li", {}, `${m.provider || ""} ${m.id || ""}`));
  return h(
    "section",
    { class: "view", "aria-labelledby": "config-title" },
    h("h2", { id: "config-title", tabindex: -1 }, "Config"),
    h("div", { id: "config-live" }, configFacts()),
    h("h3", {}, "Databases"),
    dbs.length ? h("ul", {}, dbs) : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Models"),
    models.length ? h("ul", {}, models) : h("p", { class: "muted" }, "none"),
    h("h3", {}, "Declared"),
    h("p", {}, h("a", { href: "#/components" }, `${ctx.agents.length} agents, ${ctx.teams.length} teams, ${ctx.workflows.length} workflows`)),
  );
}

function modelText(m) {
  return m ? [m.provider, m.model || m.id || m.name].filter(Boolean).join(" · ") : "";
}

function instructionsOf(c) {
  const i = c.system_message?.instructions;
  return Array.isArray(i) ? i.join(" ") : i || "";
}

function card(kind, c, extra) {
  const tools = (c.tools?.tools || []).map((t) => t.name);
  return h(
    "article",
    { class: `card card-${kind}`, id: `${kind}-${c.id}`, "aria-labelledby": `${kind}-${c.id}-title` },
    h("h4", { id: `${kind}-${c.id}-title` }, c.name || c.id, " ", h("span", { class: "muted" }, `(${c.id})`)),
    facts([
      ["Model", modelText(c.model)],
      ["Database", c.db_id],
      ["Mode", c.mode],
      ["Role", c.role],
      ["Description", c.description],
      ["Instructions", instructionsOf(c)],
      ["Tools", tools.join(", ")],
      ["Session table", c.sessions?.session_table],
    ]),
    extra,
    h("p", {}, h("a", { class: "button", href: `#/chat/${kind}/${encodeURIComponent(c.id)}` }, `Chat with ${c.name || c.id}`)),
  );
}

function componentsView() {
  const section = (title, list, kind, extra) =>
    h("section", { "aria-label": title }, h("h3", {}, `${title} (${list.length})`), list.length ? h("div", { class: "cards" }, list.map((c) => card(kind, c, extra(c)))) : h("p", { class: "muted" }, "none"));
  return h(
    "section",
    { class: "view", "aria-labelledby": "components-title" },
    h("h2", { id: "components-title", tabindex: -1 }, "Agents, teams and workflows"),
    section("Agents", ctx.agents, "agent", () => null),
    section("Teams", ctx.teams, "team", (t) => h("div", { class: "graph" }, teamGraph(t))),
    section("Workflows", ctx.workflows, "workflow", (w) => h("div", { class: "graph" }, workflowGraph(w))),
  );
}

// ---- the key ----------------------------------------------------------------------------------

function askForKey(reason) {
  streaming = false;
  keyForm.hidden = false;
  main.hidden = true;
  keyError.textContent = key() ? `The key was refused: ${typeof reason === "string" ? reason : "invalid"}` : "";
  keyInput.focus();
}

keyForm.addEventListener("submit", (e) => {
  e.preventDefault();
  setKey(keyInput.value.trim());
  keyInput.value = "";
  start();
});

document.getElementById("forget-key").addEventListener("click", () => {
  setKey("");
  location.reload();
});

async function start() {
  try {
    await loadCatalogue();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return askForKey(e.detail);
    put(main, h("p", { class: "error", role: "alert" }, `Cannot reach agno-run: ${e.message}`));
    return;
  }
  keyForm.hidden = true;
  main.hidden = false;
  document.getElementById("forget-key").hidden = !key();
  route();
  follow();
}

whenUnauthorized((detail) => askForKey(detail));
window.addEventListener("hashchange", () => route());
start();
