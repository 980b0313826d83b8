// Which network addresses the service must never be made to connect to on a user's behalf (SSRF): loopback,
// private, link-local (cloud metadata), reserved. One list, used by the worker's guard on every outbound
// request (sources, datasets, the Hub, webhooks) and by the API to refuse a literal such address at submit.
import { BlockList, isIP } from "node:net";

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

/** Why an address must not be connected to, or null when it is a public unicast address. */
export function privateAddressReason(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return "is not an IP address";
  const v4 = family === 6 ? embeddedV4(ip) : ip;
  if (v4 && blocked.check(v4, "ipv4")) return `${ip} is a loopback, private, link-local or reserved address`;
  if (family === 6 && !v4 && blocked.check(ip, "ipv6")) return `${ip} is a loopback, private, link-local or reserved address`;
  return null;
}

/**
 * Why a URL's host is private without any DNS lookup, or null: an IP literal in a blocked range, or a name
 * that always means this machine (localhost, *.localhost). Names that resolve privately are the guard's job.
 * The WHATWG parser has already turned 2130706433 or 0x7f.1 into 127.0.0.1.
 */
export function literalPrivateHostReason(url: URL): string | null {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return `${host} is this machine`;
  return isIP(host) ? privateAddressReason(host) : null;
}
