// The hot read of GET /v1/jobs/:id on a plain pg Pool: one statement for the job and, once it succeeded, its
// results. Prisma's JS engine compiles every query in WebAssembly before running it, which cost more CPU than
// the whole rest of the request (bench:api); this read is the one polled by every client, so it skips that.
// Rows come back in Prisma's shapes (Job, Artifact), so the API's views stay the same.
import type { Artifact, Job } from "@prisma/client";
import type pg from "pg";

const JOB_WITH_RESULTS = `
  SELECT j."id", j."tenantId", j."checkpointId", j."spec", j."idempotencyKey", j."requestHash", j."status", j."stage",
    j."progress", j."etaSeconds", j."metrics", j."error", j."attempt", j."cancelRequested", j."webhookSecret", j."eventSeq",
    -- TIMESTAMP(3) holds UTC without a zone (Prisma's convention); as timestamptz pg reads it as UTC, not local time
    j."createdAt" AT TIME ZONE 'UTC' AS "createdAt", j."updatedAt" AT TIME ZONE 'UTC' AS "updatedAt",
    j."startedAt" AT TIME ZONE 'UTC' AS "startedAt", j."finishedAt" AT TIME ZONE 'UTC' AS "finishedAt",
    CASE WHEN j."status" = 'succeeded' THEN (
      SELECT coalesce(json_agg(json_build_object(
        'id', a."id", 'jobId', a."jobId", 'kind', a."kind", 'name', a."name", 'storageKey', a."storageKey",
        'bytes', a."bytes"::text, 'sha256', a."sha256", -- text: a BigInt may exceed a JSON number's precision
        'createdAt', to_char(a."createdAt", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      ) ORDER BY a."createdAt", a."id"), '[]'::json)
      FROM "Artifact" a WHERE a."jobId" = j."id" AND a."kind" <> 'snapshot'
    ) ELSE '[]'::json END AS "results"
  FROM "Job" j
  WHERE j."id" = $1::uuid AND j."tenantId" = $2::uuid`;

type ArtifactJson = Omit<Artifact, "bytes" | "createdAt"> & { bytes: string; createdAt: string };

export interface JobWithResults {
  job: Job;
  /** the job's artifacts other than snapshots, oldest first; empty unless it succeeded */
  results: Artifact[];
}

/** A job of the tenant (another tenant's reads as missing: null) with its results, in one round trip. */
export async function readJobWithResults(pool: pg.Pool, tenantId: string, jobId: string): Promise<JobWithResults | null> {
  // a named statement is parsed and planned once per connection
  const { rows } = await pool.query<Job & { results: ArtifactJson[] }>({ name: "maskforge-job-with-results", text: JOB_WITH_RESULTS, values: [jobId, tenantId] });
  if (rows.length === 0) return null;
  const { results, ...job } = rows[0];
  return { job, results: results.map((a) => ({ ...a, bytes: BigInt(a.bytes), createdAt: new Date(a.createdAt) })) };
}
