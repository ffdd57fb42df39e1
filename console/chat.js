// Chat with an agent, a team or a workflow: the answer streams in; tool calls, member runs and
// workflow steps appear as they happen, collapsed, with arguments, results and timings.

import { api, events, plural } from "./api.js";
import { bounded, fold, h, pretty, put, seconds, when } from "./dom.js";

/** Most blocks (tool calls, member runs, steps) drawn for one answer; the rest are counted. */
const MAX_BLOCKS = 500;

const USER_KEY = "agno-run.user";

function targets(ctx) {
  const out = [];
  for (const a of ctx.agents) out.push({ kind: "agent", id: a.id, name: a.name || a.id });
  for (const t of ctx.teams) out.push({ kind: "team", id: t.id, name: t.name || t.id });
  for (const w of ctx.workflows) out.push({ kind: "workflow", id: w.id, name: w.name || w.id });
  return out;
}

/** The chat page for `kind`/`id` (the first agent when none is named), and `session` if given. */
export function chatView(ctx, kind, id, session) {
  const all = targets(ctx);
  let target = all.find((t) => t.kind === kind && t.id === id) || all[0];
  const root = h("section", { class: "view chat", "aria-labelledby": "chat-title" });
  if (!target) {
    return put(root, h("h2", { id: "chat-title" }, "Chat"), h("p", {}, "The config declares no agent, team or workflow."));
  }

  const select = h(
    "select",
    { id: "chat-target", name: "target" },
    ["agent", "team", "workflow"].map((k) => {
      const group = all.filter((t) => t.kind === k);
      if (!group.length) return null;
      return h(
        "optgroup",
        { label: `${k}s` },
        group.map((t) => h("option", { value: `${t.kind}:${t.id}`, selected: t === target }, `${t.name} (${t.id})`)),
      );
    }),
  );
  const user = h("input", { id: "chat-user", name: "user", value: localStorage.getItem(USER_KEY) || "console-user", autocomplete: "off", spellcheck: "false" });
  const sessions = h("select", { id: "chat-session", name: "session" });
  const newSession = h("button", { type: "button", id: "chat-new" }, "New session");
  const log = h("div", { id: "chat-log", class: "chat-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const input = h("textarea", { id: "chat-input", name: "message", rows: 3, placeholder: "Message (Enter sends, Shift+Enter for a new line)", required: true });
  const send = h("button", { type: "submit", id: "chat-send", class: "primary" }, "Send");
  const cancel = h("button", { type: "button", id: "chat-cancel", disabled: true }, "Cancel");
  const status = h("span", { id: "chat-status", class: "muted", role: "status" });
  const form = h("form", { id: "chat-form", class: "chat-form" }, h("label", { for: "chat-input", class: "sr-only" }, "Message"), input, h("div", { class: "row" }, send, cancel, status));

  root.append(
    h("h2", { id: "chat-title" }, "Chat"),
    h(
      "div",
      { class: "controls" },
      h("label", { class: "field" }, h("span", {}, "Agent, team or workflow"), select),
      h("label", { class: "field" }, h("span", {}, "User"), user),
      h("label", { class: "field" }, h("span", {}, "Session"), sessions),
      newSession,
    ),
    log,
    form,
  );

  let current = session || "";
  let running = null;

  async function loadSessions() {
    const keep = current;
    let list = [];
    try {
      const page = await api("/sessions", { query: { type: target.kind, component_id: target.id, user_id: user.value.trim(), limit: 50, sort_by: "updated_at", sort_order: "desc" } });
      list = page?.data ?? [];
    } catch (e) {
      status.textContent = `sessions: ${e.message}`;
    }
    put(
      sessions,
      h("option", { value: "" }, "New session"),
      list.map((s) => h("option", { value: s.session_id, selected: s.session_id === keep }, `${s.session_name || s.session_id} · ${when(s.updated_at || s.created_at)}`)),
    );
    if (keep && !list.some((s) => s.session_id === keep)) sessions.append(h("option", { value: keep, selected: true }, keep));
  }

  async function loadHistory() {
    put(log);
    if (!current) return;
    try {
      const runs = await api(`/sessions/${encodeURIComponent(current)}/runs`, { query: { type: target.kind, user_id: user.value.trim() } });
      for (const run of (runs || []).filter((r) => !r.parent_run_id)) {
        const turn = h("div", { class: "turn" });
        turn.append(h("div", { class: "bubble user" }, bounded(run.run_input)));
        const answer = h("div", { class: `bubble answer status-${String(run.status || "").toLowerCase()}` }, bounded(run.content ?? ""));
        turn.append(answer);
        if (run.status && run.status !== "COMPLETED") turn.append(h("div", { class: "run-status" }, run.status));
        log.append(turn);
      }
      log.scrollTop = log.scrollHeight;
    } catch (e) {
      log.append(h("p", { class: "error" }, `Cannot read the session: ${e.message}`));
    }
  }

  function go() {
    ctx.navigate(`#/chat/${target.kind}/${encodeURIComponent(target.id)}${current ? `/${encodeURIComponent(current)}` : ""}`, { quiet: true });
  }

  select.addEventListener("change", () => {
    const [k, ...rest] = select.value.split(":");
    target = all.find((t) => t.kind === k && t.id === rest.join(":")) || target;
    current = "";
    go();
    loadSessions();
    loadHistory();
  });
  user.addEventListener("change", () => {
    localStorage.setItem(USER_KEY, user.value.trim());
    current = "";
    go();
    loadSessions();
    loadHistory();
  });
  sessions.addEventListener("change", () => {
    current = sessions.value;
    go();
    loadHistory();
  });
  newSession.addEventListener("click", () => {
    current = "";
    sessions.value = "";
    go();
    loadHistory();
    input.focus();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  cancel.addEventListener("click", async () => {
    if (!running?.runId) return;
    cancel.disabled = true;
    try {
      await api(`/${plural(running.kind)}/${encodeURIComponent(running.id)}/runs/${encodeURIComponent(running.runId)}/cancel`, { method: "POST" });
      status.textContent = "cancelling…";
    } catch (e) {
      status.textContent = `cancel: ${e.message}`;
      cancel.disabled = false;
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = input.value;
    if (!message.trim() || running) return;
    input.value = "";
    const turn = h("div", { class: "turn" }, h("div", { class: "bubble user" }, bounded(message)));
    log.append(turn);
    const view = new Answer(turn);
    running = { kind: target.kind, id: target.id, runId: null };
    send.disabled = true;
    status.textContent = "running…";
    const fields = { message, stream: "true", user_id: user.value.trim() };
    if (current) fields.session_id = current;
    try {
      for await (const { event, data } of events(`/${plural(target.kind)}/${encodeURIComponent(target.id)}/runs`, { method: "POST", form: fields })) {
        view.on(event, data);
        if (!running.runId && view.rootId) {
          running.runId = view.rootId;
          cancel.disabled = false;
        }
        if (!current && data.session_id) {
          current = data.session_id;
          go();
        }
        log.scrollTop = log.scrollHeight;
      }
      view.end();
    } catch (err) {
      view.fail(err.message);
    } finally {
      running = null;
      send.disabled = false;
      cancel.disabled = true;
      status.textContent = view.summary();
      loadSessions();
      input.focus();
    }
  });

  loadSessions().then(() => loadHistory());
  return root;
}

/** One run drawn: its text, and a body for its tool calls, member runs and steps. */
class RunBlock {
  constructor(content, body, status) {
    this.text = "";
    this.contentEl = content;
    this.body = body;
    this.statusEl = status;
    this.started = performance.now();
  }

  add(text) {
    this.text += text;
    this.contentEl.textContent = bounded(this.text);
  }

  set(text) {
    this.text = text;
    this.contentEl.textContent = bounded(text);
  }

  state(text, cls) {
    if (!this.statusEl) return;
    this.statusEl.textContent = text;
    this.statusEl.className = `run-status ${cls || ""}`;
  }
}

/** What one streamed answer shows, built from its events. */
class Answer {
  constructor(turn) {
    const content = h("div", { class: "bubble answer" });
    const body = h("div", { class: "blocks" });
    const status = h("div", { class: "run-status" });
    turn.append(body, content, status);
    this.turn = turn;
    this.root = new RunBlock(content, body, status);
    this.rootId = null;
    this.runs = new Map();
    this.tools = new Map();
    this.steps = [];
    this.blocks = 0;
    this.hidden = 0;
    this.outcome = "";
  }

  room() {
    if (this.blocks >= MAX_BLOCKS) {
      this.hidden += 1;
      return false;
    }
    this.blocks += 1;
    return true;
  }

  /** The block of the run an event belongs to, creating a member or step run's block. */
  run(d) {
    if (!this.rootId && !d.parent_run_id) {
      this.rootId = d.run_id;
      this.runs.set(d.run_id, this.root);
    }
    const known = this.runs.get(d.run_id);
    if (known) return known;
    // A run inside the tree: a member of a team, or a step's agent or team.
    const where = (d.step_id && this.openStep(d.step_id)?.body) || this.runs.get(d.parent_run_id)?.body || this.root.body;
    if (!this.room()) return this.root;
    const who = d.team_name || d.agent_name || d.team_id || d.agent_id || "member";
    const content = h("div", { class: "bubble answer nested" });
    const body = h("div", { class: "blocks" });
    const status = h("span", { class: "run-status" });
    const kind = d.team_id ? "team" : "agent";
    const label = d.step_id ? `${kind} ${who}` : `→ ${kind} ${who}`;
    where.append(fold([h("span", { class: "badge" }, d.step_id ? "run" : "member"), " ", label, " ", status], [body, content], { cls: "member" }));
    const block = new RunBlock(content, body, status);
    this.runs.set(d.run_id, block);
    return block;
  }

  openStep(id) {
    for (let i = this.steps.length - 1; i >= 0; i--) if (this.steps[i].id === id) return this.steps[i];
    return null;
  }

  on(event, d) {
    const name = event.replace(/^Team/, "");
    switch (name) {
      case "RunStarted":
      case "WorkflowStarted": {
        const r = this.run(d);
        r.state("running", "running");
        break;
      }
      case "RunContent":
        if (typeof d.content === "string") this.run(d).add(d.content);
        break;
      case "ToolCallStarted": {
        const r = this.run(d);
        const t = d.tool || {};
        if (!this.room()) break;
        const result = h("div", { class: "tool-result" });
        const time = h("span", { class: "muted" }, "running…");
        r.body.append(
          fold([h("span", { class: "badge" }, "tool"), " ", t.tool_name || "tool", " ", time], [h("div", { class: "label" }, "arguments"), h("pre", {}, pretty(t.tool_args ?? {})), result], { cls: "tool" }),
        );
        this.tools.set(t.tool_call_id, { result, time, started: performance.now() });
        break;
      }
      case "ToolCallCompleted": {
        const t = d.tool || {};
        const seen = this.tools.get(t.tool_call_id);
        if (!seen) break;
        const ms = (performance.now() - seen.started) / 1000;
        seen.time.textContent = `${t.tool_call_error ? "failed · " : ""}${seconds(ms)}`;
        if (t.tool_call_error) seen.time.classList.add("error");
        put(seen.result, h("div", { class: "label" }, "result"), h("pre", {}, pretty(t.result ?? d.content ?? "")));
        break;
      }
      case "StepStarted": {
        if (!this.room()) break;
        const time = h("span", { class: "muted" }, "running…");
        const body = h("div", { class: "blocks" });
        const group = [...this.steps].reverse().find((s) => s.group);
        const where = group ? group.body : this.root.body;
        const type = d.step_type || "Step";
        where.append(fold([h("span", { class: "badge" }, `step ${this.stepCount(d)}`), " ", d.step_name || "", ` (${type})`, " ", time], body, { cls: "step" }));
        this.steps.push({ id: d.step_id, name: d.step_name, body, time, group: type !== "Step", started: performance.now() });
        break;
      }
      case "StepCompleted": {
        const i = this.steps.findLastIndex((s) => s.id === d.step_id);
        if (i < 0) break;
        const [s] = this.steps.splice(i, 1);
        const r = d.step_response || {};
        const took = r.metrics?.duration ?? (performance.now() - s.started) / 1000;
        s.time.textContent = `${r.success === false ? "failed · " : "done · "}${seconds(took)}`;
        if (r.success === false) {
          s.time.classList.add("error");
          s.body.append(h("div", { class: "error" }, bounded(r.error || d.detail || "the step failed")));
        }
        if (!s.body.childElementCount && d.content) s.body.append(h("div", { class: "bubble answer nested" }, bounded(d.content)));
        break;
      }
      case "RunCompleted":
      case "WorkflowCompleted": {
        const r = this.run(d);
        if (typeof d.content === "string" && (d.content !== r.text || !r.text)) r.set(d.content);
        else if (d.content !== undefined && d.content !== null && typeof d.content !== "string") r.set(pretty(d.content));
        const m = d.metrics || {};
        const bits = ["completed"];
        if (m.total_tokens) bits.push(`${m.total_tokens} tokens`);
        if (typeof m.duration === "number") bits.push(seconds(m.duration));
        else bits.push(seconds((performance.now() - r.started) / 1000));
        r.state(bits.join(" · "), "ok");
        if (r === this.root) this.outcome = "completed";
        break;
      }
      case "RunError":
      case "WorkflowError": {
        const r = this.run(d);
        r.state(`error: ${bounded(d.content || d.error || "the run failed", 2000)}`, "error");
        if (r === this.root) {
          this.outcome = "error";
          r.contentEl.classList.add("error");
          if (!r.text) r.set(d.content || d.error || "the run failed");
        }
        break;
      }
      case "RunCancelled":
      case "WorkflowCancelled": {
        const r = this.run(d);
        r.state("cancelled", "cancelled");
        if (r === this.root) this.outcome = "cancelled";
        break;
      }
      default:
        break;
    }
  }

  stepCount(d) {
    return typeof d.step_index === "number" ? d.step_index + 1 : "";
  }

  end() {
    if (this.hidden) this.root.body.append(h("p", { class: "muted" }, `${this.hidden} more blocks not shown`));
    if (!this.outcome) {
      this.outcome = "ended";
      this.root.state("the stream ended before the run did", "error");
    }
  }

  fail(message) {
    this.outcome = "error";
    this.root.state(`error: ${bounded(message, 2000)}`, "error");
  }

  summary() {
    return this.outcome ? `last run: ${this.outcome}` : "";
  }
}
