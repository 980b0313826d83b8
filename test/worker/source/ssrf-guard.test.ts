// The SSRF guard refuses loopback, private, link-local and metadata addresses, names that resolve to them and
// redirects to them, before any connection to them is made (private sources not allowed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { privateAddressReason, resolveAllowed } from "../../../src/worker/source/guard.js";
import { guardedGet } from "../../../src/worker/source/http.js";

const refuse = { allowPrivate: false };

async function refused(url: string, pattern: RegExp, opts: Parameters<typeof guardedGet>[1] = refuse): Promise<void> {
  await assert.rejects(guardedGet(url, opts), (err: Error & { kind?: string; code?: string }) => {
    assert.equal(err.kind, "InvalidJobError", `${url}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test("addresses: private, loopback, link-local, metadata and mapped forms are refused; public ones pass", () => {
  for (const ip of ["127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:a9fe:a9fe", "224.0.0.1"])
    assert.ok(privateAddressReason(ip), `${ip} must be refused`);
  for (const ip of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"]) assert.equal(privateAddressReason(ip), null, `${ip} is public`);
});

test("URLs to 127.0.0.1, 10.0.0.1, 169.254.169.254 and [::1] are refused with a reason", async () => {
  await refused("https://127.0.0.1/model.tar", /127\.0\.0\.1 is a loopback, private, link-local or reserved address/);
  await refused("https://10.0.0.1/model.tar", /10\.0\.0\.1/);
  await refused("https://169.254.169.254/latest/meta-data/", /169\.254\.169\.254/);
  await refused("https://[::1]:8443/x", /::1/);
});

test("a DNS name that resolves to loopback is refused (one private answer is enough)", async () => {
  await refused("https://localhost/model.tar", /localhost resolves to .*loopback/);
  const lookup = async () => [{ address: "93.184.216.34", family: 4 }, { address: "10.1.2.3", family: 4 }];
  await assert.rejects(resolveAllowed(new URL("https://mixed.example/"), { allowPrivate: false, lookup }), /10\.1\.2\.3/);
  const r = await resolveAllowed(new URL("https://public.example/"), { allowPrivate: false, lookup: async () => [{ address: "93.184.216.34", family: 4 }] });
  assert.deepEqual(r, { address: "93.184.216.34", family: 4 });
});

test("a redirect to a private address is refused before it is followed, at every hop", async (t) => {
  // a loopback server stands in for a public host: only its exact address is exempted from the check, so
  // the first hop is served and each redirect target must pass the guard on its own
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url!);
    const to: Record<string, string> = {
      "/metadata": "http://169.254.169.254/latest/meta-data/iam",
      "/private": "http://10.0.0.1/secret",
      "/loopback-name": "http://localhost:1/x",
      "/loop": "/loop",
    };
    res.writeHead(302, { location: to[req.url!] ?? "/" }).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const opts = { allowPrivate: false, allowHttp: true, allowAddress: (ip: string) => ip === "127.0.0.1" };
  await refused(`${base}/metadata`, /169\.254\.169\.254 is a loopback, private, link-local or reserved address/, opts);
  await refused(`${base}/private`, /10\.0\.0\.1/, opts);
  await refused(`${base}/loopback-name`, /localhost resolves to (::1|127\.0\.0\.1)/, { ...opts, allowAddress: (ip: string) => ip === "127.0.0.1" && hits.length === 2 });
  await refused(`${base}/loop`, /redirected more than 5 times/, opts);
  assert.deepEqual(hits.slice(0, 3), ["/metadata", "/private", "/loopback-name"]);
  assert.equal(hits.length, 3 + 6, "the redirect loop stops after 5 redirects");
});
