// The Hugging Face Hub at config.hfEndpoint, for model sources and datasets alike: the repo's file list
// (`/api/{models|datasets}/<repo>/revision/<rev>` siblings) and a file's URL (`/<repo>/resolve/<rev>/<path>`,
// datasets under `/datasets/`). Every request goes through the SSRF guard with the token as a bearer header,
// dropped when the Hub redirects to its CDN on another host.
import { InvalidJobError } from "../../contract/errors.js";
import type { Config } from "../../config.js";
import { guardedGet, type GuardedGetOptions } from "./http.js";

export type HubRepoKind = "models" | "datasets";

export interface HubRepo {
  kind: HubRepoKind;
  repo: string;
  revision: string;
  token?: string;
}

const enc = (s: string) => s.split("/").map(encodeURIComponent).join("/");

/** Guard options for Hub requests: the token as a bearer header, http allowed when the endpoint is http. */
export function hubHttp(config: Config, http: GuardedGetOptions, token: string | undefined): GuardedGetOptions {
  return { ...http, headers: token ? { authorization: `Bearer ${token}` } : undefined, allowHttp: config.hfEndpoint.startsWith("http:"), what: "Hugging Face Hub" };
}

/** The URL of one file of the repo at its revision. */
export function hubFileUrl(config: Config, r: HubRepo, path: string): string {
  return `${config.hfEndpoint}/${r.kind === "datasets" ? "datasets/" : ""}${enc(r.repo)}/resolve/${encodeURIComponent(r.revision)}/${enc(path)}`;
}

/** Every file path of the repo at its revision (the API's siblings list), at most 16 MiB of listing. */
export async function hubFiles(config: Config, r: HubRepo, http: GuardedGetOptions): Promise<string[]> {
  const info = await guardedGet(`${config.hfEndpoint}/api/${r.kind}/${enc(r.repo)}/revision/${encodeURIComponent(r.revision)}`, hubHttp(config, http, r.token));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of info.body as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 16 * 1024 * 1024) throw new InvalidJobError("source_too_large", "the Hub's repo listing is larger than 16 MiB");
    chunks.push(c);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { siblings?: { rfilename?: unknown }[] };
    return (body.siblings ?? []).map((s) => s.rfilename).filter((n): n is string => typeof n === "string");
  } catch {
    throw new InvalidJobError("source_not_found", `the Hub's answer for ${r.repo}@${r.revision} is not JSON`);
  }
}
