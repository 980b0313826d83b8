// The maskforge API as typed calls: one place that knows paths, auth and the problem+json error shape, used
// by the CLI commands and the demo. The answers' types are the API's own schemas (src/contract/api). Every failure is a CliError with an exit code and a message that says
// what to do; the raw fetch is injectable for tests.
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ApiError, CliError, UnreachableError, type Problem } from "./errors.js";
import { EXIT } from "./exit-codes.js";
import { multipartBody, type MultipartFile } from "./multipart.js";
import { parseSse } from "./sse.js";
import type { JobEventView } from "../../contract/events.js";
import type { CheckpointPage } from "../../contract/api/checkpoints.js";
import type { Answer, ArtifactView, CheckpointView, JobView, MaskView } from "../../contract/api/components.js";
import type { ArtifactList, CancelResultSchema, CreatedJobSchema, JobPage, MetricsSchema } from "../../contract/api/jobs.js";
import type { MaskPage } from "../../contract/api/masks.js";

export interface ApiClientOptions {
  /** base URL, e.g. http://127.0.0.1:3000 */
  apiUrl: string;
  /** mf_... Bearer key */
  apiKey?: string;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface DownloadProgress {
  (received: number, total: number | undefined): void;
}

export class ApiClient {
  readonly apiUrl: string;
  private readonly apiKey?: string;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ApiClientOptions) {
    this.apiUrl = opts.apiUrl.replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const u = new URL(path.startsWith("http") ? path : `${this.apiUrl}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  /** fetch with auth; network failures become UnreachableError, error statuses ApiError. */
  async raw(method: string, path: string, init: RequestInit & RequestOptions = {}): Promise<Response> {
    const url = this.url(path, init.query);
    let res: Response;
    try {
      res = await this.fetchImpl(url, { ...init, method, headers: this.headers(init.headers as Record<string, string>) });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new UnreachableError(this.apiUrl, err);
    }
    if (!res.ok) throw new ApiError(res.status, await readProblem(res), method, url, this.apiUrl);
    return res;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const init: RequestInit & RequestOptions = { query: opts.query, signal: opts.signal, headers: { accept: "application/json", ...opts.headers } };
    if (opts.json !== undefined) {
      init.body = JSON.stringify(opts.json);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const res = await this.raw(method, path, init);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    try {
      return (text ? JSON.parse(text) : undefined) as T;
    } catch {
      throw new CliError(`${method} ${path}: the API answered ${res.status} with a body that is not JSON`, EXIT.failure);
    }
  }

  // ---- jobs

  async createJob(spec: unknown, opts: { idempotencyKey?: string } = {}): Promise<JobView & { webhookSecret?: string }> {
    const r = await this.request<Answer<typeof CreatedJobSchema>>("POST", "/v1/jobs", { json: spec, headers: opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {} });
    return r.webhookSecret ? { ...r.job, webhookSecret: r.webhookSecret } : r.job;
  }

  listJobs(query: { limit?: number; cursor?: string; status?: string } = {}): Promise<Answer<typeof JobPage>> {
    return this.request("GET", "/v1/jobs", { query });
  }

  getJob(id: string): Promise<JobView> {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(id)}`);
  }

