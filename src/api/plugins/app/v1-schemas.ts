// The /v1 resource schemas, registered at the root so the OpenAPI document lists them as components
// (a schema added inside the /v1 scope would be invisible to the swagger plugin).
import fp from "fastify-plugin";
import { COMPONENT_SCHEMAS } from "../../../contract/api/components.js";

export default fp(
  async (app) => {
    for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);
  },
  { name: "v1-schemas" },
);
