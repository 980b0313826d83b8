// SSRF guard for every URL a job makes the worker fetch. The host is resolved here and each address checked
// before any connection is opened; the connection then goes to exactly the checked address (no second DNS
// lookup a rebinding server could answer differently). Redirects are followed by the caller, one hop at a time,
// each hop through this check again.
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { InvalidJobError } from "../../contract/errors.js";
import { privateAddressReason } from "../../contract/addresses.js";

export { privateAddressReason };

export interface ResolvedHost {
  address: string;
  family: 4 | 6;
}

export type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/**
 * The address to connect to for `url`'s host; throws InvalidJobError (source_not_found) when any address the
 * name resolves to is private and private sources are not allowed (one bad answer is enough: a client may pick it).
 */
export async function resolveAllowed(url: URL, opts: { allowPrivate: boolean; lookup?: Lookup; what?: string; allowAddress?: (ip: string) => boolean }): Promise<ResolvedHost> {
  const what = opts.what ?? "source URL";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let answers: { address: string; family: number }[];
  if (isIP(host)) answers = [{ address: host, family: isIP(host) }];
  else {
    try {
      answers = await (opts.lookup ?? systemLookup)(host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTFOUND" || code === "ENODATA") throw new InvalidJobError("source_not_found", `${what} host ${host} does not resolve`);
      throw err; // EAI_AGAIN and friends: transient
    }
    if (answers.length === 0) throw new InvalidJobError("source_not_found", `${what} host ${host} does not resolve`);
  }
  if (!opts.allowPrivate)
    for (const a of answers) {
      const reason = opts.allowAddress?.(a.address) ? null : privateAddressReason(a.address);
      if (reason) throw new InvalidJobError("source_not_found", `${what} ${url.origin} is refused: ${host} resolves to ${reason}; only public addresses can be fetched`);
    }
  return { address: answers[0].address, family: answers[0].family === 6 ? 6 : 4 };
}
