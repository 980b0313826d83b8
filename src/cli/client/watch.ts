// Follows a job to its end: the SSE stream for events (resumed from the last seq after a dropped
// connection) and a slow poll of GET /v1/jobs/:id for progress and status, which also carries the watch
// alone when the event stream is unavailable (a proxy that buffers it, say).
import type { JobView } from "../../contract/api/components.js";
import type { JobEventView } from "../../contract/events.js";
import { isFinal } from "../../contract/status.js";
import type { ApiClient } from "./api-client.js";

export interface WatchOptions {
  onJob?: (job: JobView) => void;
  onEvent?: (event: JobEventView) => void;
  signal?: AbortSignal;
  pollMs?: number;
  /** consecutive event-stream failures after which only polling goes on */
  maxStreamFailures?: number;
  /** test hook: no event stream at all */
  noStream?: boolean;
}

const FINAL_EVENTS = new Set(["job.succeeded", "job.failed", "job.cancelled"]);

const FINAL_EVENT_GRACE_MS = 2000;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves with the job once its status is final (or rejects with the abort reason / an API error). */
export async function watchJob(client: ApiClient, id: string, opts: WatchOptions = {}): Promise<JobView> {
  const pollMs = opts.pollMs ?? 2000;
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let job = await client.getJob(id);
  opts.onJob?.(job);
  if (isFinal(job.status)) return job;

  let lastSeq: number | undefined;
  let finalSeen = false;
  // a final event ends the poll's wait at once, so the watch returns without a poll interval's delay
  const wake = new AbortController();
  const streamLoop = async () => {
    let failures = 0;
    while (!stop.signal.aborted && !finalSeen) {
      try {
        for await (const ev of client.events(id, { lastEventId: lastSeq, signal: stop.signal })) {
          failures = 0;
          if (lastSeq !== undefined && ev.seq <= lastSeq) continue;
          lastSeq = ev.seq;
          opts.onEvent?.(ev);
          if (FINAL_EVENTS.has(ev.type)) {
            finalSeen = true;
            wake.abort();
            break;
          }
        }
        // the server ended the stream without a final event: reconnect after a breath
        failures++;
      } catch (err) {
        if (stop.signal.aborted) return;
        failures++;
        if ((err as { exitCode?: number }).exitCode === 4 && failures > 1) return; // the route does not exist
      }
      if (failures >= (opts.maxStreamFailures ?? 5)) return;
      await sleep(Math.min(500 * 2 ** failures, 5000), stop.signal);
    }
  };
  const stream = opts.noStream ? Promise.resolve() : streamLoop();
  try {
    for (;;) {
      if (!finalSeen) await sleep(pollMs, AbortSignal.any([stop.signal, wake.signal]));
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error("aborted");
      job = await client.getJob(id);
      opts.onJob?.(job);
      if (isFinal(job.status)) {
        // the poll can see the final status before the stream has delivered the final event: give the stream a
        // moment to deliver it, so a watch never ends without its last event
        if (!finalSeen && !opts.noStream) await Promise.race([stream, sleep(FINAL_EVENT_GRACE_MS, wake.signal)]);
        return job;
      }
    }
  } finally {
    stop.abort();
    opts.signal?.removeEventListener("abort", onAbort);
    await stream.catch(() => {});
  }
}
