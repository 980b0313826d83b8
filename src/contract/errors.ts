// Errors that steer what happens to a failing job: fail now (the user must change something), retry later
// (something of ours or upstream hiccuped), or stop because the user cancelled. One table, ERROR_CLASSES below,
// maps each error class a job can end with (ours, and the input errors of the libraries the worker calls) to the
// job error code and the retry decision; classifyError reads it, and nothing else makes that decision.
//
// BullMQ serialises errors thrown in a sandboxed processor (own properties only) and decides "no retry" by
// `err instanceof UnrecoverableError || err.name === "UnrecoverableError"`. So the errors that must not be
// retried keep the name UnrecoverableError, and every maskforge error carries its class in the own property
// `kind`, which survives that trip; classifyError reads `kind` (and the libraries' own `name`), never
// instanceof. This file is the only one that makes a BullMQ UnrecoverableError.
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

type Kind = "InvalidJobError" | "TransientError" | "JobCancelledError" | "JobLostError";

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

/** The job left `running` under this worker (another worker or the API finished it): stop without touching it. */
export class JobLostError extends UnrecoverableError {
  readonly kind: Kind = "JobLostError";
  constructor(jobId: string) {
    super(`job ${jobId} is no longer running here`);
    this.name = "UnrecoverableError";
  }
}

/** What a queue processor throws to end a queue job for good: BullMQ will not retry it. */
export function stopRetrying(message: string, code?: JobErrorCode): Error {
  const err = new UnrecoverableError(message);
  if (code) Object.assign(err, { code });
  return err;
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
// V8's RangeError messages when an allocation fails: the only sign of it there is
const OUT_OF_MEMORY = /array buffer allocation failed|out of memory|invalid typed array length|allocation size overflow/i;

function prop(err: unknown, key: string): unknown {
  return typeof err === "object" && err !== null ? (err as Record<string, unknown>)[key] : undefined;
}
const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

const failed = (code: UserErrorCode, publicMessage: string): ErrorClass => ({ retry: false, status: "failed", code, publicMessage });
const UNAVAILABLE = "a service the job depends on was unavailable";

/**
 * Error class → what the job does. Ours are known by `kind`; the libraries' input errors by their `name` (an
 * own property too), and their message is shown as is: it says what is wrong with the input.
 */
const ERROR_CLASSES = new Map<string, (err: unknown) => ErrorClass>(Object.entries({
  JobCancelledError: () => ({ retry: false, status: "cancelled", code: "cancelled", publicMessage: "the job was cancelled on request" }),
  InvalidJobError: (err) => {
    const code = prop(err, "code");
    return failed((USER_ERROR_CODES as readonly unknown[]).includes(code) ? (code as UserErrorCode) : "invalid_spec", text(prop(err, "publicMessage")) ?? "the job spec or its inputs are invalid");
  },
  TransientError: (err) => ({ retry: true, status: "failed", code: "upstream_unavailable", publicMessage: text(prop(err, "publicMessage")) ?? UNAVAILABLE }),
  // checkpoint/: a file of the model folder is unreadable or wrong, or describes a model the core does not run
  CheckpointError: (err) => failed(prop(err, "unsupported") === true ? "unsupported_model" : "checkpoint_invalid", String(prop(err, "message"))),
  // checkpoint/: a dataset file that is not what its format says (JSONL line, Parquet column, not UTF-8)
  DatasetError: (err) => failed("dataset_invalid", String(prop(err, "message"))),
  // maskllm/: the data cannot work with this model (too few tokens, no layer left, non-finite statistics)
  PruneInputError: (err) => failed("dataset_invalid", String(prop(err, "message"))),
  TrainingInputError: (err) => failed("dataset_invalid", String(prop(err, "message"))),
  // maskllm/: a prior or resumed mask does not fit the model's weights
  MaskShapeError: (err) => failed("mask_incompatible", String(prop(err, "message"))),
}));

/**
 * What to do with an error thrown while running a job. User-caused failures (the table's user errors, and
 * memory exhaustion, which a smaller batch or seq_len fixes) fail at once with a message naming the fix.
 * System failures split in two: known-temporary ones are retried; anything unrecognised is a bug of ours, not
 * retried (it would fail the same way and burn the attempts) and reported without internals.
 */
export function classifyError(err: unknown): ErrorClass {
  const row = ERROR_CLASSES.get(String(prop(err, "kind") ?? prop(err, "name")));
  if (row) return row(err);
  const code = prop(err, "code");
  const causeCode = prop(prop(err, "cause"), "code");
  if ((typeof code === "string" && TRANSIENT_CODES.has(code)) || (causeCode !== undefined && TRANSIENT_CODES.has(String(causeCode))) || (prop(err, "name") === "TypeError" && prop(err, "message") === "fetch failed"))
    return { retry: true, status: "failed", code: "upstream_unavailable", publicMessage: UNAVAILABLE };
  if (OUT_OF_MEMORY.test(String(prop(err, "message") ?? "")))
    return failed("resource_exhausted", "the worker ran out of memory; lower training.batch_size, calibration.seq_len or calibration.samples");
  return { retry: false, status: "failed", code: "internal", publicMessage: "internal error while running the job; it is logged under the job id" };
}

/** Whether the job failed because of its spec or its inputs (the user must change something). */
export function isUserError(err: unknown): boolean {
  return (USER_ERROR_CODES as readonly string[]).includes(classifyError(err).code);
}

/**
 * The answers of an S3 server that holds a job's source (AWS SDK v3 errors are named by S3's error code and carry
 * the HTTP status in $metadata): a missing or refused bucket or key is the user's to fix, and any other failure
 * of the call (5xx, 429, the network) passes with time. Only for a source: the same answer from the service's own
 * store is our failure. Returns the error as one of our classes, for `where` (s3://bucket/key).
 */
export function s3SourceError(err: unknown, where: string): InvalidJobError | TransientError {
  if (err instanceof InvalidJobError || err instanceof TransientError) return err;
  const status = prop(prop(err, "$metadata"), "httpStatusCode");
  const name = text(prop(err, "name")) ?? "";
  const user = (code: UserErrorCode, message: string) => new InvalidJobError(code, message, { cause: err });
  if (name === "NoSuchBucket") return user("source_not_found", `${where}: the bucket does not exist`);
  if (name === "NoSuchKey" || status === 404) return user("source_not_found", `${where} does not exist`);
  if (name === "AccessDenied" || status === 401 || status === 403) return user("source_unauthorized", `${where}: access denied; the worker's S3 credentials cannot read it`);
  if (typeof status === "number" && status >= 400 && status < 500 && status !== 429) return user("source_not_found", `${where}: S3 answered ${status} (${name || "error"})`);
  return new TransientError(`S3 read of ${where} failed: ${text(prop(err, "message")) ?? String(err)}`, undefined, { cause: err });
}
