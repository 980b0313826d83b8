// The /v1 resource schemas, registered at the root so the OpenAPI document lists them as components
// (a schema added inside the /v1 scope would be invisible to the swagger plugin).
import fp from "fastify-plugin";
import { CheckpointSchema } from "../../../contract/api/checkpoints.js";
import { DataFileSchema } from "../../../contract/api/files.js";
import { ArtifactSchema, JobSchema } from "../../../contract/api/jobs.js";
import { MaskSchema } from "../../../contract/api/masks.js";

export default fp(
  async (app) => {
    for (const schema of [ArtifactSchema, JobSchema, CheckpointSchema, MaskSchema, DataFileSchema]) app.addSchema(schema);
  },
  { name: "v1-schemas" },
);
