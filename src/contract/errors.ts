// Errors that steer what happens to a failing job: fail now (the user must change something), retry later
// (something of ours or upstream hiccuped), or stop because the user cancelled. classifyError is the one
// place that turns any thrown value into that decision and into the code and message the user sees.
//
// BullMQ serialises errors thrown in a sandboxed processor (own properties only) and decides "no retry" by
// `err instanceof UnrecoverableError || err.name === "UnrecoverableError"`. So the errors that must not be
// retried keep the name UnrecoverableError, and every maskforge error carries its class in the own property
// `kind`, which survives that trip; classifyError reads `kind`, never instanceof.
import { UnrecoverableError } from "bullmq";

/** Codes a user can act on: the job failed because of its spec or its inputs; retrying would fail again. */
export const USER_ERROR_CODES = [
  "invalid_spec",
  "source_not_found",
  "source_unauthorized",
  "source_too_large",
  "checkpoint_invalid",
  "unsupported_model",
  "dataset_invalid",
  "mask_incompatible",
  "resource_exhausted",
] as const;
export type UserErrorCode = (typeof USER_ERROR_CODES)[number];

/** Codes for failures on our side or upstream; the message never leaks internals. */
export const SYSTEM_ERROR_CODES = ["upstream_unavailable", "internal"] as const;
export type SystemErrorCode = (typeof SYSTEM_ERROR_CODES)[number];

export type JobErrorCode = UserErrorCode | SystemErrorCode | "cancelled";

type Kind = "InvalidJobError" | "TransientError" | "JobCancelledError";

interface Options {
  cause?: unknown;
  /** extra context for logs and the job.failed event; never secrets */
  details?: Record<string, unknown>;
}

/** Bad input: the spec, the checkpoint or the data cannot work. Not retried. */
export class InvalidJobError extends UnrecoverableError {
  readonly kind: Kind = "InvalidJobError";
  readonly details?: Record<string, unknown>;
  constructor(
    readonly code: UserErrorCode,
    /** shown to the user as is: say what is wrong and what to change */
    readonly publicMessage: string,
    opts: Options = {},
  ) {
    super(publicMessage);
    this.name = "UnrecoverableError";
    if (opts.cause !== undefined) this.cause = opts.cause;
    if (opts.details) this.details = opts.details;
  }
}

/** A temporary failure (network, upstream 5xx/429, database or Redis hiccup): retried with backoff. */
export class TransientError extends Error {
  readonly kind: Kind = "TransientError";
  readonly code: SystemErrorCode = "upstream_unavailable";
  constructor(
    message: string,
    /** shown to the user if the retries run out */
    readonly publicMessage = "a service the job depends on was unavailable; it was retried and then given up",
    opts: Options = {},
  ) {
    super(message);
    this.name = "TransientError";
    if (opts.cause !== undefined) this.cause = opts.cause;
  }
}

/** The worker saw cancel_requested and stopped; not retried, and not a failure. */
export class JobCancelledError extends UnrecoverableError {
  readonly kind: Kind = "JobCancelledError";
  readonly code = "cancelled";
  readonly publicMessage = "the job was cancelled on request";
  constructor(readonly jobId?: string) {
    super(jobId ? `job ${jobId} cancelled` : "job cancelled");
    this.name = "UnrecoverableError";
  }
}

export interface ErrorClass {
  /** let BullMQ try again (if attempts remain) instead of failing the job now */
  retry: boolean;
  /** the final status when the job stops here */
  status: "failed" | "cancelled";
  code: JobErrorCode;
  /** safe to show the user and to store in Job.error */
  publicMessage: string;
}

// Node/undici/ioredis socket errors and Prisma's connection/timeout/serialisation codes: all pass with time.
const TRANSIENT_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH",
  "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT",
  "P1001", "P1002", "P1008", "P1017", "P2024", "P2034",
]);
const OUT_OF_MEMORY = /array buffer allocation failed|out of memory|invalid typed array length|allocation size overflow/i;

function prop(err: unknown, key: string): unknown {
  return typeof err === "object" && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}

/**
 * What to do with an error thrown while running a job. User-caused failures (InvalidJobError, and memory
 * exhaustion, which a smaller batch or seq_len fixes) fail at once with a message naming the fix. System
 * failures split in two: known-temporary ones are retried; anything unrecognised is a bug of ours, not
 * retried (it would fail the same way and burn the attempts) and reported without internals.
 */
export function classifyError(err: unknown): ErrorClass {
  const kind = prop(err, "kind");
  const publicMessage = prop(err, "publicMessage");
  const code = prop(err, "code");
  switch (true) {
    case kind === "JobCancelledError":
      return { retry: false, status: "cancelled", code: "cancelled", publicMessage: "the job was cancelled on request" };
    case kind === "InvalidJobError":
      return {
        retry: false,
        status: "failed",
        code: (USER_ERROR_CODES as readonly unknown[]).includes(code) ? (code as UserErrorCode) : "invalid_spec",
        publicMessage: typeof publicMessage === "string" ? publicMessage : "the job spec or its inputs are invalid",
      };
    case kind === "TransientError":
      return {
        retry: true,
        status: "failed",
        code: "upstream_unavailable",
        publicMessage: typeof publicMessage === "string" ? publicMessage : "a service the job depends on was unavailable",
      };
    case typeof code === "string" && TRANSIENT_CODES.has(code):
    case prop(prop(err, "cause"), "code") !== undefined && TRANSIENT_CODES.has(String(prop(prop(err, "cause"), "code"))):
    case prop(err, "name") === "TypeError" && prop(err, "message") === "fetch failed":
      return { retry: true, status: "failed", code: "upstream_unavailable", publicMessage: "a service the job depends on was unavailable" };
    case OUT_OF_MEMORY.test(String(prop(err, "message") ?? "")):
      return {
        retry: false,
        status: "failed",
        code: "resource_exhausted",
        publicMessage: "the worker ran out of memory; lower training.batch_size, calibration.seq_len or calibration.samples",
      };
    default:
      return { retry: false, status: "failed", code: "internal", publicMessage: "internal error while running the job; it is logged under the job id" };
  }
}
