// Rows as the API shows them: dates as ISO strings, BigInt sizes as numbers, secrets left out, links added.
import type { Artifact, Checkpoint, DataFile, Job, JobEvent, MaskArtifact } from "@prisma/client";
import type { JobSpec } from "../../../contract/job-spec/schema.js";
import { redactSpec } from "../../../contract/job-spec/source.js";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function artifactView(a: Artifact) {
  return { id: a.id, jobId: a.jobId, kind: a.kind, name: a.name, bytes: Number(a.bytes), sha256: a.sha256, createdAt: a.createdAt.toISOString(), downloadUrl: `/v1/artifacts/${a.id}/download` };
}

export function jobView(job: Job, extra: { queuePosition?: number | null; results?: Artifact[] } = {}) {
  const base = `/v1/jobs/${job.id}`;
  return {
    id: job.id,
    status: job.status,
    stage: job.stage,
    progress: job.progress,
    progressPercent: Math.round(job.progress * 1000) / 10,
    etaSeconds: job.etaSeconds,
    queuePosition: extra.queuePosition ?? null,
    attempt: job.attempt,
    cancelRequested: job.cancelRequested,
    metrics: job.metrics ?? null,
    error: job.error ?? null,
    spec: redactSpec(job.spec as unknown as JobSpec),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    results: (extra.results ?? []).map(artifactView),
    links: { self: base, events: `${base}/events`, metrics: `${base}/metrics`, artifacts: `${base}/artifacts`, cancel: `${base}/cancel` },
  };
}

export function eventView(e: JobEvent) {
  return { seq: e.seq, type: e.type, level: e.level, message: e.message, data: e.data ?? null, createdAt: e.createdAt.toISOString() };
}

interface StoredFile {
  name: string;
  bytes: number;
  sha256: string;
}

export function checkpointView(c: Checkpoint) {
  const files = (c.files as unknown as StoredFile[]).map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 }));
  return { id: c.id, status: c.status, architecture: c.architecture, bytes: Number(c.bytes), sha256: c.sha256, files, config: c.config ?? null, error: c.error, createdAt: c.createdAt.toISOString() };
}

export function maskView(m: MaskArtifact) {
  const formats = [...(m.npzKey ? ["npz" as const] : []), ...(m.logitsKey ? ["logits" as const] : [])];
  return {
    id: m.id,
    pattern: m.pattern,
    method: m.method,
    baseCheckpointId: m.baseCheckpointId,
    baseSha256: m.baseSha256,
    metrics: m.metrics ?? null,
    lineage: { jobId: m.jobId, parentMaskId: m.parentMaskId },
    formats,
    createdAt: m.createdAt.toISOString(),
  };
}

export function fileView(f: DataFile) {
  return { id: f.id, name: f.name, purpose: f.purpose as "calibration" | "eval", bytes: Number(f.bytes), sha256: f.sha256, ref: `file:${f.id}`, createdAt: f.createdAt.toISOString() };
}
