// Teams and workflows drawn as small graphs of boxes: a team's members (nested teams inside
// their box), a workflow's steps in order, with parallel groups side by side and the branches
// of conditions and routers as labelled lanes.

import { h } from "./dom.js";

const MAX_DEPTH = 16;

function modelOf(c) {
  const m = c?.model;
  if (!m) return "";
  return [m.provider, m.model || m.id || m.name].filter(Boolean).join(" · ");
}

/** The members of a team, as a tree of boxes. */
export function teamGraph(team, depth = 0) {
  const members = Array.isArray(team.members) ? team.members : [];
  const box = h(
    "div",
    { class: "node node-team", role: "group", "aria-label": `team ${team.name || team.id}` },
    h("div", { class: "node-title" }, h("span", { class: "badge" }, "team"), " ", team.name || team.id, team.mode ? h("span", { class: "muted" }, ` · ${team.mode}`) : null),
    h("div", { class: "node-sub muted" }, modelOf(team)),
  );
  if (depth >= MAX_DEPTH) return box;
  const row = h("div", { class: "edges" });
  for (const m of members) {
    row.append(Array.isArray(m.members) ? teamGraph(m, depth + 1) : agentNode(m));
  }
  if (members.length) box.append(row);
  return box;
}

function agentNode(a) {
  const tools = a.tools?.tools?.map((t) => t.name) ?? [];
  return h(
    "div",
    { class: "node node-agent", role: "group", "aria-label": `agent ${a.name || a.id}` },
    h("div", { class: "node-title" }, h("span", { class: "badge" }, "agent"), " ", a.name || a.id),
    a.role ? h("div", { class: "node-sub" }, a.role) : null,
    h("div", { class: "node-sub muted" }, modelOf(a)),
    tools.length ? h("div", { class: "node-sub muted" }, `tools: ${tools.join(", ")}`) : null,
  );
}

/** The steps of a workflow, top to bottom. */
export function workflowGraph(workflow) {
  return h("div", { class: "flow", role: "group", "aria-label": `steps of ${workflow.name || workflow.id}` }, steps(workflow.steps, 0));
}

function steps(list, depth) {
  if (!Array.isArray(list)) return [];
  return list.map((s) => stepNode(s, depth));
}

function lane(label, list, depth) {
  return h("div", { class: "lane" }, h("div", { class: "lane-label muted" }, label), h("div", { class: "flow" }, steps(list, depth + 1)));
}

function stepNode(s, depth) {
  const type = s.type || "Step";
  const head = h("div", { class: "node-title" }, h("span", { class: `badge step-${type.toLowerCase()}` }, type.toLowerCase()), " ", s.name || "");
  const node = h("div", { class: `node node-step step-${type.toLowerCase()}`, role: "group", "aria-label": `${type} step ${s.name || ""}` }, head);
  if (s.description) node.append(h("div", { class: "node-sub muted" }, s.description));
  if (depth >= MAX_DEPTH) return node;
  if (type === "Step") {
    if (s.agent) node.append(h("div", { class: "node-sub" }, `agent: ${s.agent.name || s.agent.id}`));
    if (s.team) node.append(h("div", { class: "node-sub" }, `team: ${s.team.name || s.team.id}`), teamGraph(s.team, depth + 1));
  } else if (type === "Parallel") {
    node.append(h("div", { class: "edges" }, steps(s.steps, depth + 1)));
  } else if (type === "Condition") {
    const lanes = h("div", { class: "edges" }, lane("if true", s.steps, depth));
    if (Array.isArray(s.else_steps) && s.else_steps.length) lanes.append(lane("else", s.else_steps, depth));
    node.append(lanes);
  } else if (type === "Router") {
    node.append(h("div", { class: "edges" }, (s.steps || []).map((c) => lane("choice", [c], depth))));
  } else if (type === "Loop") {
    node.append(lane("repeat", s.steps, depth));
  } else {
    node.append(h("div", { class: "flow" }, steps(s.steps, depth + 1)));
  }
  return node;
}
