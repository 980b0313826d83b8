// Reads one tensor at a time from a safetensors source: only the header is held in memory.
import { CheckpointError } from "../errors.js";
import { bytesToFloat32, type Dtype } from "./dtypes.js";
import { headerLength, parseHeader, type TensorEntry } from "./header.js";
import { fileSource, type ByteSource } from "./source.js";

export class SafetensorsReader {
  private readonly byName: Map<string, TensorEntry>;

  private constructor(
    private readonly source: ByteSource,
    readonly tensors: readonly TensorEntry[],
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  static async open(pathOrSource: string | ByteSource): Promise<SafetensorsReader> {
    const source = typeof pathOrSource === "string" ? await fileSource(pathOrSource) : pathOrSource;
    try {
      const prefix = await source.read(0, Math.min(8, source.size));
      const n = headerLength(prefix, source.size, source.name);
      const headerBytes = await source.read(8, n);
      if (headerBytes.byteLength !== n) throw new CheckpointError("READ_FAILED", "the file ended while reading the header", undefined, source.name);
      const header = parseHeader(headerBytes, 8 + n, source.size - 8 - n, source.name);
      return new SafetensorsReader(source, header.tensors, header.metadata);
    } catch (err) {
      await source.close();
      throw err;
    }
  }

  get file(): string | undefined {
    return this.source.name;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  entry(name: string): TensorEntry {
    const e = this.byName.get(name);
    if (!e) throw new CheckpointError("TENSOR_NOT_FOUND", "not in this file", name, this.source.name);
    return e;
  }

  /**
   * The tensor's raw little-endian bytes. With `scratch` (8-aligned, at least the tensor's size) they are read into
   * it and the result is a view of it: a loader that copies each tensor elsewhere then needs one buffer in all.
   */
  async readBytes(name: string, scratch?: Uint8Array): Promise<{ dtype: Dtype; shape: number[]; bytes: Uint8Array }> {
    const e = this.entry(name);
    if (scratch && (scratch.byteLength < e.byteLength || scratch.byteOffset % 8 !== 0)) scratch = undefined;
    let bytes: Uint8Array;
    try {
      bytes = await this.source.read(e.fileOffset, e.byteLength, scratch);
    } catch (err) {
      throw new CheckpointError("READ_FAILED", (err as Error).message, name, this.source.name);
    }
    if (bytes.byteLength !== e.byteLength)
      throw new CheckpointError("READ_FAILED", `the file ended after ${bytes.byteLength} of ${e.byteLength} bytes (it changed or is truncated)`, name, this.source.name);
    return { dtype: e.dtype, shape: [...e.shape], bytes };
  }

  /** The tensor as float32 values (F16/BF16 widened exactly; integer types converted); F32 read into `scratch` is a view of it. */
  async readFloat32(name: string, scratch?: Uint8Array): Promise<{ shape: number[]; values: Float32Array; dtype: Dtype }> {
    const { dtype, shape, bytes } = await this.readBytes(name, scratch);
    return { dtype, shape, values: bytesToFloat32(bytes, dtype) };
  }

  close(): Promise<void> {
    return this.source.close();
  }
}
