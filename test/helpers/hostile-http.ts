// Tools of the hostile-input suite: a ustar writer (padded to whole records, as Python's tarfile and GNU tar
// write them), raw-socket HTTP for what fetch refuses to send, and a bounded fetch. Every call has a deadline,
// so a request the server never answers fails the test instead of hanging it.
import { connect } from "node:net";

export interface TarFile {
  name: string;
  body: Buffer | string;
  /** "0" regular (default), "2" symlink, "5" folder */
  type?: string;
  /** header size field, when it must lie */
  declaredSize?: number;
  linkName?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function header(f: TarFile, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(f.name, 0, 100, "utf8");
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write(f.type ?? "0", 156);
  if (f.linkName) h.write(f.linkName, 157, 100);
  h.write("ustar\0", 257);
  h.write("00", 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + " ", 148);
  return h;
}

/** A tar archive; `record` pads it to a multiple of that size after the two end blocks (tarfile: 10240). */
export function tarOf(files: TarFile[], opts: { record?: number; trailer?: Buffer } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const body = Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body);
    parts.push(header(f, f.declaredSize ?? body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  let out = Buffer.concat(parts);
  const record = opts.record ?? 512;
  if (out.length % record) out = Buffer.concat([out, Buffer.alloc(record - (out.length % record))]);
  return opts.trailer ? Buffer.concat([out, opts.trailer]) : out;
}

export interface Answer {
  status: number;
  type: string;
  body: string;
  /** ms until the answer (or the close) */
  ms: number;
}

/** Sends bytes on a fresh socket (optionally in pieces with pauses) and reads until the server closes or `deadlineMs`. */
export function rawRequest(base: string, pieces: (string | Buffer)[], opts: { pauseMs?: number; deadlineMs?: number } = {}): Promise<Answer> {
  const { hostname, port } = new URL(base);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const type = /\r\ncontent-type: *([^\r\n]*)/i.exec(text)?.[1] ?? "";
      const body = text.includes("\r\n\r\n") ? text.slice(text.indexOf("\r\n\r\n") + 4) : "";
      resolve({ status, type, body, ms: Date.now() - started });
    };
    const timer = setTimeout(done, opts.deadlineMs ?? 5000);
    socket.on("data", (c) => chunks.push(c));
    socket.on("close", done);
    socket.on("error", () => {}); // a reset after the answer is fine; the close handler resolves
    socket.once("connect", async () => {
      try {
        for (let i = 0; i < pieces.length; i++) {
          if (i > 0 && opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
          if (socket.destroyed) return;
          socket.write(pieces[i]);
        }
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** fetch with a deadline, answered as status, content type and text. */
export async function send(base: string, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; deadlineMs?: number } = {}): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(base + path, { method, headers: opts.headers, body: typeof opts.body === "string" || opts.body === undefined ? opts.body : new Uint8Array(opts.body), signal: AbortSignal.timeout(opts.deadlineMs ?? 10_000), redirect: "manual" });
  const body = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", body, ms: Date.now() - started };
}

/** A multipart/form-data body of named files. */
export function multipartOf(files: { name: string; body: Buffer | string; field?: string }[]): { body: Buffer; type: string } {
  const boundary = `----hostile${Math.random().toString(36).slice(2)}`;
  const parts: Buffer[] = [];
  for (const f of files)
    parts.push(
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${f.field ?? "file"}"; filename="${f.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`),
      Buffer.isBuffer(f.body) ? f.body : Buffer.from(f.body),
      Buffer.from("\r\n"),
    );
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** base64url JSON, as the list cursors are made */
export const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
