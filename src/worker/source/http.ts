// Every outbound HTTP request the worker makes goes through the SSRF guard here: each hop's host is resolved and
// checked, the socket goes to the checked address, with a connect/idle timeout. GET (sources, datasets, the Hub)
// follows redirects by hand (at most 5, each re-checked); statuses map to job errors: 401/403 →
// source_unauthorized, 404/410 → source_not_found, 429/5xx → transient (retried). POST (webhooks) follows none.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { InvalidJobError, TransientError } from "../../contract/errors.js";
import { resolveAllowed, type Lookup } from "./guard.js";

export const MAX_REDIRECTS = 5;

export interface GuardedGetOptions {
  allowPrivate: boolean;
  /** only https unless set (the HF endpoint of a private deployment may be http) */
  allowHttp?: boolean;
  headers?: Record<string, string>;
  /** no bytes for this long → TransientError */
  timeoutMs?: number;
  signal?: AbortSignal;
  lookup?: Lookup;
  /** addresses exempt from the private-address check (an operator's internal mirror) */
  allowAddress?: (ip: string) => boolean;
  what?: string;
  /** keep Authorization on a redirect to another host (the HF Hub redirects to its own CDN with signed URLs: no) */
  keepAuthAcrossHosts?: boolean;
}

export interface GuardedResponse {
  url: string;
  status: number;
  headers: IncomingMessage["headers"];
  body: IncomingMessage;
}

function once(url: URL, address: string, family: 4 | 6, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal, post?: Buffer): Promise<IncomingMessage> {
  const pinned: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else cb(null, address, family);
  };
  const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, { method: post ? "POST" : "GET", headers, lookup: pinned, signal, timeout: timeoutMs });
  return new Promise((resolve, reject) => {
    req.once("response", (res) => {
      res.setTimeout(timeoutMs, () => res.destroy(new TransientError(`no data from ${url.origin} for ${timeoutMs} ms`)));
      resolve(res);
    });
    req.once("timeout", () => req.destroy(new TransientError(`${url.origin} did not answer within ${timeoutMs} ms`)));
    req.once("error", reject);
    req.end(post);
  });
}

/** The URL checked for scheme and credentials, and its host resolved and checked by the guard. */
async function checkedHop(url: URL, opts: GuardedGetOptions, what: string) {
  if (url.protocol !== "https:" && !(opts.allowHttp && url.protocol === "http:"))
    throw new InvalidJobError("invalid_spec", `${what} ${url.origin} is refused: only https URLs can be fetched`);
  if (url.username || url.password) throw new InvalidJobError("invalid_spec", `${what} must not carry credentials in the URL`);
  return resolveAllowed(url, { allowPrivate: opts.allowPrivate, lookup: opts.lookup, allowAddress: opts.allowAddress, what });
}

function parseUrl(input: string, what: string): URL {
  try {
    return new URL(input);
  } catch {
    throw new InvalidJobError("invalid_spec", `${what} ${JSON.stringify(input)} is not a URL`);
  }
}

/**
 * POST `body` to `url` through the guard, following no redirect; resolves with the status once the answer's
 * headers are in (its body is discarded). A refused address is InvalidJobError; a network failure or timeout
 * is TransientError.
 */
export async function guardedPost(input: string, body: Buffer, opts: GuardedGetOptions): Promise<number> {
  const what = opts.what ?? "URL";
  const url = parseUrl(input, what);
  const { address, family } = await checkedHop(url, opts, what);
  const headers: Record<string, string> = { ...(opts.headers ?? {}), "content-length": String(body.length) };
  let res: IncomingMessage;
  try {
    res = await once(url, address, family, headers, opts.timeoutMs ?? 10_000, opts.signal, body);
  } catch (err) {
    if (err instanceof TransientError) throw err;
    throw new TransientError(`POST ${url.origin}${url.pathname} failed: ${(err as Error).message}`, undefined, { cause: err });
  }
  res.resume();
  return res.statusCode ?? 0;
}

/** GET `url`, following redirects through the guard; resolves with a 2xx response (the caller consumes the body). */
export async function guardedGet(input: string, opts: GuardedGetOptions): Promise<GuardedResponse> {
  const what = opts.what ?? "source URL";
  let url = parseUrl(input, what);
  const firstOrigin = url.origin;
  for (let hop = 0; ; hop++) {
    const { address, family } = await checkedHop(url, opts, what);
    const headers: Record<string, string> = { "user-agent": "maskforge-worker", ...(opts.headers ?? {}) };
    if (url.origin !== firstOrigin && !opts.keepAuthAcrossHosts) delete headers.authorization;
    let res: IncomingMessage;
    try {
      res = await once(url, address, family, headers, opts.timeoutMs ?? 30_000, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (err instanceof TransientError || err instanceof InvalidJobError) throw err;
      throw new TransientError(`GET ${url.origin}${url.pathname} failed: ${(err as Error).message}`, undefined, { cause: err });
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new InvalidJobError("source_not_found", `${what} redirected more than ${MAX_REDIRECTS} times`);
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status >= 200 && status < 300) return { url: url.href, status, headers: res.headers, body: res };
    res.resume();
    const where = `${url.origin}${url.pathname}`;
    if (status === 401 || status === 403) throw new InvalidJobError("source_unauthorized", `${what} ${where} answered ${status}: access denied; check the URL or the token`);
    if (status === 404 || status === 410) throw new InvalidJobError("source_not_found", `${what} ${where} answered ${status}: not found`, { details: { status } });
    if (status === 429 || status >= 500) throw new TransientError(`GET ${where} answered ${status}`);
    throw new InvalidJobError("source_not_found", `${what} ${where} answered ${status}`);
  }
}
