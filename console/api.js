// The console's only way out: agno-run's own HTTP API (the AgentOS routes and
// `/config/events`). With a security key, the key is kept in sessionStorage (this tab only).

const KEY = "agno-run.key";
/** Most bytes of one SSE event held while it arrives (a hostile stream is cut there). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

export function key() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, k);
  else sessionStorage.removeItem(KEY);
}

/** An answer that was not 2xx: status and AgentOS's `detail`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** Called with every 401, so the page can ask for the key. */
let onUnauthorized = () => {};
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

function headers(extra = {}) {
  const h = { ...extra };
  const k = key();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

async function failure(res) {
  let detail = res.statusText;
  try {
    const body = await res.json();
    detail = body.detail ?? body;
  } catch {
    /* not JSON */
  }
  if (res.status === 401) onUnauthorized(detail);
  return new ApiError(res.status, detail);
}

/**
 * A JSON call. `json` is sent as a JSON body, `form` as application/x-www-form-urlencoded.
 * Resolves to the parsed body (null for 204).
 */
export async function api(path, { method = "GET", query, json, form, signal } = {}) {
  const init = { method, signal, headers: headers() };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form);
  }
  const res = await fetch(url(path, query), init);
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/**
 * The events of an SSE answer, as `{event, data}` with `data` parsed from JSON. Works for POST
 * and with the Authorization header (EventSource can do neither). Ends when the stream ends.
 */
export async function* events(path, { method = "GET", query, form, signal } = {}) {
  const init = { method, signal, headers: headers({ Accept: "text/event-stream" }) };
  if (form !== undefined) init.body = new URLSearchParams(form);
  const res = await fetch(url(path, query), init);
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = parse(block);
        if (event) yield event;
      }
      if (buffer.length > MAX_EVENT_BYTES) throw new Error(`an event of the stream is over ${MAX_EVENT_BYTES} bytes`);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parse(block) {
  let name = "";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0) return null;
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    return null;
  }
  return { event: name || parsed?.event || "", data: parsed };
}

/** The path of a component's routes: `agents`, `teams` or `workflows`. */
export function plural(kind) {
  return { agent: "agents", team: "teams", workflow: "workflows" }[kind];
}
