// The two wire formats the client writes and reads by hand: SSE parsing under every chunking, and a
// multipart body whose declared length is exactly what it streams and which @fastify/busboy (what the API's
// @fastify/multipart parses with) reads back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Busboy } from "@fastify/busboy";
import { multipartBody } from "../../../src/cli/client/multipart.js";
import { parseSse } from "../../../src/cli/client/sse.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunks(text: string, cuts: number[]) {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    yield bytes.slice(at, c);
    at = c;
  }
}

const STREAM = 'retry: 1200\r\n\r\n: keep-alive\n\nid: 1\nevent: job.created\ndata: {"seq":1,"type":"job.created"}\n\nid: 2\r\nevent: job.metrics\r\ndata: {"seq":2,\r\ndata: "type":"job.metrics","note":"ü€"}\r\n\r\nid: 3\revent: job.succeeded\rdata:{"seq":3}\r\rdata: unfinished';

test("SSE: the same events whatever the chunk boundaries (CRLF, CR, LF, multi-byte characters, multi-line data)", async () => {
  const expected = [
    { id: "1", event: "job.created", data: '{"seq":1,"type":"job.created"}' },
    { id: "2", event: "job.metrics", data: '{"seq":2,\n"type":"job.metrics","note":"ü€"}' },
    { id: "3", event: "job.succeeded", data: '{"seq":3}' },
  ];
  const length = new TextEncoder().encode(STREAM).length;
  assert.deepEqual(await collect(parseSse(chunks(STREAM, []))), expected);
  for (let cut = 1; cut < length; cut++) assert.deepEqual(await collect(parseSse(chunks(STREAM, [cut]))), expected, `cut at ${cut}`);
  const bytewise = Array.from({ length: length - 1 }, (_, i) => i + 1);
  assert.deepEqual(await collect(parseSse(chunks(STREAM, bytewise))), expected);
});

test("multipart: declared length equals the streamed bytes, busboy reads back every file and field, progress ends at the total", async () => {
  const dir = await mkdtemp(join(tmpdir(), "maskforge-mp-"));
  try {
    const files = { "config.json": Buffer.from('{"a":1}'), "model.safetensors": Buffer.alloc(3 << 20, 7), "weird \"name\".txt": Buffer.from("x") };
    for (const [n, b] of Object.entries(files)) await writeFile(join(dir, n.replace(/"/g, "")), b);
    const body = await multipartBody(
      Object.keys(files).map((n) => ({ field: "files", filename: n, path: join(dir, n.replace(/"/g, "")) })),
      { name: "stories" },
    );
    let last = 0;
    const parts: Buffer[] = [];
    for await (const c of body.stream((sent) => (last = sent))) parts.push(Buffer.from(c));
    const all = Buffer.concat(parts);
    assert.equal(all.length, body.length);
    assert.equal(last, body.length);

    const got: Record<string, Buffer> = {};
    const fields: Record<string, string> = {};
    await new Promise<void>((resolve, reject) => {
      const bb = new Busboy({ headers: { "content-type": body.contentType } });
      bb.on("file", (_f, stream, filename) => {
        const cs: Buffer[] = [];
        stream.on("data", (d: Buffer) => cs.push(d)).on("end", () => (got[filename] = Buffer.concat(cs)));
      });
      bb.on("field", (k, v) => (fields[k] = v));
      bb.on("finish", resolve).on("error", reject);
      bb.end(all);
    });
    assert.deepEqual(fields, { name: "stories" });
    assert.deepEqual(Object.keys(got).sort(), Object.keys(files).sort());
    for (const [n, b] of Object.entries(files)) assert.ok(got[n].equals(b), n);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
