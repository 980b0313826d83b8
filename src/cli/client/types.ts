// What the client reads from the API's answers. Only the members the CLI and the demo use are named; the
// rest passes through untouched (and is printed as is with --json).
import type { JobStage, JobStatus } from "../../contract/status.js";

export interface Page<T> {
  items?: T[];
  data?: T[];
  nextCursor?: string | null;
  next_cursor?: string | null;
}

export interface JobView {
  id: string;
  status: JobStatus;
  stage?: JobStage | null;
  progress?: number;
  etaSeconds?: number | null;
  metrics?: Record<string, unknown> | null;
  error?: { code?: string; message?: string } | null;
  spec?: { method?: string; pattern?: string; metadata?: { name?: string }; source?: unknown; training?: { steps?: number } } & Record<string, unknown>;
  attempt?: number;
  cancelRequested?: boolean;
  createdAt?: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  /** stored outputs, once succeeded (snapshots left out) */
  results?: ArtifactView[];
  queuePosition?: number | null;
  [member: string]: unknown;
}

export interface JobEvent {
  seq: number;
  type: string;
  level?: string;
  message?: string | null;
  data?: unknown;
  createdAt?: string;
}

export interface ArtifactView {
  id: string;
  kind: string;
  name: string;
  bytes?: number | string;
  sha256?: string;
  /** where to GET the bytes (with the key) */
  downloadUrl?: string;
  url?: string;
  [member: string]: unknown;
}

export interface CheckpointView {
  id: string;
  status?: string;
  bytes?: number | string;
  files?: Array<{ name: string; bytes?: number | string }>;
  error?: string | null;
  [member: string]: unknown;
}

export interface MaskView {
  id: string;
  pattern?: string;
  method?: string;
  lineage?: { jobId?: string | null; parentMaskId?: string | null };
  /** what /v1/masks/:id/download?format= serves */
  formats?: Array<"npz" | "logits">;
  createdAt?: string;
  [member: string]: unknown;
}

/** GET /v1/jobs/:id/metrics: every job.metrics event's numbers, in order. */
export interface MetricsView {
  jobId: string;
  points: Array<{ seq: number; step: number | null; at: string; values: Record<string, number> }>;
  series: string[];
}
