// /v1/jobs: submit, list, inspect, cancel and delete jobs, and read a job's metric series and artifacts (its
// events, a stream of their own, are in events.ts). The body of POST is checked by parseJobSpec (not by
// ajv, whose defaults and removeAdditional would change the body before the contract saw it); the schema is
// attached for the OpenAPI document only. What happens to a job is the jobs repository's (app.jobs).
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { JobSpecExamples } from "../../../contract/job-spec/examples.js";
import { networkPolicy } from "../../../contract/job-spec/network-policy.js";
import { parseJobSpec } from "../../../contract/job-spec/parse.js";
import { JobSpecSchema } from "../../../contract/job-spec/schema.js";
import type { JobWithResults } from "../../../db/job-reads.js";
import { QUEUE_POSITION_MAX_AGE_MS } from "../../plugins/app/jobs-repository.js";
import { HttpProblem, PROBLEM_TYPES } from "../../problem.js";
import { IdParams } from "../../../contract/api/common.js";
import { ArtifactList, CancelResultSchema, CreatedJobSchema, IdempotencyHeaders, JobListQuery, JobPage, MetricsSchema } from "../../../contract/api/jobs.js";
import { problemResponses } from "../../../contract/api/problem.js";
import { listPage, notFound } from "./common.js";
import { artifactView, jobView } from "./views.js";

const JSON_TYPE = "application/json; charset=utf-8";
const idempotencyConflict = (jobId: string) =>
  new HttpProblem(409, "this Idempotency-Key was used with another body; use a new key for a new job", { type: "urn:maskforge:problem:idempotency-conflict", jobId });

const jobsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const network = networkPolicy(app.config);
  // a cached read is the same object on every hit: its answer, serialized by the route's schema, is kept with it
  const bodies = new WeakMap<JobWithResults, { queuePosition: number | null; json: string }>();

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
      const idempotencyKey = req.headers["idempotency-key"] as string | undefined;
      if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey))
        throw new HttpProblem(400, "Idempotency-Key must be 1-255 visible ASCII characters", { type: PROBLEM_TYPES.validation, errors: [{ location: "headers", pointer: "/idempotency-key", detail: "must be 1-255 visible ASCII characters" }] });

      const r = await app.jobs.submit(req.auth.tenantId, parsed.spec, { idempotencyKey, body: req.body }, req.log);
      if (r.outcome === "conflict") throw idempotencyConflict(r.job.id);
      if (r.outcome === "invalid_references")
        throw new HttpProblem(422, `the spec refers to objects that cannot be used: ${r.errors.map((e) => `${e.pointer} ${e.detail}`).join("; ")}`, { type: PROBLEM_TYPES.validation, errors: r.errors.map((e) => ({ location: "body", ...e })) });
      if (r.outcome === "too_many_jobs")
        throw new HttpProblem(429, `you have ${r.active} queued or running jobs, the most allowed at once is ${r.limit}; wait for one to finish or cancel one`, { type: "urn:maskforge:problem:too-many-jobs" });
      if (r.outcome === "queue_unavailable") throw new HttpProblem(503, "the job queue is unavailable; nothing was created, try again shortly", { type: PROBLEM_TYPES.notReady });
      const job = r.job;
      reply.header("location", `/v1/jobs/${job.id}`);
      if (r.outcome === "replayed") reply.header("idempotent-replayed", "true");
      return reply.code(r.outcome === "created" ? 201 : 200).send({ job: jobView(job), ...(job.webhookSecret ? { webhookSecret: job.webhookSecret } : {}) });
    },
  );

  app.get(
    "/jobs",
    {
      schema: { tags: ["jobs"], summary: "List your jobs, newest first", querystring: JobListQuery, response: { 200: JobPage, ...problemResponses(400, 401, 429) } },
    },
    async (req) => {
      const page = await listPage(() => app.jobs.list(req.auth.tenantId, { status: req.query.status, limit: req.query.limit, cursor: req.query.cursor }));
      return { items: page.items.map((j) => jobView(j)), nextCursor: page.nextCursor };
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
      const queuePos = found.job.status === "queued" ? await app.jobs.queuePosition(found.job.id) : null;
      // kept until the queue position changes
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
      const job = await app.jobs.get(req.auth.tenantId, req.params.id);
      if (!job) throw notFound("job", req.params.id);
      return app.jobs.metrics(job.id);
    },
  );

  app.get(
    "/jobs/:id/artifacts",
    {
      schema: { tags: ["artifacts"], summary: "The files a job stored", params: IdParams, response: { 200: ArtifactList, ...problemResponses(400, 401, 404, 429) } },
    },
    async (req) => {
      const job = await app.jobs.get(req.auth.tenantId, req.params.id);
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
      const r = await app.jobs.cancel(req.auth.tenantId, req.params.id, req.log);
      if (r.outcome === "not_found") throw notFound("job", req.params.id);
      if (r.outcome === "final") throw new HttpProblem(409, `the job already finished (${r.status}); there is nothing to cancel`, { type: "urn:maskforge:problem:job-final" });
      return reply.code(r.outcome === "cancelled" ? 200 : 202).send({ outcome: r.outcome, job: jobView(r.job) });
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
      const r = await app.jobs.delete(req.auth.tenantId, req.params.id);
      if (r.outcome === "not_found") throw notFound("job", req.params.id);
      if (r.outcome === "not_final") throw new HttpProblem(409, `the job is ${r.status}; cancel it and wait for it to finish first`, { type: "urn:maskforge:problem:job-not-final" });
      return reply.code(204).send(null);
    },
  );
};

export default jobsRoutes;
