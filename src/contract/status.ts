// The job life cycle as data: the API, the worker and the repository all ask this table, so a status
// change that one of them would refuse is refused by all of them. The values mirror the Prisma enums
// JobStatus and JobStage (src/db/transitions.ts checks at compile time that they stay equal).
//
//                POST /v1/jobs
//                     |
//                     v
//               +-----------+   cancel (API, at once)       +-----------+
//               |  queued   |------------------------------>| cancelled |
//               +-----------+                               +-----------+
//                 |   ^    |  bad spec found at dequeue           ^
//   worker takes  |   |    +-----------------------+              | worker sees
//   the job       |   | transient error,           |              | cancel_requested
//                 v   | retry with backoff         v              |
//               +-----------+                   +--------+        |
//               |  running  |------------------>| failed |        |
//               +-----------+  error (final)    +--------+        |
//                 |  |   stage (forward only):                    |
//                 |  |   fetching > validating > calibrating >    |
//                 |  |   training > trimming > evaluating >       |
//                 |  |   exporting > uploading                    |
//                 |  +--------------------------------------------+
//                 v
//             +-----------+
//             | succeeded |
//             +-----------+
//
// cancel_requested is a flag, not a status: a running job keeps running until the worker reaches its next
// check point, removes its partial artifacts and moves the job to `cancelled`.

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const FINAL_STATUSES = ["succeeded", "failed", "cancelled"] as const satisfies readonly JobStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Pipeline stages in the order a run passes them; a job may skip some (one-shot methods skip training and trimming). */
export const JOB_STAGES = ["fetching", "validating", "calibrating", "training", "trimming", "evaluating", "exporting", "uploading"] as const;
export type JobStage = (typeof JOB_STAGES)[number];

/** Every legal status change; anything else is a bug in the caller. */
export const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  // failed: the worker cannot run the stored spec, so the job never starts (run-job.ts)
  queued: ["running", "cancelled", "failed"],
  // queued: a transient error sent the job back to the queue for another attempt
  running: ["succeeded", "failed", "cancelled", "queued"],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function isFinal(status: JobStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly JobStatus[]).includes(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Stages that may precede `to`, i.e. from which setting `to` is a forward move (a retry starts with no stage). */
export function stagesBefore(to: JobStage): JobStage[] {
  return JOB_STAGES.slice(0, JOB_STAGES.indexOf(to));
}
