// Memories of one user: list (with a topic filter), add, delete.

import { api } from "./api.js";
import { field, h, put, when } from "./dom.js";

export function memoriesView(ctx, query) {
  const user = query.get("user_id") || localStorage.getItem("agno-run.user") || "console-user";
  const topic = query.get("topic") || "";
  const root = h("section", { class: "view", "aria-labelledby": "memories-title" }, h("h2", { id: "memories-title" }, "Memories"));
  const userIn = h("input", { id: "memories-user", name: "user_id", value: user, required: true, autocomplete: "off" });
  const topicSel = h("select", { id: "memories-topic", name: "topic" }, h("option", { value: "" }, "any"));
  const pick = h("form", { class: "controls", role: "search" }, field("User", userIn), field("Topic", topicSel), h("button", { type: "submit" }, "Show"));
  const list = h("div", { id: "memories-list" }, h("p", { class: "muted" }, "Loading…"));
  const text = h("textarea", { id: "memory-text", name: "memory", rows: 2, required: true, maxlength: 65536 });
  const topicsIn = h("input", { id: "memory-topics", name: "topics", placeholder: "comma separated", autocomplete: "off" });
  const said = h("span", { role: "status", class: "muted" });
  const add = h("form", { class: "controls", id: "memory-add" }, field("New memory", text), field("Topics", topicsIn), h("button", { type: "submit", class: "primary" }, "Add memory"), said);
  root.append(pick, h("h3", {}, "Add"), add, h("h3", {}, "Stored"), list);

  const go = () => {
    const q = new URLSearchParams({ user_id: userIn.value.trim() });
    if (topicSel.value) q.set("topic", topicSel.value);
    ctx.navigate(`#/memories?${q}`);
  };
  pick.addEventListener("submit", (e) => {
    e.preventDefault();
    go();
  });

  const load = async () => {
    try {
      const topics = await api("/memory_topics", { query: { user_id: user } });
      put(topicSel, h("option", { value: "" }, "any"), (topics || []).map((t) => h("option", { value: t, selected: t === topic }, t)));
      const res = await api("/memories", { query: { user_id: user, topics: topic || undefined, limit: 100, sort_by: "updated_at", sort_order: "desc" } });
      const rows = res?.data ?? [];
      if (!rows.length) return put(list, h("p", { class: "muted" }, `No memories for ${user}.`));
      put(
        list,
        h(
          "ul",
          { class: "memories" },
          rows.map((m) => {
            const del = h("button", { type: "button", class: "danger", "aria-label": `Delete memory: ${m.memory}` }, "Delete");
            del.addEventListener("click", async () => {
              del.disabled = true;
              try {
                await api(`/memories/${encodeURIComponent(m.memory_id)}`, { method: "DELETE", query: { user_id: user } });
                load();
              } catch (e) {
                said.textContent = `cannot delete: ${e.message}`;
                del.disabled = false;
              }
            });
            return h(
              "li",
              { class: "memory" },
              h("div", { class: "memory-text" }, m.memory),
              h("div", { class: "muted" }, (m.topics || []).map((t) => h("span", { class: "badge" }, t)), ` ${when(m.updated_at)}`),
              del,
            );
          }),
        ),
        res.meta && res.meta.total_count > rows.length ? h("p", { class: "muted" }, `${rows.length} of ${res.meta.total_count} shown`) : null,
      );
    } catch (e) {
      put(list, h("p", { class: "error" }, `Cannot list memories: ${e.message}`));
    }
  };

  add.addEventListener("submit", async (e) => {
    e.preventDefault();
    const topics = topicsIn.value.split(",").map((t) => t.trim()).filter(Boolean);
    try {
      await api("/memories", { method: "POST", query: { user_id: user }, json: { memory: text.value, user_id: user, topics } });
      text.value = "";
      topicsIn.value = "";
      said.textContent = "added";
      load();
    } catch (err) {
      said.textContent = `cannot add: ${err.message}`;
    }
  });
  load();
  return root;
}
