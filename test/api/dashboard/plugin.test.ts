// The dashboard's static files: served at / and /dashboard/*, only from the public folder, revalidated by
// ETag, with a CSP that allows nothing from elsewhere, and never listed in the OpenAPI document.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { buildTestApp } from "../../helpers/app.js";

const PUBLIC = new URL("../../../src/api/dashboard/public/", import.meta.url);

test("GET / serves the dashboard page with a same-origin-only CSP", async (t) => {
  const app = await buildTestApp(t, { lazy: true });
  const res = await app.inject({ method: "GET", url: "/" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.equal(res.body, await readFile(new URL("index.html", PUBLIC), "utf8"));
  const csp = String(res.headers["content-security-policy"]);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /https?:/, "the page may load nothing from another origin");
});

test("every file the page references is served from /dashboard/ with its type, and nothing points elsewhere", async (t) => {
  const app = await buildTestApp(t, { lazy: true });
  const names = (await readdir(PUBLIC)).filter((n) => !n.startsWith("."));
  for (const name of names) {
    const res = await app.inject({ method: "GET", url: `/dashboard/${name}` });
    assert.equal(res.statusCode, 200, name);
    assert.equal(res.body, await readFile(new URL(name, PUBLIC), "utf8"), name);
    assert.ok(res.headers.etag, `${name} has an ETag`);
    // no CDN: no absolute http(s) URL a browser would fetch (the SVG namespace is an identifier, not a fetch)
    const urls = [...res.body.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]).filter((u) => u !== "http://www.w3.org/2000/svg");
    assert.deepEqual(urls, [], `${name} refers to another origin`);
  }
  const types = { js: /^text\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/, html: /^text\/html/ };
  for (const [ext, re] of Object.entries(types)) {
    const name = names.find((n) => n.endsWith(`.${ext}`));
    if (!name) continue;
    const res = await app.inject({ method: "GET", url: `/dashboard/${name}` });
    assert.match(String(res.headers["content-type"]), re, name);
  }
  // the module graph: every import in the JS files names a served file
  for (const name of names.filter((n) => n.endsWith(".js"))) {
    const src = await readFile(new URL(name, PUBLIC), "utf8");
    for (const m of src.matchAll(/from "\.\/([^"]+)"/g)) assert.ok(names.includes(m[1]), `${name} imports ${m[1]}, which is not in public/`);
  }
});

test("a matching If-None-Match gets 304; unknown files and paths outside the folder get the 404 problem", async (t) => {
  const app = await buildTestApp(t, { lazy: true });
  const first = await app.inject({ method: "GET", url: "/dashboard/app.js" });
  const again = await app.inject({ method: "GET", url: "/dashboard/app.js", headers: { "if-none-match": String(first.headers.etag) } });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, "");
  for (const url of ["/dashboard/nope.js", "/dashboard/..%2Fplugin.ts", "/dashboard/%2E%2E%2F%2E%2E%2Fconfig.ts", "/dashboard/plugin.ts"]) {
    const res = await app.inject({ method: "GET", url });
    assert.equal(res.statusCode, 404, url);
    assert.match(String(res.headers["content-type"]), /application\/problem\+json/, url);
  }
});

test("the dashboard routes are not in the OpenAPI document", async (t) => {
  const app = await buildTestApp(t, { lazy: true });
  const paths = Object.keys((app.swagger() as { paths?: Record<string, unknown> }).paths ?? {});
  assert.ok(!paths.includes("/"), "/ is listed");
  assert.ok(!paths.some((p) => p.startsWith("/dashboard")), "/dashboard/* is listed");
});
