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
  /** where to GET the bytes: an API path or a presigned URL */
  url?: string;
  downloadUrl?: string;
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
  jobId?: string | null;
  createdAt?: string;
  [member: string]: unknown;
}

export interface MetricsView {
  [member: string]: unknown;
}
