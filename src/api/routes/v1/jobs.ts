// /v1/jobs: submit, list, inspect, cancel and delete jobs, and read a job's metric series and artifacts (its
// events, a stream of their own, are in events.ts). The body of POST is checked by parseJobSpec (not by
// ajv, whose defaults and removeAdditional would change the body before the contract saw it); the schema is
// attached for the OpenAPI document only.
import { createHash } from "node:crypto";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { JOB_EVENT_TYPES } from "../../../contract/events.js";
import { JobSpecExamples, JobSpecSchema, networkPolicy, parseJobSpec, parseDatasetRef, type JobSpec } from "../../../contract/job-spec.js";
import { pruneJob, QUEUE_NAMES } from "../../../contract/queues.js";
import { isFinal } from "../../../contract/status.js";
import { generateWebhookSecret } from "../../../contract/webhook.js";
import { countActiveJobs, createJob, getJob, listJobs, requestCancel } from "../../../db/jobs.repository.js";
import { InvalidCursorError } from "../../../db/cursor.js";
import type { JobWithResults } from "../../../db/job-reads.js";
import { withDeadline } from "../../deadline.js";
import { SingleFlightCache } from "../../single-flight-cache.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { IdParams } from "../../schemas/common.js";
import { ArtifactList, CancelResultSchema, CreatedJobSchema, IdempotencyHeaders, JobListQuery, JobPage, MetricsSchema } from "../../schemas/jobs.js";
import { problemResponses } from "../../schemas/problem.js";
import { badCursor, notFound } from "./common.js";
import { artifactView, jobView } from "./views.js";

const QUEUE_DEADLINE_MS = 3000;
/** how old a queued job's position may be: clients poll, and many may poll the same job */
export const QUEUE_POSITION_MAX_AGE_MS = 500;
const JSON_TYPE = "application/json; charset=utf-8";
const QUEUE_POSITION_LUA = `local p = redis.call('LPOS', KEYS[1], ARGV[1]) if not p then return -1 end return redis.call('LLEN', KEYS[1]) - 1 - p`;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object")
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

const jobsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const network = networkPolicy(app.config);
  const waitKey = `${app.config.queuePrefix}:${QUEUE_NAMES.prune}:wait`;
  // concurrent polls of one job share one Redis call, and its answer for QUEUE_POSITION_MAX_AGE_MS
  const positions = new SingleFlightCache<number | null>(QUEUE_POSITION_MAX_AGE_MS);
  const bodies = new WeakMap<JobWithResults, { queuePosition: number | null; json: string }>();

  /** Jobs ahead of this one in the wait list (workers take from the tail); null when it is not waiting. */
  async function queuePosition(jobId: string): Promise<number | null> {
    try {
      return await positions.get(jobId, async () => {
        // one atomic command: half the cost of MULTI/LPOS/LLEN/EXEC on this polled route (bench:api)
        const ahead = (await app.redis.eval(QUEUE_POSITION_LUA, 1, waitKey, jobId)) as number;
        return ahead >= 0 ? ahead : null;
      });
    } catch {
      return null; // Redis down: the rest of the answer is still worth sending
    }
  }

  /** Ids the spec refers to must exist and belong to the tenant (another tenant's reads as missing). */
  async function referenceErrors(tenantId: string, spec: JobSpec) {
    const errors: { location: string; pointer: string; detail: string }[] = [];
    if ("checkpoint_id" in spec.source) {
      const c = await app.prisma.checkpoint.findFirst({ where: { id: spec.source.checkpoint_id, tenantId }, select: { status: true } });
      if (!c) errors.push({ location: "body", pointer: "/source/checkpoint_id", detail: "no such checkpoint; upload one with POST /v1/checkpoints" });
      else if (c.status !== "ready") errors.push({ location: "body", pointer: "/source/checkpoint_id", detail: `the checkpoint is ${c.status}, not ready` });
    }
    if (spec.method === "maskllm" && typeof spec.prior === "object") {
      const m = await app.prisma.maskArtifact.findFirst({ where: { id: spec.prior.mask_id, tenantId }, select: { id: true } });
      if (!m) errors.push({ location: "body", pointer: "/prior/mask_id", detail: "no such mask" });
    }
    const files = [spec.calibration.dataset, ...spec.eval.datasets].map(parseDatasetRef).flatMap((r) => (r.kind === "file" ? [r.id] : []));
    if (files.length > 0) {
      const found = new Set((await app.prisma.dataFile.findMany({ where: { id: { in: files }, tenantId }, select: { id: true } })).map((f) => f.id));
      for (const id of files) if (!found.has(id)) errors.push({ location: "body", pointer: spec.calibration.dataset === `file:${id}` ? "/calibration/dataset" : "/eval/datasets", detail: `no such file file:${id}; upload it with POST /v1/files` });
    }
    return errors;
  }

  async function enqueue(jobId: string) {
    const j = pruneJob(jobId);
    await withDeadline(() => app.queues.prune.add(j.name, j.data, j.opts), QUEUE_DEADLINE_MS);
  }

  app.post(
    "/jobs",
    {
      schema: {
        tags: ["jobs"],
        summary: "Submit a pruning job",
        description:
          "The body is a job spec; unknown fields are errors. With an Idempotency-Key header, repeating the request with the same body returns the same job (200) instead of making another; the same key with another body is a 409.",
        headers: IdempotencyHeaders,
        body: { ...JobSpecSchema, examples: Object.values(JobSpecExamples).map((e) => e.value) },
        response: { 200: CreatedJobSchema, 201: CreatedJobSchema, ...problemResponses(400, 401, 409, 415, 422, 429, 503) },
      },
      // parseJobSpec checks the body; ajv would strip unknown fields and fill defaults first
      validatorCompiler: () => () => true,
    },
    async (req, reply) => {
      const type = String(req.headers["content-type"] ?? "");
      if (!/^application\/json\b/i.test(type)) throw new HttpProblem(415, "send the job spec as application/json");
      const parsed = parseJobSpec(req.body, { network });
      if (!parsed.ok)
        throw new HttpProblem(400, `invalid job spec: ${parsed.errors.map((e) => `${e.path || "(body)"} ${e.message}`).join("; ")}`, {
          type: PROBLEM_TYPES.validation,
          errors: parsed.errors.map((e) => ({ location: "body", pointer: e.path || "/", detail: e.message })),
        });
      const tenantId = req.auth.tenantId;
      const idempotencyKey = req.headers["idempotency-key"] as string | undefined;
      if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey))
        throw new HttpProblem(400, "Idempotency-Key must be 1-255 visible ASCII characters", { type: PROBLEM_TYPES.validation, errors: [{ location: "headers", pointer: "/idempotency-key", detail: "must be 1-255 visible ASCII characters" }] });
      const requestHash = createHash("sha256").update(canonical(req.body)).digest("hex");

      if (idempotencyKey) {
        const prior = await app.prisma.job.findFirst({ where: { tenantId, idempotencyKey } });
        if (prior && prior.requestHash !== requestHash)
          throw new HttpProblem(409, "this Idempotency-Key was used with another body; use a new key for a new job", { type: "urn:maskforge:problem:idempotency-conflict", jobId: prior.id });
        if (prior) {
          if (prior.status === "queued") await enqueue(prior.id).catch(() => {}); // a lost enqueue is redone; BullMQ dedups by id
          reply.header("idempotent-replayed", "true").header("location", `/v1/jobs/${prior.id}`);
          return reply.code(200).send({ job: jobView(prior), ...(prior.webhookSecret ? { webhookSecret: prior.webhookSecret } : {}) });
        }
      }
      const refErrors = await referenceErrors(tenantId, parsed.spec);
      if (refErrors.length > 0) throw new HttpProblem(422, `the spec refers to objects that cannot be used: ${refErrors.map((e) => `${e.pointer} ${e.detail}`).join("; ")}`, { type: PROBLEM_TYPES.validation, errors: refErrors });
      const active = await countActiveJobs(app.prisma, tenantId);
      if (active >= app.config.maxConcurrentJobsPerTenant)
        throw new HttpProblem(429, `you have ${active} queued or running jobs, the most allowed at once is ${app.config.maxConcurrentJobsPerTenant}; wait for one to finish or cancel one`, { type: "urn:maskforge:problem:too-many-jobs" });

      const webhookSecret = parsed.spec.webhook ? generateWebhookSecret() : undefined;
      const created = await createJob(app.prisma, tenantId, parsed.spec, { idempotencyKey, requestHash, webhookSecret });
      if (created.outcome === "conflict") throw new HttpProblem(409, "this Idempotency-Key was used with another body; use a new key for a new job", { type: "urn:maskforge:problem:idempotency-conflict", jobId: created.job.id });
      const job = created.job;
      if (created.outcome === "created") {
        try {
          await enqueue(job.id);
        } catch (err) {
          // no worker would ever see the row: take it back so the client's retry starts clean
          req.log.error({ err, jobId: job.id }, "could not enqueue the job");
          await app.prisma.job.delete({ where: { id: job.id } });
          throw new HttpProblem(503, "the job queue is unavailable; nothing was created, try again shortly", { type: PROBLEM_TYPES.notReady });
        }
      }
      reply.header("location", `/v1/jobs/${job.id}`);
      if (created.outcome === "replayed") reply.header("idempotent-replayed", "true");
      return reply.code(created.outcome === "created" ? 201 : 200).send({ job: jobView(job), ...(job.webhookSecret ? { webhookSecret: job.webhookSecret } : {}) });
    },
  );

  app.get(
    "/jobs",
    {
      schema: { tags: ["jobs"], summary: "List your jobs, newest first", querystring: JobListQuery, response: { 200: JobPage, ...problemResponses(400, 401, 429) } },
    },
    async (req) => {
      try {
        const page = await listJobs(app.prisma, req.auth.tenantId, { status: req.query.status, limit: req.query.limit, cursor: req.query.cursor });
        return { items: page.items.map((j) => jobView(j)), nextCursor: page.nextCursor };
      } catch (err) {
        if (err instanceof InvalidCursorError) throw badCursor();
        throw err;
      }
    },
  );

  app.get(
    "/jobs/:id",
    {
      schema: {
        tags: ["jobs"],
        summary: "A job: status, stage, progress, ETA, queue position, latest metrics, results, error",
        description: `queuePosition may be up to ${QUEUE_POSITION_MAX_AGE_MS} ms old.`,
        params: IdParams,
        response: { 200: Type.Ref("Job"), ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (req, reply) => {
      // the most polled route: from memory while change notifications flow, else one plain SQL statement
      const found = await app.jobReads.read(req.auth.tenantId, req.params.id);
      if (!found) throw notFound("job", req.params.id);
      const queuePos = found.job.status === "queued" ? await queuePosition(found.job.id) : null;
      // a cached read is the same object on every hit: its answer, serialized by this route's schema, is kept
      // with it until the queue position changes
      const kept = bodies.get(found);
      let json = kept?.queuePosition === queuePos ? kept.json : undefined;
      if (json === undefined) {
        json = reply.serialize(jobView(found.job, { queuePosition: queuePos, results: found.results })) as string;
        bodies.set(found, { queuePosition: queuePos, json });
      }
      return reply.type(JSON_TYPE).send(json);
    },
  );

  app.get(
    "/jobs/:id/metrics",
    {
      schema: {
        tags: ["jobs"],
        summary: "A job's metric time series (from its job.metrics events), for plots",
        params: IdParams,
        response: { 200: MetricsSchema, ...problemResponses(400, 401, 404, 429) },
      },
    },
    async (req) => {
      const job = await getJob(app.prisma, req.auth.tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      const rows = await app.prisma.jobEvent.findMany({ where: { jobId: job.id, type: JOB_EVENT_TYPES.metrics }, orderBy: { seq: "asc" }, take: 20_000, select: { seq: true, data: true, createdAt: true } });
      const series = new Set<string>();
      const points = rows.map((r) => {
        const values: Record<string, number> = {};
        for (const [k, v] of Object.entries((r.data as Record<string, unknown> | null) ?? {}))
          if (typeof v === "number" && Number.isFinite(v)) {
            values[k] = v;
            if (k !== "step") series.add(k);
          }
        return { seq: r.seq, step: values.step ?? null, at: r.createdAt.toISOString(), values };
      });
      return { jobId: job.id, points, series: [...series].sort() };
    },
  );

  app.get(
    "/jobs/:id/artifacts",
    {
      schema: { tags: ["artifacts"], summary: "The files a job stored", params: IdParams, response: { 200: ArtifactList, ...problemResponses(400, 401, 404, 429) } },
    },
    async (req) => {
      const job = await getJob(app.prisma, req.auth.tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      const items = await app.artifacts.ofJob(job.id);
      return { items: items.map(artifactView) };
    },
  );

  app.post(
    "/jobs/:id/cancel",
    {
      schema: {
        tags: ["jobs"],
        summary: "Cancel a job",
        description: "A queued job is cancelled at once (200, outcome cancelled). A running job is flagged (202, outcome cancel_requested) and its worker stops within a step. A finished job is a 409.",
        params: IdParams,
        response: { 200: CancelResultSchema, 202: CancelResultSchema, ...problemResponses(400, 401, 404, 409, 429) },
      },
    },
    async (req, reply) => {
      const tenantId = req.auth.tenantId;
      const job = await getJob(app.prisma, tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      // evicted even if a later step throws: the status may have changed by then
      const { outcome, status } = await requestCancel(app.prisma, job.id).finally(() => app.jobReads.evict(job.id));
      if (outcome === "not_found") throw notFound("job", req.params.id);
      if (outcome === "final") throw new HttpProblem(409, `the job already finished (${status}); there is nothing to cancel`, { type: "urn:maskforge:problem:job-final" });
      if (outcome === "cancelled") {
        await withDeadline(() => app.queues.prune.remove(job.id), QUEUE_DEADLINE_MS).catch((err) => req.log.warn({ err, jobId: job.id }, "could not remove the queued BullMQ job; the worker will find it cancelled"));
      }
      const after = (await getJob(app.prisma, tenantId, job.id))!;
      if (outcome !== "already_requested") {
        const type = outcome === "cancelled" ? JOB_EVENT_TYPES.cancelled : JOB_EVENT_TYPES.cancelRequested;
        const event = await app.prisma.jobEvent.findFirst({ where: { jobId: job.id, type }, orderBy: { seq: "desc" } });
        if (event) await app.webhooks.enqueue(after, event).catch((err) => req.log.warn({ err, jobId: job.id }, "could not enqueue the webhook"));
      }
      return reply.code(outcome === "cancelled" ? 200 : 202).send({ outcome, job: jobView(after) });
    },
  );

  app.delete(
    "/jobs/:id",
    {
      schema: {
        tags: ["jobs"],
        summary: "Delete a finished job with its events and artifacts",
        description: "Only succeeded, failed or cancelled jobs (409 otherwise). Masks in the catalogue stay, their lineage no longer names the job.",
        params: IdParams,
        response: { 204: Type.Null({ description: "deleted" }), ...problemResponses(400, 401, 404, 409, 429) },
      },
    },
    async (req, reply) => {
      const job = await getJob(app.prisma, req.auth.tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      if (!isFinal(job.status)) throw new HttpProblem(409, `the job is ${job.status}; cancel it and wait for it to finish first`, { type: "urn:maskforge:problem:job-not-final" });
      const [artifacts, masks] = await Promise.all([
        app.prisma.artifact.findMany({ where: { jobId: job.id }, select: { storageKey: true } }),
        app.prisma.maskArtifact.findMany({ where: { jobId: job.id }, select: { npzKey: true, logitsKey: true } }),
      ]);
      const kept = new Set(masks.flatMap((m) => [m.npzKey, m.logitsKey]).filter(Boolean));
      for (const a of artifacts) if (!kept.has(a.storageKey)) await app.storage.delete(a.storageKey);
      await app.prisma.job.delete({ where: { id: job.id } }).finally(() => app.jobReads.evict(job.id));
      return reply.code(204).send(null);
    },
  );
};

export default jobsRoutes;
