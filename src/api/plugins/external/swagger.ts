// The OpenAPI document is generated from the route schemas (scripts/openapi.ts writes it to openapi/openapi.json);
// the docs UI serves it at /docs. Shared schemas keep their $id as the component name instead of def-N.
// /v1 operations carry the bearerAuth security scheme.
import fp from "fastify-plugin";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import pkg from "../../../../package.json" with { type: "json" };
import { TAGS } from "../../../contract/api/tags.js";

export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        openapi: "3.0.3",
        info: {
          title: "maskforge",
          description: "Learned N:M sparsity (MaskLLM) for LLMs, as a service. Errors are RFC 9457 problem details.",
          version: pkg.version,
        },
        tags: TAGS.map((t) => ({ ...t })),
        components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "an API key: Authorization: Bearer mf_..." } } },
      },
      hideUntagged: true,
      // every /v1 route needs the key (the v1 plugin's onRequest hook): say so on each operation
      transform: ({ schema, url }) => ({ schema: url.startsWith("/v1/") && schema ? { ...schema, security: [{ bearerAuth: [] }] } : schema, url }),
      refResolver: {
        buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`),
      },
    });
    await app.register(swaggerUi, { routePrefix: "/docs" });
  },
  { name: "swagger" },
);
