// Job resources as the API shows them. The request body is the job spec from src/contract/job-spec/schema.ts,
// checked by parseJobSpec (the schema here only documents it).
import { Type } from "typebox";
import { JobEventSchema } from "../events.js";
import { JOB_STAGES, JOB_STATUSES } from "../status.js";
import { Nullable, Page, PageQuery, Timestamp } from "./common.js";

export const ArtifactSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    jobId: Nullable(Type.String({ format: "uuid" })),
    kind: Type.Enum(["model", "model_file", "mask_npz", "mask_logits", "snapshot", "report"]),
    name: Type.String({ description: "file name a download gets" }),
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
    createdAt: Timestamp,
    downloadUrl: Type.String({ description: "GET this (with your key) to download" }),
  },
  { $id: "Artifact", title: "Artifact" },
);

export const JobSchema = Type.Object(
  {
    id: Type.String({ format: "uuid" }),
    status: Type.Enum(JOB_STATUSES),
    stage: Nullable(Type.Enum(JOB_STAGES)),
    progress: Type.Number({ minimum: 0, maximum: 1, description: "0..1 over the whole pipeline" }),
    progressPercent: Type.Number({ minimum: 0, maximum: 100 }),
    etaSeconds: Nullable(Type.Number({ description: "estimated seconds left (running jobs)" })),
    queuePosition: Nullable(Type.Integer({ minimum: 0, description: "jobs waiting ahead of this one in the queue (queued jobs, GET /v1/jobs/{id} only)" })),
    attempt: Type.Integer({ minimum: 0 }),
    cancelRequested: Type.Boolean(),
    metrics: Type.Unknown({ description: "latest figures (loss, tau, perplexities)" }),
    error: Type.Unknown({ description: "{code, message} when failed" }),
    spec: Type.Unknown({ description: "the resolved job spec, secrets redacted" }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    results: Type.Array(Type.Ref("Artifact"), { description: "the stored outputs (once succeeded)" }),
    links: Type.Object({ self: Type.String(), events: Type.String(), metrics: Type.String(), artifacts: Type.String(), cancel: Type.String() }),
  },
  { $id: "Job", title: "Job" },
);

export const CreatedJobSchema = Type.Object(
  {
    job: Type.Ref("Job"),
    webhookSecret: Type.Optional(Type.String({ description: "whsec_... to verify webhook signatures (Standard Webhooks); shown only in the answer that created the job (and its idempotent replays)" })),
  },
  { description: "the job" },
);

export const JobListQuery = Type.Object({ ...PageQuery, status: Type.Optional(Type.Enum(JOB_STATUSES)) });
export const JobPage = Page(Type.Ref("Job"), "a page of jobs, newest first");

export const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7e]+$", description: "repeat the request with the same key and body to get the same job back" })),
});

export const CancelResultSchema = Type.Object({
  outcome: Type.Enum(["cancelled", "cancel_requested", "already_requested"], { description: "cancelled: it was queued and is now cancelled; cancel_requested: it runs and stops at its next check" }),
  job: Type.Ref("Job"),
});

export const EventsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "nextCursor of the previous page" })),
});
export const EventPage = Type.Object({
  items: Type.Array(JobEventSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: "pass as ?cursor= for events after this page; null when the job is final and nothing follows" }),
});

export const MetricsSchema = Type.Object({
  jobId: Type.String({ format: "uuid" }),
  points: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      step: Nullable(Type.Number()),
      at: Timestamp,
      values: Type.Record(Type.String(), Type.Number(), { description: "every numeric field of the job.metrics event" }),
    }),
  ),
  series: Type.Array(Type.String(), { description: "names seen in values, for plotting one line each" }),
});

export const ArtifactList = Type.Object({ items: Type.Array(Type.Ref("Artifact")) });
