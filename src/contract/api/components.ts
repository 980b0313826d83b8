// The resources the API registers under their $id (the OpenAPI components), and the static types of its answers
// for clients: Answer<typeof JobPage> is what GET /v1/jobs sends, with every Type.Ref("Job") resolved.
import type { Static, TSchema, TUnsafe } from "typebox";
import type { JobSpec } from "../job-spec/schema.js";
import { CheckpointSchema } from "./checkpoints.js";
import { DataFileSchema } from "./files.js";
import { ArtifactSchema, JobSchema } from "./jobs.js";
import { MaskSchema } from "./masks.js";
import type { ProblemSchema } from "./problem.js";

/** registered at the app's root (plugins/app/v1-schemas.ts) so that routes can refer to them by $id */
export const COMPONENT_SCHEMAS = [ArtifactSchema, JobSchema, CheckpointSchema, MaskSchema, DataFileSchema] as const;

export type ArtifactView = Static<typeof ArtifactSchema>;

/**
 * A job as the API sends it. The schema leaves spec and error open (free-form in the OpenAPI document); their
 * types here are what the API puts there: the stored spec with secrets redacted, and the failure's code and
 * message (metrics stay unknown: their shape depends on the method and the stage).
 */
export type JobView = Omit<Static<typeof JobSchema, { Artifact: typeof ArtifactSchema }>, "spec" | "error"> & {
  spec: JobSpec;
  error: { code: string; message: string } | null;
};

export type CheckpointView = Static<typeof CheckpointSchema>;
export type MaskView = Static<typeof MaskSchema>;
export type DataFileView = Static<typeof DataFileSchema>;

/** How Static resolves each Type.Ref of an answer's schema. */
export type Components = {
  Artifact: typeof ArtifactSchema;
  Job: TUnsafe<JobView>;
  Checkpoint: typeof CheckpointSchema;
  Mask: typeof MaskSchema;
  DataFile: typeof DataFileSchema;
  Problem: typeof ProblemSchema;
};

/** The static type of an answer whose schema refers to components, e.g. Answer<typeof JobPage>. */
export type Answer<T extends TSchema> = Static<T, Components>;
