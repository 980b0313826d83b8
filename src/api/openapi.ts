// Renders the OpenAPI document exactly as committed in openapi/openapi.json: built from the route schemas with
// the default configuration (so the environment cannot change it), without opening any connection,
// keys sorted so the file only changes when the API does.
import { loadConfig } from "../config.js";
import { buildApp } from "./app.js";

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}

export async function renderOpenApi(): Promise<string> {
  const app = await buildApp(loadConfig({ LOG_LEVEL: "silent" }), { logger: false, lazy: true });
  try {
    await app.ready();
    return `${JSON.stringify(sortKeys(app.swagger()), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
