// A job's events. GET /v1/jobs/:id/events is a JSON page, or with `Accept: text/event-stream` a live SSE
// stream: each event's per-job `seq` is its SSE id, so a client that reconnects with Last-Event-ID gets exactly
// the events after the last one it saw. New rows are found by polling Postgres (cheap: an index range scan on
// (jobId, seq)); the stream ends after the final event.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { IdParams } from "../../../contract/api/common.js";
import { EventPage, EventsQuery } from "../../../contract/api/jobs.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { isFinal } from "../../../contract/status.js";
import { FINAL_EVENT_TYPES } from "../../../contract/webhook.js";
import { INT32_MAX, InvalidCursorError, parseSeq } from "../../../db/cursor.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { REQUEST_ID_HEADER } from "../../request-id.js";
import { badCursor, notFound } from "./common.js";
import { eventView } from "./views.js";

export interface EventsRoutesOptions {
  /** how often an open stream looks for new events */
  pollMs?: number;
  /** comment lines that keep proxies from closing an idle stream */
  heartbeatMs?: number;
}

const encodeSeqCursor = (seq: number) => Buffer.from(`seq:${seq}`).toString("base64url");
function decodeSeqCursor(cursor: string): number {
  const m = /^seq:(\d{1,10})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m) throw badCursor();
  return seqOrProblem(m[1], badCursor);
}

/** An event position, or the given 400 when it is over what the seq column holds. */
function seqOrProblem(text: string, problem: () => HttpProblem): number {
  try {
    return parseSeq(text);
  } catch (err) {
    if (err instanceof InvalidCursorError) throw problem();
    throw err;
  }
}

const badLastEventId = () =>
  new HttpProblem(400, `Last-Event-ID must be an event seq this API sent (at most ${INT32_MAX})`, { type: PROBLEM_TYPES.validation, errors: [{ location: "headers", pointer: "/last-event-id", detail: "is not an event seq" }] });

const eventsRoutes: FastifyPluginAsyncTypebox<EventsRoutesOptions> = async (app, opts) => {
  const pollMs = opts.pollMs ?? 300;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;

  app.get(
    "/jobs/:id/events",
    {
      schema: {
        tags: ["jobs"],
        summary: "A job's events: a page of JSON, or a live SSE stream",
        description:
          "With Accept: text/event-stream the answer is a Server-Sent Events stream: `id` is the event's seq, `event` its type, `data` the event as JSON. Reconnect with Last-Event-ID to resume with nothing lost or repeated. Comment lines keep the connection alive; the stream ends after the job's final event.",
        params: IdParams,
        querystring: EventsQuery,
        headers: Type.Object({ "last-event-id": Type.Optional(Type.String({ pattern: "^[0-9]{1,10}$", description: "SSE resume point: the last seq received" })) }),
        response: {
          200: {
            description: "events after the cursor, in seq order",
            content: { "application/json": { schema: EventPage }, "text/event-stream": { schema: { type: "string", description: "id: <seq>\\nevent: <type>\\ndata: <event JSON>\\n\\n, repeated" } } },
          },
          ...problemResponses(400, 401, 404, 429),
        },
      },
    },
    async (req, reply) => {
      const job = await app.jobs.get(req.auth.tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      const lastEventId = req.headers["last-event-id"] as string | undefined;
      const after = lastEventId !== undefined ? seqOrProblem(lastEventId, badLastEventId) : req.query.cursor ? decodeSeqCursor(req.query.cursor) : 0;

      if (!/text\/event-stream/.test(String(req.headers.accept ?? ""))) {
        const limit = req.query.limit ?? 100;
        const items = await app.jobs.events(job.id, { afterSeq: after, limit });
        const last = items.length > 0 ? items[items.length - 1].seq : after;
        const done = items.length < limit && isFinal(job.status) && (items.length === 0 || FINAL_EVENT_TYPES.includes(items[items.length - 1].type));
        return { items: items.map(eventView), nextCursor: done ? null : encodeSeqCursor(last) };
      }

      // SSE: from here on the handler owns the socket
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        [REQUEST_ID_HEADER]: req.id,
        ...Object.fromEntries(Object.entries(reply.getHeaders()).filter(([k]) => k.startsWith("ratelimit"))),
      });
      res.write(`retry: ${Math.max(1000, pollMs * 4)}\n\n`);
      let closed = false;
      req.raw.on("close", () => (closed = true));
      res.on("close", () => (closed = true));
      const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
      let seq = after;
      // resuming after the end of a finished job: nothing will come
      let finished = isFinal(job.status) && job.eventSeq <= seq;
      try {
        while (!closed && !finished) {
          const batch = await app.jobs.events(job.id, { afterSeq: seq, limit: 500 });
          for (const e of batch) {
            res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(eventView(e))}\n\n`);
            seq = e.seq;
            if (FINAL_EVENT_TYPES.includes(e.type)) finished = true;
          }
          if (!finished && batch.length < 500) await new Promise((r) => setTimeout(r, pollMs));
        }
      } catch (err) {
        req.log.error({ err, jobId: job.id }, "event stream failed");
      } finally {
        clearInterval(heartbeat);
        res.end();
      }
    },
  );
};

export default eventsRoutes;