  /** outcome: cancelled (it was queued), cancel_requested (it runs and stops at its next check), already_requested */
  cancelJob(id: string): Promise<Answer<typeof CancelResultSchema>> {
    return this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  jobMetrics(id: string): Promise<Answer<typeof MetricsSchema>> {
    return this.request("GET", `/v1/jobs/${encodeURIComponent(id)}/metrics`);
  }

  async jobArtifacts(id: string): Promise<ArtifactView[]> {
    const r = await this.request<Answer<typeof ArtifactList>>("GET", `/v1/jobs/${encodeURIComponent(id)}/artifacts`);
    return r.items;
  }

  /**
   * The job's events as they happen (SSE), starting after `lastEventId`. Ends when the server closes the
   * stream (it does after a final event); throws on network errors so the caller can resume from the last seq.
   */
  async *events(id: string, opts: { lastEventId?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEventView> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (opts.lastEventId !== undefined) headers["last-event-id"] = String(opts.lastEventId);
    const res = await this.raw("GET", `/v1/jobs/${encodeURIComponent(id)}/events`, { headers, signal: opts.signal });
    if (!res.body) return;
    for await (const msg of parseSse(res.body as unknown as AsyncIterable<Uint8Array>)) {
      let event: JobEventView;
      try {
        event = JSON.parse(msg.data) as JobEventView;
      } catch {
        continue; // not one of ours (a keep-alive or a comment-like data line)
      }
      yield event;
    }
  }

  // ---- checkpoints

  /** Streams the files as one multipart request; `onProgress(sent, total)` follows the bytes. */
  async uploadCheckpoint(files: Omit<MultipartFile, "field">[], opts: { fields?: Record<string, string>; onProgress?: (sent: number, total: number) => void; signal?: AbortSignal } = {}): Promise<CheckpointView> {
    const body = await multipartBody(
      files.map((f) => ({ ...f, field: "files" })),
      opts.fields,
    );
    const stream = Readable.from(body.stream((sent) => opts.onProgress?.(sent, body.length)));
    const res = await this.raw("POST", "/v1/checkpoints", {
      headers: { "content-type": body.contentType, "content-length": String(body.length), accept: "application/json" },
      body: stream as unknown as BodyInit,
      duplex: "half",
      signal: opts.signal,
    } as RequestInit & RequestOptions);
    return (await res.json()) as CheckpointView;
  }

  getCheckpoint(id: string): Promise<CheckpointView> {
    return this.request("GET", `/v1/checkpoints/${encodeURIComponent(id)}`);
  }

  listCheckpoints(query: { limit?: number; cursor?: string } = {}): Promise<Answer<typeof CheckpointPage>> {
    return this.request("GET", "/v1/checkpoints", { query });
  }

  // ---- masks

  listMasks(query: { limit?: number; cursor?: string; pattern?: string } = {}): Promise<Answer<typeof MaskPage>> {
    return this.request("GET", "/v1/masks", { query });
  }

  getMask(id: string): Promise<MaskView> {
    return this.request("GET", `/v1/masks/${encodeURIComponent(id)}`);
  }

  // ---- downloads

  /**
   * Saves what `path` (an API path or an absolute URL, e.g. a presigned one) answers into `dest`, through a
   * temporary file renamed at the end, so an interrupted download never leaves a truncated file behind.
   */
  async download(path: string, dest: string, opts: { onProgress?: DownloadProgress; signal?: AbortSignal } = {}): Promise<{ bytes: number; path: string }> {
    const external = /^https?:\/\//.test(path) && !path.startsWith(this.apiUrl);
    let res: Response;
    if (external) {
      // a presigned URL carries its own authorisation; our key must not travel to another host
      try {
        res = await this.fetchImpl(path, { signal: opts.signal });
      } catch (err) {
        throw new UnreachableError(new URL(path).origin, err);
      }
      if (!res.ok) throw new ApiError(res.status, await readProblem(res), "GET", path, this.apiUrl);
    } else res = await this.raw("GET", path, { signal: opts.signal });
    const total = Number(res.headers.get("content-length")) || undefined;
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.part-${process.pid}`;
    let received = 0;
    try {
      const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
      body.on("data", (c: Buffer) => {
        received += c.length;
        opts.onProgress?.(received, total);
      });
      await pipeline(body, createWriteStream(tmp));
      if (total !== undefined && received !== total) throw new CliError(`download of ${path} ended early: ${received} of ${total} bytes`, EXIT.unavailable);
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { bytes: received, path: dest };
  }
}

async function readProblem(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => "");
  try {
    const p = JSON.parse(text) as Problem;
    if (p && typeof p === "object") return p;
  } catch {
    // not problem+json (a proxy's HTML page, say): keep the start of the text as the detail
  }
  return { status: res.status, title: res.statusText, detail: text.slice(0, 500) || undefined };
}
