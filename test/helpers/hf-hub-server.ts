// A local server that speaks the part of the Hugging Face Hub API the worker uses: GET
// /api/models/{repo}/revision/{rev} (siblings list) and GET /{repo}/resolve/{rev}/{file}, and for dataset repos
// /api/datasets/{repo}/revision/{rev} (every file, folders included) and /datasets/{repo}/resolve/{rev}/{path},
// with a bearer token check; resolve answers with a 302 to a /cdn/ path on the same server, as the Hub
// redirects to its CDN.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";

export interface HubServer {
  endpoint: string;
  /** request paths seen, in order */
  requests: { path: string; authorization?: string }[];
  close(): Promise<void>;
}

type Repo = { dir: string; revision?: string; token?: string };

export async function startHfHubServer(repos: Record<string, Repo>, datasets: Record<string, Repo> = {}): Promise<HubServer> {
  const requests: HubServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, "http://x");
      requests.push({ path: url.pathname, authorization: req.headers.authorization });
      const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
      const deny = (repo: { token?: string }) => repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`;
      if (parts[0] === "api" && parts[1] === "models") {
        const repoId = `${parts[2]}/${parts[3]}`;
        const repo = repos[repoId];
        if (!repo || parts[4] !== "revision" || parts[5] !== (repo.revision ?? "main")) return res.writeHead(404).end();
        if (deny(repo)) return res.writeHead(401).end();
        const siblings = (await readdir(repo.dir)).map((rfilename) => ({ rfilename }));
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: repoId, sha: "0".repeat(40), siblings }));
      }
      if (parts[0] === "api" && parts[1] === "datasets") {
        const repo = datasets[`${parts[2]}/${parts[3]}`];
        if (!repo || parts[4] !== "revision" || parts[5] !== (repo.revision ?? "main")) return res.writeHead(404).end();
        if (deny(repo)) return res.writeHead(401).end();
        const entries = await readdir(repo.dir, { recursive: true, withFileTypes: true });
        const siblings = entries.filter((e) => e.isFile()).map((e) => ({ rfilename: relative(repo.dir, join(e.parentPath, e.name)).split(sep).join("/") }));
        return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: `${parts[2]}/${parts[3]}`, sha: "0".repeat(40), siblings }));
      }
      if (parts[0] === "datasets") {
        const repoId = `${parts[1]}/${parts[2]}`;
        const repo = datasets[repoId];
        if (!repo || parts[3] !== "resolve" || parts[4] !== (repo.revision ?? "main")) return res.writeHead(404).end();
        if (deny(repo)) return res.writeHead(401).end();
        return res.writeHead(302, { location: `/cdn/datasets/${repoId}/${parts.slice(5).join("/")}` }).end();
      }
      if (parts[0] === "cdn" && parts[1] === "datasets") {
        const repo = datasets[`${parts[2]}/${parts[3]}`];
        const body = repo && !parts.includes("..") ? await readFile(join(repo.dir, parts.slice(4).join("/"))).catch(() => null) : null;
        return body ? res.writeHead(200, { "content-length": body.length }).end(body) : res.writeHead(404).end();
      }
      if (parts[0] === "cdn") {
        const repo = repos[`${parts[1]}/${parts[2]}`];
        if (!repo) return res.writeHead(404).end();
        const body = await readFile(join(repo.dir, parts.slice(3).join("/"))).catch(() => null);
        return body ? res.writeHead(200, { "content-length": body.length }).end(body) : res.writeHead(404).end();
      }
      const repoId = `${parts[0]}/${parts[1]}`;
      const repo = repos[repoId];
      if (!repo || parts[2] !== "resolve" || parts[3] !== (repo.revision ?? "main")) return res.writeHead(404).end();
      if (deny(repo)) return res.writeHead(401).end();
      return res.writeHead(302, { location: `/cdn/${repoId}/${parts.slice(4).join("/")}` }).end();
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
