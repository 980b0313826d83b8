// Names of the JobEvent rows (the SSE `event:` field and the webhook `type`). Every event a job ever gets is
// one of these, so clients can switch on them; the data shapes are listed next to each name.
import { Type, type Static } from "typebox";
import type { JobStage, JobStatus } from "./status.js";

export const JOB_EVENT_TYPES = {
  /** the job row exists and is queued; data: { spec } (token redacted) */
  created: "job.created",
  /** a worker took it; data: { attempt } */
  started: "job.started",
  /** a pipeline stage began; data: { stage, previous } */
  stage: "job.stage",
  /** periodic numbers while training or evaluating; data: { step?, loss?, tau?, kappa?, ... } */
  metrics: "job.metrics",
  /** free text from a stage, for humans; data: optional context */
  log: "job.log",
  /** a training snapshot was stored; data: { step, artifactId } */
  snapshot: "job.snapshot",
  /** a final artifact was stored; data: { artifactId, kind, name, bytes } */
  artifact: "job.artifact",
  /** the user asked to cancel a running job; the worker stops at its next check */
  cancelRequested: "job.cancel_requested",
  /** a transient error sent the job back to the queue; data: { attempt, code, message } */
  retrying: "job.retrying",
  /** final: every stage done; data: { metrics } */
  succeeded: "job.succeeded",
  /** final: stopped by an error; data: { code, message } */
  failed: "job.failed",
  /** final: stopped on request */
  cancelled: "job.cancelled",
} as const;

export type JobEventType = (typeof JOB_EVENT_TYPES)[keyof typeof JOB_EVENT_TYPES];
export const ALL_JOB_EVENT_TYPES = Object.values(JOB_EVENT_TYPES) as JobEventType[];

/** What a webhook may subscribe to: everything but the chatty per-step events. */
export const WEBHOOK_EVENT_TYPES = [
  JOB_EVENT_TYPES.started,
  JOB_EVENT_TYPES.stage,
  JOB_EVENT_TYPES.artifact,
  JOB_EVENT_TYPES.cancelRequested,
  JOB_EVENT_TYPES.retrying,
  JOB_EVENT_TYPES.succeeded,
  JOB_EVENT_TYPES.failed,
  JOB_EVENT_TYPES.cancelled,
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const DEFAULT_WEBHOOK_EVENTS: WebhookEventType[] = [JOB_EVENT_TYPES.succeeded, JOB_EVENT_TYPES.failed, JOB_EVENT_TYPES.cancelled];

export const WebhookEventTypeSchema = Type.Enum(WEBHOOK_EVENT_TYPES);

export const EVENT_LEVELS = ["debug", "info", "warn", "error"] as const;
export type EventLevel = (typeof EVENT_LEVELS)[number];

/** The event a status change writes. */
export function eventTypeForStatus(to: JobStatus): JobEventType {
  switch (to) {
    case "queued":
      return JOB_EVENT_TYPES.retrying;
    case "running":
      return JOB_EVENT_TYPES.started;
    case "succeeded":
      return JOB_EVENT_TYPES.succeeded;
    case "failed":
      return JOB_EVENT_TYPES.failed;
    case "cancelled":
      return JOB_EVENT_TYPES.cancelled;
  }
}

/** One event as the API shows it (SSE data, GET /v1/jobs/:id/events). */
export const JobEventSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 1, description: "per-job sequence number; the SSE event id" }),
    type: Type.String({ description: "one of the job.* event names" }),
    level: Type.Enum(EVENT_LEVELS),
    message: Type.Union([Type.String(), Type.Null()]),
    data: Type.Unknown(),
    createdAt: Type.String({ format: "date-time" }),
  },
  { additionalProperties: false },
);
export type JobEventView = Static<typeof JobEventSchema>;

export interface StageEventData {
  stage: JobStage;
  previous: JobStage | null;
}
