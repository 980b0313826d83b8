// The web dashboard: static files (plain HTML, vanilla JS modules, CSS; no build step, nothing fetched from
// elsewhere) served at / and /dashboard/*. The pages talk to the public /v1 API with the user's key, so this
// plugin needs no database and no auth of its own. Its routes carry no tags, so the OpenAPI document
// (hideUntagged) leaves them out, and `hide` makes that explicit.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname } from "node:path";
import fp from "fastify-plugin";
import type { FastifyReply, FastifyRequest } from "fastify";

const PUBLIC_DIR = new URL("./public/", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** Everything the pages load comes from this origin; the API they call is this origin too. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Reads the public folder once: only its own top-level files can ever be served (no path from the URL reaches fs). */
export async function loadAssets(dir: URL = PUBLIC_DIR): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const name of await readdir(dir)) {
    const type = TYPES[extname(name)];
    if (!type || !/^[a-z0-9][a-z0-9.-]*$/.test(name)) continue;
    const body = await readFile(new URL(name, dir));
    assets.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"` });
  }
  if (!assets.has("index.html")) throw new Error(`dashboard: ${dir.pathname} has no index.html`);
  return assets;
}

export default fp(
  async (app) => {
    const assets = await loadAssets();
    const send = (asset: Asset, req: FastifyRequest, reply: FastifyReply) => {
      // revalidate every time: a redeploy must not leave an old app.js beside a new index.html
      reply.header("cache-control", "no-cache").header("etag", asset.etag).header("x-content-type-options", "nosniff");
      if (asset.type.startsWith("text/html")) reply.header("content-security-policy", CSP).header("referrer-policy", "no-referrer");
      if (req.headers["if-none-match"] === asset.etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    };
    app.get("/", { schema: { hide: true } }, (req, reply) => send(assets.get("index.html")!, req, reply));
    app.get<{ Params: { file: string } }>("/dashboard/:file", { schema: { hide: true } }, (req, reply) => {
      const asset = assets.get(req.params.file);
      if (!asset) return reply.callNotFound();
      return send(asset, req, reply);
    });
  },
  { name: "dashboard" },
);
