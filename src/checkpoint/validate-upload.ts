// Checks an uploaded Hugging Face folder while its bytes stream into storage, holding only the small parts in
// memory: each .safetensors file's header (checked against the file's final size, so a truncated file is
// caught) and the JSON files (config.json, the shard index). The folder is usable only if config.json names a
// supported architecture and every safetensors header is sound. Bad input is a CheckpointError.
import { Transform, type TransformCallback } from "node:stream";
import { CheckpointError } from "./errors.js";
import { parseHfConfig } from "./hf-config.js";
import { headerLength, parseHeader, type Header } from "./safetensors/header.js";

/** An upload's safetensors header may be at most this large (real LLaMA headers are tens of kB). */
export const UPLOAD_HEADER_LIMIT = 8 * 1024 * 1024;
/** config.json and the shard index are small; anything larger is not one. */
export const UPLOAD_JSON_LIMIT = 4 * 1024 * 1024;

/** File names an upload may carry: one flat HF folder. */
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkUploadFileName(name: string): void {
  if (!FILE_NAME.test(name) || name.includes(".."))
    throw new CheckpointError("BAD_ARGUMENT", "file names must be 1-200 characters of letters, digits, _ . - (no folders, no leading dot)", undefined, name);
}

/** Passes bytes through unchanged and keeps what validation needs; call result() after the stream ended. */
export abstract class UploadInspector extends Transform {
  protected total = 0;
  constructor(readonly fileName: string) {
    super();
  }
  abstract result(): InspectedFile;
}

export interface InspectedFile {
  name: string;
  bytes: number;
  safetensors?: Header;
  json?: unknown;
}

class SafetensorsInspector extends UploadInspector {
  private head: Buffer[] = [];
  private headBytes = 0;
  private need = 8;
  private headerLen = -1;
  private header?: Buffer;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    if (!this.header) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (this.headerLen < 0 && this.headBytes >= 8) {
        const n = Buffer.concat(this.head).readBigUInt64LE(0);
        if (n > BigInt(UPLOAD_HEADER_LIMIT))
          return done(new CheckpointError("HEADER_TOO_LARGE", `the header claims ${n} bytes, over the upload limit of ${UPLOAD_HEADER_LIMIT}: this is not a safetensors file`, undefined, this.fileName));
        this.headerLen = Number(n);
        this.need = 8 + this.headerLen;
      }
      if (this.headerLen >= 0 && this.headBytes >= this.need) {
        this.header = Buffer.concat(this.head).subarray(0, this.need);
        this.head = [];
      }
    }
    done(null, chunk);
  }

  result(): InspectedFile {
    const prefix = this.header ?? Buffer.concat(this.head);
    const n = headerLength(prefix, this.total, this.fileName);
    if (!this.header) throw new CheckpointError("READ_FAILED", "the file ended inside its header", undefined, this.fileName);
    const header = parseHeader(this.header.subarray(8, 8 + n), 8 + n, this.total - 8 - n, this.fileName);
    return { name: this.fileName, bytes: this.total, safetensors: header };
  }
}

class JsonInspector extends UploadInspector {
  private parts: Buffer[] = [];
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    if (this.total > UPLOAD_JSON_LIMIT) return done(new CheckpointError("BAD_CONFIG", `JSON files may be at most ${UPLOAD_JSON_LIMIT} bytes`, undefined, this.fileName));
    this.parts.push(chunk);
    done(null, chunk);
  }
  result(): InspectedFile {
    try {
      return { name: this.fileName, bytes: this.total, json: JSON.parse(Buffer.concat(this.parts).toString("utf8")) };
    } catch (err) {
      throw new CheckpointError("BAD_CONFIG", `not valid JSON (${(err as Error).message})`, undefined, this.fileName);
    }
  }
}

class CountingInspector extends UploadInspector {
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    done(null, chunk);
  }
  result(): InspectedFile {
    return { name: this.fileName, bytes: this.total };
  }
}

/** The inspector for a file of this name (its name says what it must be). */
export function inspectorFor(name: string): UploadInspector {
  checkUploadFileName(name);
  if (name.endsWith(".safetensors")) return new SafetensorsInspector(name);
  if (name.endsWith(".json")) return new JsonInspector(name);
  return new CountingInspector(name);
}

export interface ValidCheckpoint {
  architecture: string;
  /** config.json as uploaded */
  config: Record<string, unknown>;
  tensors: number;
}

/** Whole-folder rules, once every file is in: config.json supported, weights present, index consistent. */
export function validateCheckpointFiles(files: InspectedFile[]): ValidCheckpoint {
  const byName = new Map(files.map((f) => [f.name, f]));
  const configFile = byName.get("config.json");
  if (!configFile) throw new CheckpointError("BAD_CONFIG", "the upload has no config.json (send the whole Hugging Face folder)");
  parseHfConfig(configFile.json, "config.json");
  const weights = files.filter((f) => f.safetensors);
  if (weights.length === 0) throw new CheckpointError("NO_WEIGHTS", "the upload has no .safetensors file (only safetensors weights are accepted)");
  const index = byName.get("model.safetensors.index.json");
  if (index) {
    const map = (index.json as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== "object" || map === null) throw new CheckpointError("BAD_INDEX", "model.safetensors.index.json has no weight_map object", undefined, index.name);
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      const file = typeof shard === "string" ? byName.get(shard) : undefined;
      if (!file?.safetensors) throw new CheckpointError("BAD_INDEX", `its shard ${JSON.stringify(shard)} is not in the upload`, tensor, index.name);
      if (!file.safetensors.tensors.some((t) => t.name === tensor)) throw new CheckpointError("BAD_INDEX", `not in shard ${shard}`, tensor, index.name);
    }
  }
  const config = configFile.json as Record<string, unknown>;
  return { architecture: (config.architectures as string[])[0], config, tensors: weights.reduce((s, f) => s + f.safetensors!.tensors.length, 0) };
}
