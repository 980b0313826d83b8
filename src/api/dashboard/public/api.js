// The public /v1 API from the browser, with the key kept in localStorage. Errors are RFC 9457 problems;
// ApiError carries the detail and the field errors so the pages can show them next to the form.
/* global localStorage, document */

const KEY = "maskforge.apiKey";

export const getKey = () => localStorage.getItem(KEY) || "";
export const setKey = (key) => localStorage.setItem(KEY, key.trim());
export const forgetKey = () => localStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function problemOf(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { status: res.status, title: res.statusText, detail: text.slice(0, 300) };
  }
}

export async function raw(method, path, { body, headers = {}, signal } = {}) {
  const h = { ...headers };
  const key = getKey();
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h["content-type"] = "application/json";
  const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!res.ok) throw new ApiError(res.status, await problemOf(res));
  return res;
}

export async function api(method, path, body) {
  const res = await raw(method, path, { body, headers: { accept: "application/json" } });
  return res.status === 204 ? undefined : res.json();
}

/**
 * Follows a job's events (SSE over fetch: EventSource cannot send the Authorization header). Calls onEvent
 * per event; resolves when the server ends the stream, rejects on errors (the caller resumes from the last seq).
 */
export async function streamEvents(jobId, { lastSeq, onEvent, signal }) {
  const headers = { accept: "text/event-stream" };
  if (lastSeq) headers["last-event-id"] = String(lastSeq);
  const res = await raw("GET", `/v1/jobs/${jobId}/events`, { headers, signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let data = [];
  let id;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    const lines = buf.split(/\r\n|\r|\n/);
    buf = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) {
          try {
            const ev = JSON.parse(data.join("\n"));
            onEvent({ ...ev, seq: ev.seq ?? Number(id) });
          } catch {
            // not JSON: not one of ours
          }
        }
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const v = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "data") data.push(v);
      else if (field === "id") id = v;
    }
  }
}

/** Saves an artifact through a blob: a plain link could not carry the key. */
export async function download(href, name) {
  const res = await raw("GET", href);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
