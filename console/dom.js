// Small DOM helpers. Everything a model, a tool or a user wrote is put on the page as text
// (textContent), never as HTML: a reply that contains markup shows the markup.

/** An element: `h("button", {class: "x", onclick: f, "aria-label": "Go"}, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k === "value") el.value = v;
    else if (k === "checked" || k === "disabled" || k === "open" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Most characters of one text shown at once (a hostile reply can be megabytes). */
export const MAX_TEXT = 200_000;

/** `text`, cut at `max` characters with a note saying how much was left out. */
export function bounded(text, max = MAX_TEXT) {
  const s = typeof text === "string" ? text : text === undefined || text === null ? "" : String(text);
  return s.length <= max ? s : `${s.slice(0, max)}\n… (${s.length - max} more characters not shown)`;
}

/** JSON, indented, bounded. */
export function pretty(value, max = MAX_TEXT) {
  let s;
  try {
    s = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  } catch {
    s = String(value);
  }
  return bounded(s ?? "", max);
}

/** A time: epoch seconds, epoch milliseconds or an ISO string, as the local date and time. */
export function when(t) {
  if (t === undefined || t === null || t === "") return "";
  let d;
  if (typeof t === "number") d = new Date(t < 1e12 ? t * 1000 : t);
  else d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

/** Seconds as "1.23 s" or "45 ms". */
export function seconds(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "";
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}

/** A `<details>` block: summary (text or nodes), body, open or not. */
export function fold(summary, body, { open = false, cls = "" } = {}) {
  return h("details", { class: `fold ${cls}`.trim(), open }, h("summary", {}, summary), h("div", { class: "fold-body" }, body));
}

/** A labelled field: `<label>text <control></label>`. */
export function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

/** A definition list from pairs, skipping empty values. */
export function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    dl.append(h("dt", {}, k), h("dd", {}, v));
  }
  return dl;
}
