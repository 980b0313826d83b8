// SSRF guard for every URL a job makes the worker fetch. The host is resolved here and each address checked
// before any connection is opened; the connection then goes to exactly the checked address (no second DNS
// lookup a rebinding server could answer differently). Redirects are followed by the caller, one hop at a time,
// each hop through this check again.
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import { InvalidJobError } from "../../contract/errors.js";

const blocked = new BlockList();
// IPv4: "this" network, private, carrier-grade NAT, loopback, link-local (cloud metadata 169.254.169.254),
// IETF protocol assignments, benchmarking, multicast, reserved and broadcast
for (const [net, bits] of [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.168.0.0", 16], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24],
  ["224.0.0.0", 4], ["240.0.0.0", 4],
] as const)
  blocked.addSubnet(net, bits, "ipv4");
// IPv6: unspecified, loopback, unique-local (incl. AWS's fd00:ec2::254 metadata), link-local, multicast, documentation
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["ff00::", 8], ["2001:db8::", 32]] as const) blocked.addSubnet(net, bits, "ipv6");

/** IPv4 inside an IPv6 address (mapped ::ffff:a.b.c.d, or NAT64 64:ff9b::/96), checked as IPv4. */
function embeddedV4(ip: string): string | null {
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return null;
  const a = parseInt(hex[1], 16);
  const b = parseInt(hex[2], 16);
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

/** Why an address must not be fetched from, or null when it is a public unicast address. */
export function privateAddressReason(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return "is not an IP address";
  const v4 = family === 6 ? embeddedV4(ip) : ip;
  if (v4 && blocked.check(v4, "ipv4")) return `${ip} is a loopback, private, link-local or reserved address`;
  if (family === 6 && !v4 && blocked.check(ip, "ipv6")) return `${ip} is a loopback, private, link-local or reserved address`;
  return null;
}

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
