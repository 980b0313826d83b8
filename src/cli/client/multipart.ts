// A multipart/form-data body streamed from files on disk, with its exact length known up front (so the server
// can refuse an oversized upload before reading it) and a byte counter for progress bars. Nothing is buffered
// beyond one read chunk, so a multi-GB checkpoint uploads in constant memory.
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";

export interface MultipartFile {
  /** form field name */
  field: string;
  /** file name sent in Content-Disposition (the name the server stores) */
  filename: string;
  path: string;
  contentType?: string;
}

export interface MultipartBody {
  contentType: string;
  length: number;
  /** yields the body; `onBytes` gets the running count of bytes produced */
  stream(onBytes?: (sent: number) => void): AsyncGenerator<Uint8Array>;
}

const quote = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/[\r\n]/g, " ");

export async function multipartBody(files: MultipartFile[], fields: Record<string, string> = {}): Promise<MultipartBody> {
  const boundary = `----maskforge${randomBytes(12).toString("hex")}`;
  const enc = new TextEncoder();
  type Part = { head: Uint8Array; path?: string; value?: Uint8Array; size: number };
  const parts: Part[] = [];
  for (const [name, value] of Object.entries(fields)) {
    const v = enc.encode(value);
    parts.push({ head: enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n`), value: v, size: v.length });
  }
  for (const f of files) {
    const s = await stat(f.path);
    if (!s.isFile()) throw new Error(`${f.path} is not a regular file`);
    const head =
      `--${boundary}\r\nContent-Disposition: form-data; name="${quote(f.field)}"; filename="${quote(f.filename)}"\r\n` +
      `Content-Type: ${f.contentType ?? "application/octet-stream"}\r\n\r\n`;
    parts.push({ head: enc.encode(head), path: f.path, size: s.size });
  }
  const crlf = enc.encode("\r\n");
  const tail = enc.encode(`--${boundary}--\r\n`);
  const length = parts.reduce((n, p) => n + p.head.length + p.size + crlf.length, 0) + tail.length;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length,
    async *stream(onBytes) {
      let sent = 0;
      const emit = (b: Uint8Array) => {
        sent += b.length;
        onBytes?.(sent);
        return b;
      };
      for (const p of parts) {
        yield emit(p.head);
        if (p.value) yield emit(p.value);
        else {
          let read = 0;
          for await (const chunk of createReadStream(p.path!, { highWaterMark: 1 << 20 })) {
            read += (chunk as Buffer).length;
            yield emit(chunk as Buffer);
          }
          // the file changed between stat and read: the declared length would be a lie
          if (read !== p.size) throw new Error(`${p.path} changed size during the upload (${p.size} → ${read} bytes)`);
        }
        yield emit(crlf);
      }
      yield emit(tail);
    },
  };
}
