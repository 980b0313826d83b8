// The queues plugin: the producer writes under config.queuePrefix, and a Redis outage never hangs start-up
// or shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { QUEUE_NAMES } from "../../../../src/contract/queues.js";
import { DeadlineError, withDeadline } from "../../../../src/api/deadline.js";
import { buildTestApp } from "../../../helpers/app.js";

test("the prune queue adds jobs under the configured prefix", async (t) => {
  const prefix = `test-${randomUUID()}`;
  const app = await buildTestApp(t, { env: { QUEUE_PREFIX: prefix } });
  try {
    const job = await app.queues.prune.add("probe", { n: 1 });
    assert.equal(app.queues.prune.name, QUEUE_NAMES.prune);
    assert.equal(await app.redis.exists(`${prefix}:${QUEUE_NAMES.prune}:${job.id}`), 1);
    assert.equal(await app.queues.prune.getWaitingCount(), 1);
  } finally {
    await app.queues.prune.obliterate({ force: true }); // before the app closes its connection
  }
});

test("with Redis down the app starts, a bounded enqueue fails and close returns", async () => {
  const started = Date.now();
  const app = await buildTestApp({ after: () => {} }, { env: { REDIS_URL: "redis://127.0.0.1:1" } });
  await assert.rejects(withDeadline(() => app.queues.prune.add("probe", {}), 300), DeadlineError);
  await app.close();
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});
