// One entry for API tests (fastify/demo's build(t)): an app on the test config, closed when the test ends.
// `setup` runs before ready(), so a test can add its own routes (e.g. to trigger a validation error).
import type { TestContext } from "node:test";
import { buildApp, type App, type BuildAppOptions } from "../../src/api/app.js";
import { testConfig } from "./config.js";

export interface TestAppOptions extends BuildAppOptions {
  /** env overrides for testConfig(), e.g. { REDIS_URL: "redis://127.0.0.1:1" } */
  env?: Record<string, string>;
  setup?: (app: App) => void | Promise<void>;
}

export async function buildTestApp(t: Pick<TestContext, "after">, opts: TestAppOptions = {}): Promise<App> {
  const { env, setup, ...buildOpts } = opts;
  const app = await buildApp(testConfig(env), { logger: false, ...buildOpts });
  t.after(() => app.close());
  await setup?.(app);
  await app.ready();
  return app;
}
