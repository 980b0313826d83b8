// Where safetensors bytes come from: a file handle (positional reads, nothing else loaded) or any byte-range source
// (an in-memory buffer in tests, an S3 range GET in the worker).
import { open, type FileHandle } from "node:fs/promises";
import { CheckpointError } from "../errors.js";

export interface ByteSource {
  readonly size: number;
  /**
   * exactly `length` bytes at `offset` (fewer only if the source is shorter than it claimed: the caller checks),
   * written into `into` when given (it must hold `length` bytes), else into a fresh 8-aligned buffer
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
  /** for messages */
  readonly name?: string;
}

export async function fileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new CheckpointError("READ_FAILED", `cannot open: ${(err as Error).message}`, undefined, path);
  }
  const { size } = await fh.stat();
  return {
    size,
    name: path,
    async read(offset, length, into) {
      const buf = into ? into.subarray(0, length) : new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    },
    close: () => fh.close(),
  };
}

export function bytesSource(bytes: Uint8Array, name?: string): ByteSource {
  return {
    size: bytes.byteLength,
    name,
    async read(offset, length, into) {
      const part = bytes.subarray(offset, Math.min(offset + length, bytes.byteLength));
      if (!into) return part.slice();
      into.set(part);
      return into.subarray(0, part.byteLength);
    },
    async close() {},
  };
}
